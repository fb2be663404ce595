using System.Globalization;
using AgentFlow.Execution;

namespace AgentFlow.Cli.Output;

/// <summary>One-line descriptions of tool calls for progress and <c>runs show</c>.</summary>
internal static class ToolCallText
{
    private const int ArgumentsShown = 160;

    /// <summary><c>lookup_order {"order_id":"A-1"}</c>.</summary>
    public static string Call(string name, string arguments) =>
        $"{name} {(arguments.Length <= ArgumentsShown ? arguments : arguments[..ArgumentsShown] + "…")}";

    /// <summary><c>ok 12 ms, 53 bytes</c>, or the status and error.</summary>
    public static string Outcome(ToolCallRecord call)
    {
        ArgumentNullException.ThrowIfNull(call);
        var latency = string.Create(CultureInfo.InvariantCulture, $"{call.LatencyMs:F0} ms");
        var replayed = call.ReplayedFrom is null ? string.Empty : $", replayed from {call.ReplayedFrom}";
        return call.Status == "succeeded"
            ? $"ok {latency}, {call.ResultBytes} bytes{replayed}"
            : $"{call.Status} {latency}: {call.Error}{replayed}";
    }
}
