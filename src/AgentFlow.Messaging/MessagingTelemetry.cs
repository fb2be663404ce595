using System.Diagnostics;
using System.Diagnostics.Metrics;
using AgentFlow.Messaging.Contracts;
using AgentFlow.Telemetry;

namespace AgentFlow.Messaging;

/// <summary>
/// What the bus adds to AgentFlow's telemetry (<see cref="AgentFlowTelemetry.Source"/> and <see cref="AgentFlowTelemetry.Meter"/>):
/// the worker's <c>chat {model}</c> span, a child of the orchestrator's step span named in the request, and the
/// queue-wait histogram.
/// </summary>
internal static class MessagingTelemetry
{
    /// <summary>Seconds a step request waited in its model's queue before a worker took it, by model.</summary>
    public static Histogram<double> QueueWait { get; } = AgentFlowTelemetry.Meter.CreateHistogram<double>(
        "agentflow.queue.wait", "s", "Seconds a step request waited in its model's RabbitMQ queue before a worker took it, by model.");

    /// <summary>Records one request's queue wait (reported by the worker that took it).</summary>
    public static void RecordQueueWait(string model, double queuedMs) =>
        QueueWait.Record(Math.Max(0, queuedMs) / 1000.0, new KeyValuePair<string, object?>("gen_ai.request.model", model));

    /// <summary>
    /// The worker's model-call span, following the GenAI conventions, under the step span the request names (a new
    /// trace when it names none); null without a listener.
    /// </summary>
    public static Activity? StartModelCall(ChatStepRequest request, string workerId, double queuedMs)
    {
        var parent = ActivityContext.TryParse(request.TraceParent, request.TraceState, isRemote: true, out var context) ? context : default;
        var call = AgentFlowTelemetry.Source.StartActivity($"chat {request.Model}", ActivityKind.Client, parent);
        if (call is null)
        {
            return null;
        }

        call.SetTag("gen_ai.operation.name", "chat");
        call.SetTag("gen_ai.request.model", request.Model);
        call.SetTag("gen_ai.response.model", request.Model);
        call.SetTag("agentflow.run_id", request.RunId);
        call.SetTag("agentflow.step.id", request.StepId);
        call.SetTag("agentflow.step.attempt", request.Attempt);
        call.SetTag("agentflow.worker", workerId);
        call.SetTag("agentflow.queue_wait_ms", queuedMs);
        call.SetTag("messaging.system", "rabbitmq");
        call.SetTag("messaging.destination.name", ModelQueues.For(request.Model));
        if (request.Sampling.MaxTokens is { } max)
        {
            call.SetTag("gen_ai.request.max_tokens", max);
        }

        if (request.Sampling.Temperature is { } temperature)
        {
            call.SetTag("gen_ai.request.temperature", (double)temperature);
        }

        return call;
    }

    /// <summary>
    /// The worker's <c>embeddings {embedder}</c> span (GenAI conventions) under the span the request names (a new trace
    /// when it names none); null without a listener. Ended with <see cref="EndModelCall"/>.
    /// </summary>
    public static Activity? StartEmbeddings(EmbeddingRequest request, string workerId, double queuedMs)
    {
        var parent = ActivityContext.TryParse(request.TraceParent, request.TraceState, isRemote: true, out var context) ? context : default;
        var call = AgentFlowTelemetry.Source.StartActivity($"embeddings {request.Embedder}", ActivityKind.Client, parent);
        if (call is null)
        {
            return null;
        }

        call.SetTag("gen_ai.operation.name", "embeddings");
        call.SetTag("gen_ai.request.model", request.Embedder);
        call.SetTag("agentflow.embedding.inputs", request.Inputs.Count);
        call.SetTag("agentflow.worker", workerId);
        call.SetTag("agentflow.queue_wait_ms", queuedMs);
        call.SetTag("messaging.system", "rabbitmq");
        call.SetTag("messaging.destination.name", ModelQueues.ForEmbedder(request.Embedder));
        return call;
    }

    /// <summary>Ends the worker's model-call span with the usage and finish reason, or the failure.</summary>
    public static void EndModelCall(Activity? call, long? inputTokens, long? outputTokens, string? finishReason, string? error)
    {
        if (call is null)
        {
            return;
        }

        if (inputTokens is { } input)
        {
            call.SetTag("gen_ai.usage.input_tokens", input);
        }

        if (outputTokens is { } output)
        {
            call.SetTag("gen_ai.usage.output_tokens", output);
        }

        if (finishReason is { } reason)
        {
            call.SetTag("gen_ai.response.finish_reasons", new[] { reason });
        }

        if (error is not null)
        {
            call.SetStatus(ActivityStatusCode.Error, error);
            call.SetTag("error.type", "agentflow.model_failed");
            call.AddEvent(new ActivityEvent("exception", tags: new ActivityTagsCollection { ["exception.message"] = error }));
        }

        call.Dispose();
    }
}
