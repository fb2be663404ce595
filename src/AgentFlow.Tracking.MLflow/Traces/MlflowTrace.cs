using System.Text.Json.Nodes;

namespace AgentFlow.Tracking.MLflow.Traces;

/// <summary>
/// One MLflow 3 trace as the tracking store keeps it: the <c>trace_info</c> row, its tags and request metadata, and
/// its spans. Written by <see cref="MlflowSqliteStore.LogTraceAsync"/> in the rows MLflow's own SqlAlchemyStore writes.
/// </summary>
/// <param name="TraceId">MLflow's trace id: <c>tr-</c> and the 32 hex digits of the OpenTelemetry trace id.</param>
/// <param name="TimestampMs">When the trace started, Unix milliseconds.</param>
/// <param name="ExecutionTimeMs">How long it ran; null while it is in progress.</param>
/// <param name="State"><c>OK</c>, <c>ERROR</c> or <c>IN_PROGRESS</c>.</param>
/// <param name="RequestPreview">The root span's inputs as JSON, cut at 1,000 characters.</param>
/// <param name="ResponsePreview">The root span's outputs as JSON, cut at 1,000 characters.</param>
/// <param name="Tags">Trace tags (<c>mlflow.traceName</c>, ...); the store adds <c>mlflow.artifactLocation</c> and <c>mlflow.trace.spansLocation</c>.</param>
/// <param name="Metadata">Request metadata (<c>mlflow.sourceRun</c>, <c>mlflow.trace_schema.version</c>, <c>mlflow.trace.tokenUsage</c>, ...).</param>
/// <param name="Spans">Root first, then in start order.</param>
public sealed record MlflowTrace(
    string TraceId,
    long TimestampMs,
    long? ExecutionTimeMs,
    string State,
    string? RequestPreview,
    string? ResponsePreview,
    IReadOnlyDictionary<string, string> Tags,
    IReadOnlyDictionary<string, string> Metadata,
    IReadOnlyList<MlflowSpan> Spans)
{
    /// <summary>MLflow's trace id prefix.</summary>
    public const string IdPrefix = "tr-";

    /// <summary>The 32 hex digits of the OpenTelemetry trace id.</summary>
    public string OtelTraceId => TraceId[IdPrefix.Length..];

    /// <summary>The MLflow trace id of AgentFlow run <paramref name="runId"/> (<c>tr-</c> and the run's OpenTelemetry trace id).</summary>
    public static string IdOf(string runId) => IdPrefix + Telemetry.RunTracer.TraceIdOf(runId).ToHexString();
}

/// <summary>
/// Feedback on a trace (an experiment's score of a run): a row of MLflow's <c>assessments</c> table as
/// <c>SqlAssessments.from_mlflow_entity</c> writes a <c>Feedback</c>.
/// </summary>
/// <param name="TraceId">The trace it judges.</param>
/// <param name="Name">The score's name.</param>
/// <param name="Value">The score.</param>
/// <param name="SourceType"><c>CODE</c>, <c>LLM_JUDGE</c> or <c>HUMAN</c>.</param>
/// <param name="SourceId">Who or what scored (a scorer or judge name).</param>
/// <param name="RunId">The MLflow run that produced it (the experiment trial's run).</param>
/// <param name="Rationale">Why, in words.</param>
public sealed record MlflowAssessment(string TraceId, string Name, double Value, string SourceType, string? SourceId, string? RunId, string? Rationale);

/// <summary>One span of an <see cref="MlflowTrace"/>.</summary>
/// <param name="SpanId">16 hex digits.</param>
/// <param name="ParentSpanId">16 hex digits; null for the root span.</param>
/// <param name="Name">The span name.</param>
/// <param name="SpanType">MLflow's span type: <c>CHAIN</c>, <c>AGENT</c>, <c>CHAT_MODEL</c>, <c>TOOL</c>, <c>RETRIEVER</c>, <c>UNKNOWN</c>.</param>
/// <param name="Status"><c>OK</c>, <c>ERROR</c> or <c>UNSET</c>.</param>
/// <param name="StatusMessage">Why it failed, when it did.</param>
/// <param name="StartNs">Start, Unix nanoseconds.</param>
/// <param name="EndNs">End, Unix nanoseconds; null while it runs.</param>
/// <param name="Attributes">Attribute values (MLflow stores each one JSON-encoded), in order.</param>
/// <param name="Events">Events (an <c>exception</c> for a failure).</param>
public sealed record MlflowSpan(
    string SpanId,
    string? ParentSpanId,
    string Name,
    string SpanType,
    string Status,
    string? StatusMessage,
    long StartNs,
    long? EndNs,
    IReadOnlyList<KeyValuePair<string, JsonNode?>> Attributes,
    IReadOnlyList<MlflowSpanEvent> Events);

/// <summary>A span event: a name, a time and plain attribute values.</summary>
/// <param name="Name">The event name.</param>
/// <param name="TimeNs">When, Unix nanoseconds.</param>
/// <param name="Attributes">Attribute values, in order.</param>
public sealed record MlflowSpanEvent(string Name, long TimeNs, IReadOnlyList<KeyValuePair<string, string>> Attributes);
