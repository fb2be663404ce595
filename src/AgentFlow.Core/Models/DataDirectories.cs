namespace AgentFlow.Models;

/// <summary>
/// Where AgentFlow keeps per-user data: <c>$AGENTFLOW_HOME</c> when set, else <c>$XDG_DATA_HOME/agentflow</c>,
/// else <c>~/.local/share/agentflow</c>.
/// </summary>
public static class DataDirectories
{
    /// <summary>The environment variable that overrides the data folder.</summary>
    public const string HomeVariable = "AGENTFLOW_HOME";

    /// <summary>The data root, from the process environment.</summary>
    public static string Root() => Root(Environment.GetEnvironmentVariable);

    /// <summary>The data root, reading variables through <paramref name="getVariable"/> (for tests).</summary>
    public static string Root(Func<string, string?> getVariable)
    {
        ArgumentNullException.ThrowIfNull(getVariable);
        var home = getVariable(HomeVariable);
        if (!string.IsNullOrWhiteSpace(home))
        {
            return Path.GetFullPath(ExpandHome(home));
        }

        var xdg = getVariable("XDG_DATA_HOME");
        if (!string.IsNullOrWhiteSpace(xdg) && Path.IsPathRooted(xdg))
        {
            return Path.Combine(xdg, "agentflow");
        }

        return Path.Combine(UserHome(), ".local", "share", "agentflow");
    }

    /// <summary>Expands a leading <c>~</c> or <c>~/</c> to the user's home folder.</summary>
    public static string ExpandHome(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (path == "~")
        {
            return UserHome();
        }

        return path.StartsWith("~/", StringComparison.Ordinal) || path.StartsWith("~\\", StringComparison.Ordinal)
            ? Path.Combine(UserHome(), path[2..])
            : path;
    }

    private static string UserHome()
    {
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return string.IsNullOrEmpty(home) ? Environment.GetEnvironmentVariable("HOME") ?? "/" : home;
    }
}
