namespace AgentFlow.Messaging.Contracts;

/// <summary>Sent by the worker that took a request, before it calls the model.</summary>
/// <param name="RequestId">The request's id.</param>
/// <param name="WorkerId">The worker that took it.</param>
/// <param name="QueuedMs">Milliseconds between the request being sent and the worker taking it.</param>
/// <param name="DeliveryId">New for every delivery of the request: a request redelivered after a worker died streams again under a new id.</param>
public sealed record ChatStepStarted(Guid RequestId, string WorkerId, double QueuedMs, Guid DeliveryId)
{
    /// <summary>
    /// The broker delivered the request before (a worker took it and stopped without acknowledging it). Such a delivery
    /// is announced at once, so the requester records the earlier attempt even when its worker never announced it.
    /// </summary>
    public bool Redelivered { get; init; }
}

/// <summary>
/// Text generated so far, streamed to the requester while the model runs. Chunks may arrive out of order:
/// <see cref="Sequence"/> (0, 1, 2, ...) gives their order, and their texts concatenate to <see cref="ChatStepResponse.Text"/>.
/// </summary>
/// <param name="RequestId">The request's id.</param>
/// <param name="Sequence">0 for the first chunk of the request, then 1, 2, ...</param>
/// <param name="Text">The text that follows the previous chunk's.</param>
/// <param name="WorkerId">The worker generating it.</param>
/// <param name="DeliveryId">The delivery it belongs to (see <see cref="ChatStepStarted.DeliveryId"/>); sequences count per delivery.</param>
public sealed record ChatStepChunk(Guid RequestId, int Sequence, string Text, string WorkerId, Guid DeliveryId);

/// <summary>The worker's answer once the model has finished.</summary>
/// <param name="RequestId">The request's id.</param>
/// <param name="Model">The model that answered.</param>
/// <param name="Text">The whole generated text.</param>
/// <param name="InputTokens">Prompt tokens, when the model reports them.</param>
/// <param name="OutputTokens">Generated tokens, when the model reports them.</param>
/// <param name="FinishReason">"stop", "length", "content_filter", "tool_calls" or null when unknown.</param>
/// <param name="WorkerId">The worker that answered.</param>
/// <param name="QueuedMs">Milliseconds between the request being sent and the worker taking it.</param>
/// <param name="ModelMs">Milliseconds the model call took on the worker.</param>
/// <param name="ChunkCount">How many <see cref="ChatStepChunk"/> were sent before this response.</param>
/// <param name="DeliveryId">The delivery that produced this response (see <see cref="ChatStepStarted.DeliveryId"/>).</param>
public sealed record ChatStepResponse(
    Guid RequestId,
    string Model,
    string Text,
    long? InputTokens,
    long? OutputTokens,
    string? FinishReason,
    string WorkerId,
    double QueuedMs,
    double ModelMs,
    int ChunkCount,
    Guid DeliveryId)
{
    /// <summary>The tool calls the model made (finish reason <c>tool_calls</c>); the orchestrator runs them. Null for none.</summary>
    public IReadOnlyList<ChatStepToolCall>? ToolCalls { get; init; }

    /// <summary>The broker delivered the request before this delivery (see <see cref="ChatStepStarted.Redelivered"/>).</summary>
    public bool Redelivered { get; init; }
}

/// <summary>The worker took the request but the model failed (prompt too long, native error, ...).</summary>
/// <param name="RequestId">The request's id.</param>
/// <param name="Model">The model that failed.</param>
/// <param name="WorkerId">The worker it failed on.</param>
/// <param name="Message">What went wrong (the model's own error message).</param>
/// <param name="ErrorType">Short type name of the error, e.g. "PromptTooLongException".</param>
public sealed record ChatStepFault(Guid RequestId, string Model, string WorkerId, string Message, string ErrorType);
