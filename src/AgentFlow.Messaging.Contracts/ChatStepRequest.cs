namespace AgentFlow.Messaging.Contracts;

/// <summary>
/// One agent step's model call, sent by the orchestrator to the queue of the model that answers it
/// (<see cref="ModelQueues.For"/>). A worker hosting that model answers with <see cref="ChatStepStarted"/>,
/// zero or more <see cref="ChatStepChunk"/> and then exactly one <see cref="ChatStepResponse"/> or <see cref="ChatStepFault"/>.
/// </summary>
/// <param name="RequestId">Identifies this call; every chunk, response and fault carries it back.</param>
/// <param name="RunId">The workflow run the step belongs to (for logs; may be empty).</param>
/// <param name="StepId">The step id within the run (for logs; may be empty).</param>
/// <param name="Attempt">1 for the first try of this step, 2 for its first retry, and so on.</param>
/// <param name="Model">Registry name of the model that must answer.</param>
/// <param name="Messages">The conversation, oldest first.</param>
/// <param name="Sampling">Generation settings.</param>
/// <param name="Deadline">After this instant the requester has given up: a worker drops the request, or stops generating.</param>
public sealed record ChatStepRequest(
    Guid RequestId,
    string RunId,
    string StepId,
    int Attempt,
    string Model,
    IReadOnlyList<ChatStepMessage> Messages,
    ChatStepSampling Sampling,
    DateTimeOffset Deadline)
{
    /// <summary>Tools the model may call (their declarations only: calls run on the orchestrator); null for none.</summary>
    public IReadOnlyList<ChatStepTool>? Tools { get; init; }

    /// <summary><c>auto</c>, <c>required</c>, <c>none</c>, or <c>tool:NAME</c> to force one; null leaves the model's default.</summary>
    public string? ToolMode { get; init; }

    /// <summary>
    /// The W3C <c>traceparent</c> of the orchestrator's step span: the worker's model-call span is its child. Null when
    /// the orchestrator traces nothing (older workers ignore it).
    /// </summary>
    public string? TraceParent { get; init; }

    /// <summary>The W3C <c>tracestate</c> that goes with <see cref="TraceParent"/>; null for none.</summary>
    public string? TraceState { get; init; }
}

/// <summary>A tool the model may call.</summary>
/// <param name="Name">The function name.</param>
/// <param name="Description">What it does.</param>
/// <param name="ParametersSchema">JSON Schema of its arguments, as JSON text.</param>
public sealed record ChatStepTool(string Name, string Description, string ParametersSchema);

/// <summary>A call the model made (in an assistant message or a response).</summary>
/// <param name="CallId">The model's id for the call.</param>
/// <param name="Name">The function called.</param>
/// <param name="Arguments">The arguments as a JSON object text.</param>
public sealed record ChatStepToolCall(string CallId, string Name, string Arguments);

/// <summary>A call's result, sent back to the model in a <c>tool</c> message.</summary>
/// <param name="CallId">The call it answers.</param>
/// <param name="Result">The result text.</param>
public sealed record ChatStepToolResult(string CallId, string Result);

/// <summary>One message of the conversation.</summary>
/// <param name="Role">"system", "user", "assistant" (or another role the model's template knows).</param>
/// <param name="Text">The message text.</param>
public sealed record ChatStepMessage(string Role, string Text)
{
    /// <summary>The calls an assistant message made; null for none.</summary>
    public IReadOnlyList<ChatStepToolCall>? ToolCalls { get; init; }

    /// <summary>The results a <c>tool</c> message carries; null for none.</summary>
    public IReadOnlyList<ChatStepToolResult>? ToolResults { get; init; }
}

/// <summary>Generation settings; null leaves the model's default.</summary>
/// <param name="MaxTokens">Most output tokens.</param>
/// <param name="Temperature">Sampling temperature; 0 decodes greedily (deterministic).</param>
/// <param name="TopP">Nucleus sampling.</param>
/// <param name="Seed">Sampling seed.</param>
/// <param name="Stop">Stop sequences (none when null or empty).</param>
/// <param name="ResponseSchema">
/// The answer must be JSON: the JSON Schema it must follow as JSON text, or <c>true</c> for any JSON object; null for text.
/// </param>
public sealed record ChatStepSampling(
    int? MaxTokens = null,
    float? Temperature = null,
    float? TopP = null,
    long? Seed = null,
    IReadOnlyList<string>? Stop = null,
    string? ResponseSchema = null);
