namespace AgentFlow.Messaging.Contracts;

/// <summary>
/// Texts to embed, sent by the orchestrator to the queue of the embedder that embeds them
/// (<see cref="ModelQueues.ForEmbedder"/>). A worker serving that embedder answers with exactly one
/// <see cref="EmbeddingResponse"/> or <see cref="EmbeddingFault"/>.
/// </summary>
/// <param name="RequestId">Identifies this call; the response or fault carries it back.</param>
/// <param name="Embedder">Registry name of the embedder that must answer (<c>embedders:</c>, or the built-in <c>minilm</c>).</param>
/// <param name="Inputs">The texts, in order; the response's vectors come in the same order.</param>
/// <param name="Deadline">After this instant the requester has given up: a worker drops the request.</param>
public sealed record EmbeddingRequest(Guid RequestId, string Embedder, IReadOnlyList<string> Inputs, DateTimeOffset Deadline)
{
    /// <summary>Vector length asked for (embedders that can shorten theirs); null for the embedder's own.</summary>
    public int? Dimensions { get; init; }

    /// <summary>
    /// The W3C <c>traceparent</c> of the orchestrator's span (a retrieve step, an index run): the worker's embedding
    /// span is its child. Null when the orchestrator traces nothing.
    /// </summary>
    public string? TraceParent { get; init; }

    /// <summary>The W3C <c>tracestate</c> that goes with <see cref="TraceParent"/>; null for none.</summary>
    public string? TraceState { get; init; }
}

/// <summary>The worker's answer: one vector per input, in the request's order.</summary>
/// <param name="RequestId">The request's id.</param>
/// <param name="Embedder">The embedder that answered.</param>
/// <param name="Vectors">One vector per input.</param>
/// <param name="InputTokens">Tokens embedded, when the embedder reports them.</param>
/// <param name="WorkerId">The worker that answered.</param>
/// <param name="QueuedMs">Milliseconds between the request being sent and the worker taking it.</param>
/// <param name="ModelMs">Milliseconds the embedder took on the worker.</param>
public sealed record EmbeddingResponse(
    Guid RequestId,
    string Embedder,
    IReadOnlyList<float[]> Vectors,
    long? InputTokens,
    string WorkerId,
    double QueuedMs,
    double ModelMs)
{
    /// <summary>The model id the embedder reports (e.g. <c>all-MiniLM-L6-v2</c>); null when it reports none.</summary>
    public string? ModelId { get; init; }
}

/// <summary>The worker took the request but the embedder failed (endpoint down, input too long, ...).</summary>
/// <param name="RequestId">The request's id.</param>
/// <param name="Embedder">The embedder that failed.</param>
/// <param name="WorkerId">The worker it failed on.</param>
/// <param name="Message">What went wrong (the embedder's own error message).</param>
/// <param name="ErrorType">Short type name of the error.</param>
public sealed record EmbeddingFault(Guid RequestId, string Embedder, string WorkerId, string Message, string ErrorType);
