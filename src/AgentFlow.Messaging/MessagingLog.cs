using Microsoft.Extensions.Logging;

namespace AgentFlow.Messaging;

/// <summary>Every log line of the messaging layer.</summary>
internal static partial class MessagingLog
{
    [LoggerMessage(EventId = 4100, Level = LogLevel.Information, Message = "worker {WorkerId}: model '{Model}' loaded in {Milliseconds:0} ms")]
    public static partial void ModelLoaded(ILogger logger, string workerId, string model, double milliseconds);

    [LoggerMessage(EventId = 4101, Level = LogLevel.Information, Message = "worker {WorkerId}: serving model '{Model}' on queue '{Queue}' ({Concurrency} at once, prefetch {Prefetch})")]
    public static partial void ServingModel(ILogger logger, string workerId, string model, string queue, int concurrency, int prefetch);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Debug, Message = "worker {WorkerId}: step {RunId}/{StepId} attempt {Attempt} (request {RequestId}) on '{Model}' started after {QueuedMs:0.0} ms queued")]
    public static partial void StepStarted(ILogger logger, string workerId, string model, Guid requestId, string runId, string stepId, int attempt, double queuedMs);

    [LoggerMessage(EventId = 4103, Level = LogLevel.Debug, Message = "worker {WorkerId}: request {RequestId} on '{Model}' done: {InputTokens} in, {OutputTokens} out, finish {FinishReason}, {ModelMs:0.0} ms, {Chunks} chunks")]
    public static partial void StepFinished(ILogger logger, string workerId, string model, Guid requestId, long? inputTokens, long? outputTokens, string? finishReason, double modelMs, int chunks);

    [LoggerMessage(EventId = 4104, Level = LogLevel.Error, Message = "worker {WorkerId}: rejected message {MessageId} on the queue of '{Model}': {Problem}; it goes to the error queue")]
    public static partial void RequestRejected(ILogger logger, string workerId, string model, Guid? messageId, string problem);

    [LoggerMessage(EventId = 4105, Level = LogLevel.Warning, Message = "worker {WorkerId}: dropped request {RequestId} ({RunId}/{StepId}) on '{Model}': its deadline passed while it was queued for {QueuedMs:0} ms")]
    public static partial void RequestExpired(ILogger logger, string workerId, string model, Guid requestId, string runId, string stepId, double queuedMs);

    [LoggerMessage(EventId = 4106, Level = LogLevel.Warning, Message = "worker {WorkerId}: request {RequestId} ({RunId}/{StepId}) on '{Model}' stopped after {Milliseconds:0} ms: its deadline passed")]
    public static partial void StepDeadlinePassed(ILogger logger, string workerId, string model, Guid requestId, string runId, string stepId, double milliseconds);

    [LoggerMessage(EventId = 4107, Level = LogLevel.Warning, Message = "worker {WorkerId}: request {RequestId} on '{Model}' cancelled by shutdown after {Milliseconds:0} ms; it goes back to the queue")]
    public static partial void StepRequeued(ILogger logger, string workerId, string model, Guid requestId, double milliseconds);

    [LoggerMessage(EventId = 4108, Level = LogLevel.Error, Message = "worker {WorkerId}: model '{Model}' failed on request {RequestId} ({RunId}/{StepId})")]
    public static partial void ModelFailed(ILogger logger, Exception exception, string workerId, string model, Guid requestId, string runId, string stepId);

    [LoggerMessage(EventId = 4109, Level = LogLevel.Error, Message = "message {MessageId} of type {MessageType} on '{Queue}' faulted and went to the error queue: {Reason}")]
    public static partial void MessageFaulted(ILogger logger, Guid? messageId, string messageType, string queue, string reason);

    [LoggerMessage(EventId = 4110, Level = LogLevel.Information, Message = "messaging: {Transport} bus for {Roles}{Broker}")]
    public static partial void BusConfigured(ILogger logger, string transport, string roles, string broker);

    [LoggerMessage(EventId = 4111, Level = LogLevel.Warning, Message = "orchestrator: cannot check the workers of '{Model}' ({Reason}); sending anyway")]
    public static partial void PresenceUnknown(ILogger logger, string model, string reason);

    [LoggerMessage(EventId = 4120, Level = LogLevel.Information, Message = "worker {WorkerId}: serving embedder '{Embedder}' on queue '{Queue}' ({Concurrency} at once, prefetch {Prefetch})")]
    public static partial void ServingEmbedder(ILogger logger, string workerId, string embedder, string queue, int concurrency, int prefetch);

    [LoggerMessage(EventId = 4121, Level = LogLevel.Debug, Message = "worker {WorkerId}: request {RequestId} on embedder '{Embedder}' done: {Inputs} inputs, {Tokens} tokens, {ModelMs:0.0} ms")]
    public static partial void EmbeddingFinished(ILogger logger, string workerId, string embedder, Guid requestId, int inputs, long? tokens, double modelMs);

    [LoggerMessage(EventId = 4122, Level = LogLevel.Information, Message = "worker {WorkerId}: embedder '{Embedder}' loaded in {Milliseconds:0} ms")]
    public static partial void EmbedderLoaded(ILogger logger, string workerId, string embedder, double milliseconds);
}
