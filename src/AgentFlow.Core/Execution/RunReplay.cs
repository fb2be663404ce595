namespace AgentFlow.Execution;

/// <summary>One execution of a step in a recorded run: the step id and its loop iteration (null outside loops).</summary>
/// <param name="StepId">Step id.</param>
/// <param name="Iteration">Iteration of the innermost enclosing loop (1-based), null outside loops.</param>
public readonly record struct ReplayKey(string StepId, int? Iteration);

/// <summary>
/// Recorded agent step outputs a run reuses instead of calling the model (<c>agentflow runs replay</c>): an agent step
/// whose (id, iteration) is in <see cref="Outputs"/> emits the recorded text as its output, with no model call; its
/// <see cref="StepRecord.ReplayedFrom"/> names <see cref="FromRunId"/>. Every other step runs live.
/// </summary>
/// <param name="FromRunId">The recorded run the outputs come from.</param>
/// <param name="Outputs">Recorded output of each replayed step execution.</param>
public sealed record RunReplay(string FromRunId, IReadOnlyDictionary<ReplayKey, RecordedOutput> Outputs)
{
    /// <summary>
    /// Recorded tool calls of each step execution (its answering attempt), which a step that runs live reuses in order
    /// instead of calling its tools: a replay has no side effects. Empty when the recorded run called no tools.
    /// </summary>
    public IReadOnlyDictionary<ReplayKey, IReadOnlyList<ToolCallRecord>> ToolCalls { get; init; } = new Dictionary<ReplayKey, IReadOnlyList<ToolCallRecord>>();

    /// <summary>
    /// Recorded chunks of each retrieve step execution: a replayed retrieve step returns them instead of searching
    /// (the collection may have changed since), so the replay sees exactly what the recorded run saw.
    /// </summary>
    public IReadOnlyDictionary<ReplayKey, IReadOnlyList<Retrieval.RetrievedChunk>> Retrievals { get; init; } =
        new Dictionary<ReplayKey, IReadOnlyList<Retrieval.RetrievedChunk>>();
}

/// <summary>A step execution's recorded output and the model that produced it.</summary>
/// <param name="Text">The output text.</param>
/// <param name="Model">The registry model that produced it (shown in the replay's record); null for the step's bound model.</param>
public sealed record RecordedOutput(string Text, string? Model);
