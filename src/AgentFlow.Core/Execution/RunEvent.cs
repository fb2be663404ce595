namespace AgentFlow.Execution;

/// <summary>Something that happened in a run, streamed to observers (CLI progress, later the HTTP event stream).</summary>
/// <param name="RunId">The run.</param>
public abstract record RunEvent(string RunId);

/// <summary>The run started.</summary>
public sealed record RunStartedEvent(string RunId, RunRecord Record) : RunEvent(RunId);

/// <summary>A step started.</summary>
public sealed record StepStartedEvent(string RunId, StepRecord Step) : RunEvent(RunId);

/// <summary>A model produced text for a running step.</summary>
public sealed record StepOutputChunkEvent(string RunId, string StepId, string Text) : RunEvent(RunId);

/// <summary>A running agent step's model called a tool; <paramref name="Call"/> is completed by a <see cref="ToolCallFinishedEvent"/>.</summary>
public sealed record ToolCallStartedEvent(string RunId, string StepId, ToolCallRecord Call) : RunEvent(RunId);

/// <summary>A tool call ended (its result went back to the model, or it was refused).</summary>
public sealed record ToolCallFinishedEvent(string RunId, string StepId, ToolCallRecord Call) : RunEvent(RunId);

/// <summary>A step ended (succeeded or failed); <see cref="StepRecord.Status"/> says which.</summary>
public sealed record StepFinishedEvent(string RunId, StepRecord Step) : RunEvent(RunId);

/// <summary>The run ended.</summary>
public sealed record RunFinishedEvent(string RunId, RunRecord Record) : RunEvent(RunId);

/// <summary>A parked or interrupted run continues in this process; <paramref name="Record"/> holds what ran before.</summary>
public sealed record RunResumedEvent(string RunId, RunRecord Record) : RunEvent(RunId);

/// <summary>The run reached an approval step and parks until a decision.</summary>
public sealed record ApprovalRequestedEvent(string RunId, WaitingApproval Waiting) : RunEvent(RunId);

/// <summary>Receives a run's events in order. Called on the run's event loop: return quickly.</summary>
public interface IRunObserver
{
    /// <summary>Handles one event.</summary>
    void OnEvent(RunEvent runEvent);
}
