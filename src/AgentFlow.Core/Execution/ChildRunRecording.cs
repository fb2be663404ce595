using AgentFlow.Definitions;

namespace AgentFlow.Execution;

/// <summary>A child run about to start or continue, for the host to record (<see cref="WorkflowRunner.RecordChildRun"/>).</summary>
/// <param name="Definition">The child workflow.</param>
/// <param name="ParentRunId">The run whose workflow step or workflow tool starts it.</param>
/// <param name="ContinuedRunId">The child's run id when an interrupted child run continues (its record exists); null for a new one.</param>
public sealed record ChildRunStart(WorkflowDefinition Definition, string ParentRunId, string? ContinuedRunId);

/// <summary>
/// Where a host records one child run besides the run store (the CLI: its own MLflow run, whose id becomes the child's
/// run id, with transcript and seal). Closed once the child ends, parks or could not start.
/// </summary>
/// <param name="runId">The child's run id.</param>
/// <param name="observer">Receives the child run's events.</param>
/// <param name="close">Ends the recording; its argument is why the child never started (null when it ran).</param>
public sealed class ChildRunRecording(string runId, IRunObserver observer, Func<string?, ValueTask> close)
{
    /// <summary>The child's run id.</summary>
    public string RunId { get; } = runId;

    /// <summary>Receives the child run's events.</summary>
    public IRunObserver Observer { get; } = observer;

    /// <summary>Ends the recording; <paramref name="refusal"/> says why the child never started (null when it ran).</summary>
    public ValueTask CloseAsync(string? refusal) => close(refusal);
}
