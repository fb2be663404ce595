namespace AgentFlow.Cli;

/// <summary>Process exit codes, documented in docs/workflow-format.md.</summary>
internal static class ExitCodes
{
    public const int Success = 0;
    public const int RunFailed = 1;
    public const int BadInput = 2;

    /// <summary>The run parked at an approval step and waits for a decision (<c>agentflow approve</c>/<c>reject</c>).</summary>
    public const int Waiting = 3;
    public const int Cancelled = 130;
}
