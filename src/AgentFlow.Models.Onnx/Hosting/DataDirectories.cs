namespace AgentFlow.Models.Onnx.Hosting;

/// <summary>
/// Where AgentFlow keeps per-user data (the same rules as the llama provider's): <c>$AGENTFLOW_HOME</c> when set,
/// else <c>$XDG_DATA_HOME/agentflow</c>, else <c>~/.local/share/agentflow</c>.
/// </summary>
internal static class DataDirectories
{
    public const string HomeVariable = "AGENTFLOW_HOME";

    public static string Root()
    {
        var home = Environment.GetEnvironmentVariable(HomeVariable);
        if (!string.IsNullOrWhiteSpace(home))
        {
            return Path.GetFullPath(ExpandHome(home));
        }

        var xdg = Environment.GetEnvironmentVariable("XDG_DATA_HOME");
        return !string.IsNullOrWhiteSpace(xdg) && Path.IsPathRooted(xdg)
            ? Path.Combine(xdg, "agentflow")
            : Path.Combine(UserHome(), ".local", "share", "agentflow");
    }

    /// <summary>Expands a leading <c>~</c> or <c>~/</c> to the user's home folder.</summary>
    public static string ExpandHome(string path)
    {
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
