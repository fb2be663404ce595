using System.Globalization;
using System.Text.Json.Nodes;
using AgentFlow.Execution;
using AgentFlow.Tracking.MLflow.Recording;

namespace AgentFlow.Experiments.Runs;

/// <summary>One step execution as a run's transcript recorded it.</summary>
/// <param name="Id">Step id.</param>
/// <param name="Kind">agent, switch, parallel or loop.</param>
/// <param name="Iteration">Loop iteration, null outside loops.</param>
/// <param name="Attempt">Attempt number.</param>
/// <param name="Model">Registry model (agent steps).</param>
/// <param name="Status">succeeded or failed.</param>
/// <param name="LatencyMs">Latency in milliseconds.</param>
/// <param name="InputTokens">Prompt tokens.</param>
/// <param name="OutputTokens">Generated tokens.</param>
/// <param name="CostUsd">Cost, when priced.</param>
/// <param name="Output">The output text.</param>
/// <param name="ReplayedFrom">The run whose output this step reused, when replayed.</param>
public sealed record RecordedStep(
    string Id, string Kind, int? Iteration, int Attempt, string? Model, string Status, double LatencyMs,
    int? InputTokens, int? OutputTokens, double? CostUsd, string? Output, string? ReplayedFrom)
{
    /// <summary>The tool calls this execution made, as recorded (a replay reuses their results).</summary>
    public IReadOnlyList<ToolCallRecord> ToolCalls { get; init; } = [];

    /// <summary>The step id with its iteration, e.g. <c>draft#2</c>.</summary>
    public string Label => Iteration is { } i ? string.Create(CultureInfo.InvariantCulture, $"{Id}#{i}") : Id;

    /// <summary>The chunks a retrieve step found (with their text), best first; null for other steps.</summary>
    public IReadOnlyList<AgentFlow.Retrieval.RetrievedChunk>? Retrieved { get; init; }
}

/// <summary>A run as its <c>transcript.json</c> recorded it: what compare, diff, replay and experiment tables read.</summary>
public sealed class RecordedRun
{
    /// <summary>Run id.</summary>
    public required string RunId { get; init; }

    /// <summary>Workflow name.</summary>
    public required string Workflow { get; init; }

    /// <summary>succeeded, failed, cancelled or running.</summary>
    public required string Status { get; init; }

    /// <summary>Wall time in milliseconds (0 when the run has not ended).</summary>
    public required double LatencyMs { get; init; }

    /// <summary>Inputs as recorded.</summary>
    public required JsonObject Inputs { get; init; }

    /// <summary>Alias → model.</summary>
    public required IReadOnlyDictionary<string, string> Bindings { get; init; }

    /// <summary>Rendered outputs.</summary>
    public required IReadOnlyDictionary<string, string> Outputs { get; init; }

    /// <summary>Every step execution in start order.</summary>
    public required IReadOnlyList<RecordedStep> Steps { get; init; }

    /// <summary>The failing step and message, when the run failed.</summary>
    public string? Error { get; init; }

    /// <summary>Whether the run succeeded.</summary>
    public bool Succeeded => Status == "succeeded";

    /// <summary>Input tokens over all steps.</summary>
    public long InputTokens => Steps.Sum(s => (long)(s.InputTokens ?? 0));

    /// <summary>Output tokens over all steps.</summary>
    public long OutputTokens => Steps.Sum(s => (long)(s.OutputTokens ?? 0));

    /// <summary>Cost over all steps, when any step is priced.</summary>
    public double? CostUsd => Steps.Any(s => s.CostUsd is not null) ? Steps.Sum(s => s.CostUsd ?? 0) : null;

    /// <summary>The last succeeded execution of each (step, iteration), in start order.</summary>
    public IReadOnlyList<RecordedStep> FinalSteps() =>
        [.. Steps.GroupBy(s => (s.Id, s.Iteration)).Select(g => g.LastOrDefault(s => s.Status == "succeeded") ?? g.Last())];

