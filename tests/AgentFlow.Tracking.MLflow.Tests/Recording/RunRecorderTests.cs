using System.Text.Json.Nodes;
using AgentFlow.Definitions;
using AgentFlow.Execution;
using AgentFlow.Tracking.MLflow.Audit;
using AgentFlow.Tracking.MLflow.Recording;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace AgentFlow.Tracking.MLflow.Tests.Recording;

public sealed class RunRecorderTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("agentflow-recorder-tests-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private IMlflowStore Store() => MlflowStoreFactory.Create("sqlite:///mlflow.db", new MlflowStoreOptions { WorkingDirectory = _folder, User = "reviewer" });

    // A key of the test's own: recording never touches the user's key file.
    internal static RunSealer Sealer(IMlflowStore store, TimeProvider time) =>
        new(AuditKey.Parse(new string('7', 64), "test"), RunLedger.ForStore(store, Path.GetTempPath(), time), time);

    internal static Task<MlflowRunRecorder> StartAsync(IMlflowStore store, TimeProvider time) =>
        MlflowRunRecorder.StartAsync(store, Definition(), "test", experimentName: null, extraTags: null, Sealer(store, time), time, NullLogger.Instance, CancellationToken.None);

    internal static WorkflowDefinition Definition() => WorkflowLoader.Parse("""
        name: recorded
        version: 3
        models: { w: tiny }
        steps:
          - { id: a, agent: { model: w, prompt: "hi" } }
          - { id: b, agent: { model: w, prompt: "{{ steps.a.output }}" } }
        """, "recorded.yaml").GetDefinitionOrThrow();

    internal static RunRecord Record(string runId, RunStatus status)
    {
        var started = new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);
        var record = new RunRecord
        {
            RunId = runId,
            Workflow = "recorded",
            WorkflowVersion = 3,
            DefinitionSha256 = new string('a', 64),
            Started = started,
            Inputs = new Dictionary<string, JsonNode?> { ["topic"] = JsonValue.Create("tea") },
            Bindings = new Dictionary<string, string> { ["w"] = "tiny" },
            Models = new Dictionary<string, ModelInfo> { ["tiny"] = new("tiny", "builtin", "built-in", new string('b', 64)) },
        };
        record.Steps.Add(new StepRecord { Id = "a", Kind = "agent", Model = "tiny", ModelAlias = "w", Started = started, LatencyMs = 12.5, Prompt = "hi", Output = "hello", InputTokens = 10, OutputTokens = 4, Status = StepStatus.Succeeded });
        record.Steps.Add(new StepRecord { Id = "b", Kind = "agent", Model = "tiny", ModelAlias = "w", Started = started.AddMilliseconds(13), LatencyMs = 7, Prompt = "hello", Output = "bye", InputTokens = 8, OutputTokens = 2, Status = status == RunStatus.Succeeded ? StepStatus.Succeeded : StepStatus.Failed, Error = status == RunStatus.Succeeded ? null : "model broke", Worker = "w1" });
        record.Status = status;
        record.Ended = started.AddMilliseconds(30);
        record.Error = status == RunStatus.Succeeded ? null : new RunError("b", "model broke");
        if (status == RunStatus.Succeeded)
        {
            record.Outputs["final"] = "bye";
        }

        return record;
    }

    private static async Task<string> RecordAsync(IMlflowStore store, RunStatus status)
    {
        var recorder = await StartAsync(store, TimeProvider.System);
        var record = Record(recorder.RunId, status);
        recorder.OnEvent(new RunStartedEvent(record.RunId, record));
        foreach (var step in record.Steps)
        {
            recorder.OnEvent(new StepStartedEvent(record.RunId, step));
            recorder.OnEvent(new StepFinishedEvent(record.RunId, step));
        }

        recorder.OnEvent(new RunFinishedEvent(record.RunId, record));
        await recorder.DisposeAsync();
        Assert.Empty(recorder.Problems);
        return recorder.RunId;
    }

    [Fact]
    public async Task Recorder_SucceededRun_WritesParamsMetricsTagsAndArtifacts()
    {
        await using var store = Store();

        var runId = await RecordAsync(store, RunStatus.Succeeded);

        var run = await store.GetRunAsync(runId);
        Assert.Equal(MlflowRunStatus.Finished, run.Info.Status);
        Assert.Equal("3", run.Param("workflow.version"));
        Assert.Equal("tiny", run.Param("model.w"));
        Assert.Equal(new string('b', 64), run.Param("model.tiny.sha256"));
        Assert.Equal("\"tea\"", run.Param("input.topic"));
        Assert.Equal(12.5, run.Metric("step.a.latency_ms"));
        Assert.Equal(4, run.Metric("step.a.output_tokens"));
        Assert.Equal(24, run.Metric("run.input_tokens") + run.Metric("run.output_tokens"));
        Assert.Equal("succeeded", run.Tag("agentflow.status"));
        Assert.Equal("test", run.Tag("agentflow.trigger"));
        Assert.Equal("w1", run.Tag("agentflow.workers"));
        Assert.Equal("reviewer", run.Tag("mlflow.user"));
        var artifacts = (await store.ListArtifactsAsync(runId)).Select(a => a.Path).Order().ToList();
        Assert.Equal(["audit.json", "seal.json", "transcript.json", "workflow.yaml"], artifacts);
        var transcript = JsonNode.Parse(await store.ReadTextArtifactAsync(runId, "transcript.json"))!;
        Assert.Equal("hello", transcript["steps"]![1]!["prompt"]!.GetValue<string>());
        Assert.Equal(run.Tag(RunTranscript.HeadTag), transcript["audit_head"]!.GetValue<string>());
    }

    [Fact]
    public async Task Recorder_FailedRun_IsRecordedWithTheFailingStep()
    {
        await using var store = Store();

        var runId = await RecordAsync(store, RunStatus.Failed);

        var run = await store.GetRunAsync(runId);
        Assert.Equal(MlflowRunStatus.Failed, run.Info.Status);
        Assert.Equal("b", run.Tag("agentflow.failed_step"));
        Assert.Equal("model broke", run.Tag("agentflow.error"));
    }

    [Fact]
    public async Task Verify_UntouchedRecord_Passes_AndEachKindOfAlterationIsNamed()
    {
        await using var store = Store();
        var runId = await RecordAsync(store, RunStatus.Succeeded);
        var transcript = await store.ReadTextArtifactAsync(runId, "transcript.json");
        var audit = await store.ReadTextArtifactAsync(runId, "audit.json");
        var head = (await store.GetRunAsync(runId)).Tag(RunTranscript.HeadTag);

        Assert.Null(RunTranscript.Verify(transcript, audit, head));

        var editedFirst = JsonNode.Parse(transcript)!;
        editedFirst["steps"]![0]!["input_tokens"] = 1;
        Assert.StartsWith("step 'a' (record 1, attempt 1) was altered", RunTranscript.Verify(editedFirst.ToJsonString(), audit, head), StringComparison.Ordinal);

        var editedSecond = JsonNode.Parse(transcript)!;
        editedSecond["steps"]![1]!["output"] = "changed";
        Assert.StartsWith("step 'b' (record 2, attempt 1) was altered", RunTranscript.Verify(editedSecond.ToJsonString(), audit, head), StringComparison.Ordinal);

        Assert.Contains("tag does not match", RunTranscript.Verify(transcript, audit, new string('0', 64)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task OnEvent_ThousandEvents_ReturnsBeforeTheStoreWritesThem()
    {
        await using var store = Store();
        var recorder = await StartAsync(store, TimeProvider.System);
        var record = Record(recorder.RunId, RunStatus.Succeeded);
        var clock = System.Diagnostics.Stopwatch.StartNew();

        for (var i = 0; i < 1000; i++)
        {
            recorder.OnEvent(new StepFinishedEvent(record.RunId, record.Steps[0]));
        }

        // 1000 events queued far faster than 1000 store writes could run: OnEvent only enqueues.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"OnEvent took {clock.Elapsed}");
        await recorder.DisposeAsync();
    }

    [Fact]
    public async Task Recorder_StepFinishedWhileRunning_WrittenWhenTheInterimIntervalPassesNotBefore()
    {
        await using var store = Store();
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero));
        var recorder = await StartAsync(store, clock);
        var record = Record(recorder.RunId, RunStatus.Succeeded);
        record.Status = RunStatus.Running;
        recorder.OnEvent(new RunStartedEvent(record.RunId, record));
        recorder.OnEvent(new StepFinishedEvent(record.RunId, record.Steps[0]));

        // The definition is the writer's first write and needs no clock; the step's metrics wait for the (fake)
        // interval, which has not passed, so they cannot be there however long the writer took.
        var early = await PollAsync(async () => await store.GetRunAsync(recorder.RunId), r => r.Param("workflow.version") is not null);
        // The interval passes (again on each poll: the writer may set its timer only after the first advance on a
        // loaded machine). The metrics go first, then the transcript: wait for both.
        var late = await PollAsync(async () =>
        {
            clock.Advance(MlflowRunRecorder.InterimWriteInterval);
            return await store.GetRunAsync(recorder.RunId);
        }, r => r.Metric("step.a.latency_ms") is not null);
        await PollAsync(async () => await store.ListArtifactsAsync(recorder.RunId), a => a.Any(f => f.Path == "transcript.json"));

        Assert.Equal("3", early.Param("workflow.version"));
        Assert.Null(early.Metric("step.a.latency_ms"));
        Assert.Equal(12.5, late.Metric("step.a.latency_ms"));
        var transcript = JsonNode.Parse(await store.ReadTextArtifactAsync(recorder.RunId, "transcript.json"))!;
        Assert.Equal("running", transcript["status"]!.GetValue<string>());
        recorder.OnEvent(new RunFinishedEvent(record.RunId, record));
        await recorder.DisposeAsync();
        Assert.Empty(recorder.Problems);
    }

    private static async Task<T> PollAsync<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var value = await read();
            if (done(value) || clock.Elapsed > TimeSpan.FromSeconds(10))
            {
                return value;
            }

            await Task.Delay(20);
        }
    }
}
