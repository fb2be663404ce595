namespace AgentFlow.Cli;

/// <summary>Process exit codes, documented in docs/workflow-format.md.</summary>
internal static class ExitCodes
{
    public const int Success = 0;
    public const int RunFailed = 1;
    public const int BadInput = 2;
    public const int Cancelled = 130;
}
