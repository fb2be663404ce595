using System.CommandLine;

namespace AgentFlow.Cli.Commands;

/// <summary>Options several commands share.</summary>
internal static class CommonOptions
{
    public static Option<string?> Config() => new("--config", "-c")
    {
        Description = "Model registry file (default: $AGENTFLOW_CONFIG, else ./agentflow.yaml if present, else built-in models only).",
    };

    public static Option<string?> TrackingUri() => new("--tracking-uri")
    {
        Description = "Where runs are recorded: http(s)://mlflow-server or sqlite:///path (default: $MLFLOW_TRACKING_URI, else sqlite:///.agentflow/mlflow.db).",
    };

    public static Option<bool> Json() => new("--json")
    {
        Description = "Print a machine-readable JSON result on stdout.",
    };

    /// <summary>Parses repeated <c>NAME=VALUE</c> option values; every malformed one becomes a problem.</summary>
    public static Dictionary<string, string> ParsePairs(string option, IEnumerable<string>? values, List<string> problems)
    {
        var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var value in values ?? [])
        {
            var eq = value.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                problems.Add($"{option} '{value}' must be NAME=VALUE");
                continue;
            }

            var name = value[..eq].Trim();
            if (!pairs.TryAdd(name, value[(eq + 1)..]))
            {
                problems.Add($"{option} '{name}' is given twice");
            }
        }

        return pairs;
    }
}
