using System.Text.Json.Nodes;
using AgentFlow.Execution;
using AgentFlow.Secrets;
using AgentFlow.Tracking.MLflow.Recording;
using AgentFlow.Tracking.MLflow.Tests.Recording;
using AgentFlow.Tracking.MLflow.Traces;
using Microsoft.Data.Sqlite;

namespace AgentFlow.Tracking.MLflow.Tests.Traces;

/// <summary>
/// Runs recorded in the embedded store come out as MLflow traces: the rows of trace_info, trace_tags,
/// trace_request_metadata, spans and entity_associations as MLflow 3.5's SqlAlchemyStore writes them, checked in the
/// database file itself.
/// </summary>
public sealed class MlflowTraceTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private async Task<(MlflowSqliteStore Store, string RunId, RunRecord Record)> RecordAsync(RunStatus status, SecretRedactor? secrets = null, Action<RunRecord>? change = null)
    {
        var store = Stores.Sqlite(_folder);
        var recorder = await RunRecorderTests.StartAsync(store, TimeProvider.System);
        if (secrets is not null)
        {
            recorder.Secrets = secrets;
        }

        var record = RunRecorderTests.Record(recorder.RunId, status);
        change?.Invoke(record);
        recorder.OnEvent(new RunStartedEvent(record.RunId, record));
        foreach (var step in record.Steps)
        {
            recorder.OnEvent(new StepStartedEvent(record.RunId, step));
            recorder.OnEvent(new StepFinishedEvent(record.RunId, step));
        }

        recorder.OnEvent(new RunFinishedEvent(record.RunId, record));
        await recorder.DisposeAsync();
        Assert.Empty(recorder.Problems);
        return (store, recorder.RunId, record);
    }

    private static SqliteConnection Open(MlflowSqliteStore store)
    {
        var connection = new SqliteConnection($"Data Source={store.DatabasePath};Mode=ReadOnly");
        connection.Open();
        return connection;
    }

    private static List<Dictionary<string, object?>> Rows(SqliteConnection connection, string sql, string id)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddWithValue("$id", id);
        using var reader = command.ExecuteReader();
        var rows = new List<Dictionary<string, object?>>();
        while (reader.Read())
        {
            var row = new Dictionary<string, object?>(StringComparer.Ordinal);
            for (var i = 0; i < reader.FieldCount; i++)
            {
                row[reader.GetName(i)] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            }

            rows.Add(row);
        }

        return rows;
    }

    private static Dictionary<string, string> Pairs(SqliteConnection connection, string table, string traceId) =>
        Rows(connection, $"SELECT key, value FROM {table} WHERE request_id = $id", traceId).ToDictionary(r => (string)r["key"]!, r => (string)r["value"]!);

    [Fact]
    public async Task LogTraceAsync_SucceededRun_WritesTraceInfoTagsMetadataAndAssociationLinkedToTheRun()
    {
        var (store, runId, record) = await RecordAsync(RunStatus.Succeeded);
        await using var _ = store;
        var traceId = "tr-" + runId;
        using var db = Open(store);

        var info = Assert.Single(Rows(db, "SELECT t.*, r.experiment_id AS run_experiment FROM trace_info t JOIN runs r ON r.run_uuid = $id2 WHERE t.request_id = $id".Replace("$id2", $"'{runId}'", StringComparison.Ordinal), traceId));
        Assert.Equal(info["run_experiment"], info["experiment_id"]);
        Assert.Equal(record.Started.ToUnixTimeMilliseconds(), info["timestamp_ms"]);
        Assert.Equal(30L, info["execution_time_ms"]);
        Assert.Equal("OK", info["status"]);
        Assert.Null(info["client_request_id"]);
        Assert.Equal("{\"topic\": \"tea\"}", info["request_preview"]);
        Assert.Equal("{\"final\": \"bye\"}", info["response_preview"]);

        var tags = Pairs(db, "trace_tags", traceId);
        Assert.Equal("agentflow.run recorded", tags["mlflow.traceName"]);
        Assert.Equal("TRACKING_STORE", tags["mlflow.trace.spansLocation"]);
        var experimentLocation = (string)Assert.Single(Rows(db, "SELECT artifact_location FROM experiments WHERE experiment_id = $id", info["experiment_id"]!.ToString()!))["artifact_location"]!;
        Assert.Equal($"{experimentLocation}/traces/{traceId}/artifacts", tags["mlflow.artifactLocation"]);

        var metadata = Pairs(db, "trace_request_metadata", traceId);
        Assert.Equal(runId, metadata["mlflow.sourceRun"]);
        Assert.Equal("3", metadata["mlflow.trace_schema.version"]);
        Assert.Equal("tester", metadata["mlflow.user"]);
        Assert.Equal("{\"input_tokens\": 18, \"output_tokens\": 6, \"total_tokens\": 24}", metadata["mlflow.trace.tokenUsage"]);

        var link = Assert.Single(Rows(db, "SELECT * FROM entity_associations WHERE source_id = $id", traceId));
        Assert.Equal(("trace", "run", runId), ((string)link["source_type"]!, (string)link["destination_type"]!, (string)link["destination_id"]!));
    }

    [Fact]
    public async Task LogTraceAsync_SucceededRun_SpanRowsAndContentInMlflowsSpanFormat()
    {
        var (store, runId, record) = await RecordAsync(RunStatus.Succeeded);
        await using var _ = store;
        var traceId = "tr-" + runId;
        using var db = Open(store);

        var spans = Rows(db, "SELECT * FROM spans WHERE trace_id = $id ORDER BY start_time_unix_nano, parent_span_id IS NOT NULL, name", traceId);
        // The run, a span per step, and the model call inside each agent step.
        Assert.Equal(["agentflow.run recorded", "agentflow.step a", "chat tiny", "agentflow.step b", "chat tiny"], spans.Select(s => (string)s["name"]!));
        Assert.Equal(5L, await store.CountSpansAsync(traceId));
        var root = spans[0];
        Assert.Null(root["parent_span_id"]);
        Assert.Equal(("CHAIN", "OK"), ((string)root["type"]!, (string)root["status"]!));
        Assert.All(spans.Skip(1).Where(s => (string)s["type"]! == "AGENT"), s => Assert.Equal(root["span_id"], s["parent_span_id"]));
        Assert.Equal(spans[1]["span_id"], spans[2]["parent_span_id"]);
        Assert.Equal("CHAT_MODEL", spans[2]["type"]);
        Assert.All(spans, s => Assert.Matches("^[0-9a-f]{16}$", (string)s["span_id"]!));
        Assert.Equal(spans.Count, spans.Select(s => s["span_id"]).Distinct().Count());

        var start = (record.Started - DateTimeOffset.UnixEpoch).Ticks * 100;
        Assert.Equal(start, root["start_time_unix_nano"]);
        Assert.Equal(30_000_000L, root["duration_ns"]);
        Assert.Equal(12_500_000L, spans[1]["duration_ns"]);

        // The content column, byte for byte as json.dumps(span.to_dict()) writes the root span.
        var b64Trace = Convert.ToBase64String(Convert.FromHexString(runId));
        var b64Span = Convert.ToBase64String(Convert.FromHexString((string)root["span_id"]!));
        var expected = $$$"""
            {"trace_id": "{{{b64Trace}}}", "span_id": "{{{b64Span}}}", "trace_state": "", "parent_span_id": "", "name": "agentflow.run recorded", "start_time_unix_nano": {{{start}}}, "end_time_unix_nano": {{{start + 30_000_000}}}, "attributes": {"mlflow.traceRequestId": "\"{{{traceId}}}\"", "mlflow.spanType": "\"CHAIN\"", "mlflow.spanInputs": "{\"topic\": \"tea\"}", "mlflow.spanOutputs": "{\"final\": \"bye\"}", "agentflow.run_id": "\"{{{runId}}}\"", "agentflow.workflow": "\"recorded\"", "agentflow.workflow.version": "3", "agentflow.status": "\"succeeded\"", "agentflow.binding.w": "\"tiny\""}, "status": {"code": "STATUS_CODE_OK"}}
            """;
        Assert.Equal(expected, root["content"]);

        // Every span: the ids in base64 match the row, the attributes decode as MLflow's Span.from_dict reads them.
        foreach (var span in spans)
        {
            var content = JsonNode.Parse((string)span["content"]!)!.AsObject();
            Assert.Equal(runId, Convert.ToHexStringLower(Convert.FromBase64String(content["trace_id"]!.GetValue<string>())));
            Assert.Equal(span["span_id"], Convert.ToHexStringLower(Convert.FromBase64String(content["span_id"]!.GetValue<string>())));
            var parent = content["parent_span_id"]!.GetValue<string>();
            Assert.Equal(span["parent_span_id"], parent.Length == 0 ? null : Convert.ToHexStringLower(Convert.FromBase64String(parent)));
            Assert.Equal(span["start_time_unix_nano"], content["start_time_unix_nano"]!.GetValue<long>());
            var attributes = content["attributes"]!.AsObject();
            Assert.Equal(traceId, JsonNode.Parse(attributes["mlflow.traceRequestId"]!.GetValue<string>())!.GetValue<string>());
            Assert.Equal(span["type"], JsonNode.Parse(attributes["mlflow.spanType"]!.GetValue<string>())!.GetValue<string>());
            Assert.Equal("STATUS_CODE_" + span["status"], content["status"]!["code"]!.GetValue<string>());
        }

        var chat = JsonNode.Parse((string)spans[2]["content"]!)!["attributes"]!.AsObject();
        Assert.Equal("{\"input_tokens\": 10, \"output_tokens\": 4, \"total_tokens\": 14}", chat["mlflow.chat.tokenUsage"]!.GetValue<string>());
        Assert.Equal("{\"model\": \"tiny\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", chat["mlflow.spanInputs"]!.GetValue<string>());
        Assert.Equal("\"builtin\"", chat["mlflow.llm.provider"]!.GetValue<string>());
        Assert.Equal("10", chat["gen_ai.usage.input_tokens"]!.GetValue<string>());
    }

    [Fact]
    public async Task LogTraceAsync_FailedRun_TraceAndFailingSpansAreErrorsWithTheException()
    {
        var (store, runId, _) = await RecordAsync(RunStatus.Failed);
        await using var _ = store;
        using var db = Open(store);

        Assert.Equal("ERROR", Assert.Single(Rows(db, "SELECT status FROM trace_info WHERE request_id = $id", "tr-" + runId))["status"]);
        var failed = Assert.Single(Rows(db, "SELECT * FROM spans WHERE trace_id = $id AND name = 'agentflow.step b'", "tr-" + runId));
        Assert.Equal("ERROR", failed["status"]);
        var content = JsonNode.Parse((string)failed["content"]!)!;
        Assert.Equal("model broke", content["status"]!["message"]!.GetValue<string>());
        Assert.Equal("STATUS_CODE_ERROR", content["status"]!["code"]!.GetValue<string>());
        var exception = Assert.Single(content["events"]!.AsArray())!;
        Assert.Equal("exception", exception["name"]!.GetValue<string>());
        Assert.Equal("model broke", exception["attributes"]!["exception.message"]!.GetValue<string>());
    }

    [Fact]
    public async Task LogTraceAsync_SecretInPromptAndError_NeverInAnyTraceRow()
    {
        const string secret = "sk-live-0123456789abcdef";
        var secrets = new SecretRedactor();
        secrets.Add(secret);
        var (store, runId, _) = await RecordAsync(RunStatus.Failed, secrets, record =>
        {
            record.Steps[0] = new StepRecord
            {
                Id = "a", Kind = "agent", Model = "tiny", ModelAlias = "w", Started = record.Started, LatencyMs = 1, Prompt = $"use key {secret}",
                Output = $"the key is {secret}", InputTokens = 1, OutputTokens = 1, Status = StepStatus.Succeeded,
            };
            record.Steps[1].Error = $"401 for Bearer {secret}";
            record.Error = new RunError("b", $"401 for {secret}");
        });
        await using var _ = store;
        using var db = Open(store);

        var texts = Rows(db, "SELECT content FROM spans WHERE trace_id = $id", "tr-" + runId).Select(r => (string)r["content"]!)
            .Concat(Rows(db, "SELECT coalesce(request_preview, '') || coalesce(response_preview, '') AS t FROM trace_info WHERE request_id = $id", "tr-" + runId).Select(r => (string)r["t"]!))
            .Concat(Rows(db, "SELECT value FROM trace_tags WHERE request_id = $id UNION ALL SELECT value FROM trace_request_metadata WHERE request_id = $id", "tr-" + runId).Select(r => (string)r["value"]!))
            .ToList();
        Assert.NotEmpty(texts);
        Assert.All(texts, t => Assert.DoesNotContain(secret, t, StringComparison.Ordinal));
        Assert.Contains(texts, t => t.Contains("use key ***", StringComparison.Ordinal));
    }

    [Fact]
    public async Task LogTraceAsync_SameTraceWrittenAgain_ReplacesItsRowsAndKeepsOneLink()
    {
        var (store, runId, record) = await RecordAsync(RunStatus.Succeeded);
        await using var _ = store;
        record.Steps.Add(new StepRecord { Id = "c", Kind = "agent", Model = "tiny", Started = record.Started.AddMilliseconds(20), LatencyMs = 2, Prompt = "x", Output = "y", Status = StepStatus.Succeeded });

        await store.LogTraceAsync(runId, RunTraceBuilder.Build(record, runId, new SecretRedactor()));

        Assert.Equal(7L, await store.CountSpansAsync("tr-" + runId));
        using var db = Open(store);
        Assert.Single(Rows(db, "SELECT * FROM entity_associations WHERE source_id = $id", "tr-" + runId));
        Assert.Single(Rows(db, "SELECT * FROM trace_tags WHERE request_id = $id AND key = 'mlflow.trace.spansLocation'", "tr-" + runId));
    }

    [Fact]
    public async Task ReadSpansAsync_WrittenTrace_EverySpanReadBackAsBuiltWithWorkerQueueWaitAndModelTime()
    {
        var (store, runId, record) = await RecordAsync(RunStatus.Succeeded, change: r =>
        {
            var step = r.Steps.First(s => s.Kind == "agent" && s.Model is not null);
            (step.Worker, step.QueueWaitMs, step.ModelMs) = ("worker-7", 1.5, 0.25);
        });
        await using var _ = store;
        var built = RunTraceBuilder.Build(record, runId, new SecretRedactor()).Spans;

        var read = await store.ReadSpansAsync("tr-" + runId);

        Assert.Equal(built.Select(s => s.SpanId).Order(StringComparer.Ordinal), read.Select(s => s.SpanId).Order(StringComparer.Ordinal));
        foreach (var span in read)
        {
            var expected = built.Single(s => s.SpanId == span.SpanId);
            Assert.Equal((expected.ParentSpanId, expected.Name, expected.SpanType, expected.Status, expected.StartNs, expected.EndNs),
                (span.ParentSpanId, span.Name, span.SpanType, span.Status, span.StartNs, span.EndNs));
            Assert.Equal(expected.Attributes.Select(a => (a.Key, Value(a.Value))), span.Attributes.Select(a => (a.Key, Value(a.Value))));
        }

        var worked = read.Single(s => s.Attributes.Any(a => a.Key == "agentflow.queue_wait_ms"));
        var chat = read.Single(s => s.ParentSpanId == worked.SpanId && s.SpanType == "CHAT_MODEL");
        Assert.Equal("1.5", worked.Attributes.Single(a => a.Key == "agentflow.queue_wait_ms").Value!.ToJsonString());
        Assert.Equal("0.25", chat.Attributes.Single(a => a.Key == "agentflow.model_ms").Value!.ToJsonString());
        Assert.Equal(worked.StartNs + 1_500_000, chat.StartNs);   // the model call starts once the request left its queue
        Assert.Empty(await store.ReadSpansAsync("tr-" + new string('0', 32)));
    }

    // Python's json.dumps writes a whole double as 7.0: compare numbers by value.
    private static string Value(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.Number
            ? double.Parse(v.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture).ToString("R", System.Globalization.CultureInfo.InvariantCulture)
            : node?.ToJsonString() ?? "null";

    [Fact]
    public async Task LogAssessmentAsync_Score_IsFeedbackOnTheRunsTraceAsMlflowStoresIt()
    {
        var (store, runId, _) = await RecordAsync(RunStatus.Succeeded);
        await using var _ = store;

        var id = await store.LogAssessmentAsync(new MlflowAssessment(MlflowTrace.IdOf(runId), "exact", 1.0, "CODE", "exact", runId, "matches the expected answer"));

        Assert.Matches("^a-[0-9a-f]{32}$", id);
        using var db = Open(store);
        var row = Assert.Single(Rows(db, "SELECT * FROM assessments WHERE trace_id = $id", "tr-" + runId));
        Assert.Equal((id, "exact", "feedback", "1.0", "CODE", "exact", runId, 1L), ((string)row["assessment_id"]!, (string)row["name"]!, (string)row["assessment_type"]!,
            (string)row["value"]!, (string)row["source_type"]!, (string)row["source_id"]!, (string)row["run_id"]!, (long)row["valid"]!));
        Assert.Equal("matches the expected answer", row["rationale"]);
        Assert.Equal(row["created_timestamp"], row["last_updated_timestamp"]);

        // A rewrite of the trace (a resumed run ending) keeps its assessments.
        await store.LogTraceAsync(runId, RunTraceBuilder.Build(RunRecorderTests.Record(runId, RunStatus.Succeeded), runId, new SecretRedactor()));
        Assert.Single(Rows(db, "SELECT * FROM assessments WHERE trace_id = $id", "tr-" + runId));
        var missing = await Assert.ThrowsAsync<MlflowException>(() => store.LogAssessmentAsync(new MlflowAssessment("tr-" + new string('0', 32), "exact", 0, "CODE", null, null, null)));
        Assert.Equal(MlflowErrorCodes.ResourceDoesNotExist, missing.ErrorCode);
    }

    [Theory]
    [InlineData("{\"a\": [1, 2.0, 1e-05, true, null], \"b\": {\"c\": \"x\"}}", false, "{\"a\":[1,2.0,1e-05,true,null],\"b\":{\"c\":\"x\"}}")]
    [InlineData("\"caf\\u00e9 \\\"q\\\"\\n\"", true, "\"café \\\"q\\\"\\n\"")]
    [InlineData("\"café\"", false, "\"café\"")]
    [InlineData("0.1", false, "0.1")]
    public void Dumps_Values_AsPythonJsonDumpsWritesThem(string expected, bool asciiOnly, string input)
    {
        Assert.Equal(expected, PythonJson.Dumps(JsonNode.Parse(input), asciiOnly));
    }
}