    private static ToolCallRecord ToolCall(JsonObject call) => new()
    {
        Name = Text(call["name"]) ?? string.Empty,
        Tool = Text(call["tool"]),
        CallId = Text(call["call_id"]),
        Arguments = Text(call["arguments"]) ?? "{}",
        Started = Time(call["started"]) ?? DateTimeOffset.MinValue,
        Status = Text(call["status"]) ?? "succeeded",
        LatencyMs = call["latency_ms"]?.GetValue<double>() ?? 0,
        Result = Text(call["result"]),
        ResultSha256 = Text(call["result_sha256"]),
        ResultBytes = call["result_bytes"]?.GetValue<int>(),
        ResultTruncated = call["result_truncated"]?.GetValue<bool>() ?? false,
        Error = Text(call["error"]),
        ChildRunId = Text(call["child_run"]),
        Approval = call["approval"] is JsonObject approval ? new ApprovalRecord
        {
            Message = string.Empty,
            Decision = Text(approval["decision"]),
            DecidedBy = Text(approval["decided_by"]),
            DecidedAt = Time(approval["decided_at"]),
            Comment = Text(approval["comment"]),
        } : null,
        Retrieval = call["retrieval"] is JsonObject retrieval ? ReadRetrieval(retrieval) : null,
    };

    // A search as the transcript keeps it (retrieve steps and retrieve tools' calls).
    private static RetrievalRecord ReadRetrieval(JsonObject retrieval) => new()
    {
        Collection = Text(retrieval["collection"]) ?? string.Empty,
        Query = Text(retrieval["query"]) ?? string.Empty,
        TopK = retrieval["top_k"]?.GetValue<int>() ?? 0,
        MinScore = retrieval["min_score"]?.GetValue<double>(),
        Chunks = ReadChunks(retrieval["chunks"] as JsonArray),
    };

    private static List<AgentFlow.Retrieval.RetrievedChunk> ReadChunks(JsonArray? chunks) =>
        [.. (chunks ?? []).OfType<JsonObject>().Select(c => new AgentFlow.Retrieval.RetrievedChunk(Text(c["id"]) ?? string.Empty, Text(c["text"]) ?? string.Empty, Text(c["source"]) ?? string.Empty, Text(c["heading"]), c["score"]?.GetValue<double>() ?? 0))];

    /// <summary>Reads a run from its record (the same JSON its transcript artifact holds).</summary>
    public static RecordedRun FromRecord(RunRecord record) => FromTranscript(RunTranscript.Build(record));

    /// <summary>Reads a stored <c>transcript.json</c>.</summary>
    public static RecordedRun FromTranscript(JsonObject transcript)
    {
        ArgumentNullException.ThrowIfNull(transcript);
        var steps = new List<RecordedStep>();
        foreach (var node in transcript["steps"]?.AsArray() ?? [])
        {
            var s = node!.AsObject();
            steps.Add(new RecordedStep(
                Text(s["id"]) ?? "?",
                Text(s["kind"]) ?? "agent",
                s["iteration"]?.GetValue<int>(),
                s["attempt"]?.GetValue<int>() ?? 1,
                Text(s["model"]),
                Text(s["status"]) ?? "succeeded",
                s["latency_ms"]?.GetValue<double>() ?? 0,
                s["input_tokens"]?.GetValue<int>(),
                s["output_tokens"]?.GetValue<int>(),
                s["cost_usd"]?.GetValue<double>(),
                Text(s["output"]),
                Text(s["replayed_from"]))
            {
                ToolCalls = [.. (s["tool_calls"] as JsonArray ?? []).OfType<JsonObject>().Select(ToolCall)],
                Retrieved = s["retrieval"]?["chunks"] is JsonArray chunks ? ReadChunks(chunks) : null,
            });
        }

        var started = Time(transcript["started"]);
        var ended = Time(transcript["ended"]);
        return new RecordedRun
        {
            RunId = Text(transcript["run_id"]) ?? string.Empty,
            Workflow = Text(transcript["workflow"]) ?? string.Empty,
            Status = Text(transcript["status"]) ?? "unknown",
            LatencyMs = started is { } a && ended is { } b ? (b - a).TotalMilliseconds : 0,
            Inputs = transcript["inputs"]?.DeepClone() as JsonObject ?? [],
            Bindings = (transcript["bindings"] as JsonObject ?? []).ToDictionary(p => p.Key, p => Text(p.Value) ?? string.Empty, StringComparer.Ordinal),
            Outputs = (transcript["outputs"] as JsonObject ?? []).ToDictionary(p => p.Key, p => Text(p.Value) ?? string.Empty, StringComparer.Ordinal),
            Steps = steps,
            Error = transcript["error"] is JsonObject error ? $"{Text(error["step"]) ?? "(run)"}: {Text(error["message"])}" : null,
        };
    }

    private static string? Text(JsonNode? node) => node switch
    {
        null => null,
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        _ => node.ToJsonString(),
    };

    private static DateTimeOffset? Time(JsonNode? node) =>
        Text(node) is { } text && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var t) ? t : null;
}
