using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using AgentFlow.Core.Tests.Execution;
using AgentFlow.Telemetry;

namespace AgentFlow.Core.Tests.Telemetry;

/// <summary>Spans and metrics of real runs on the built-in tiny model, collected with System.Diagnostics listeners.</summary>
public sealed class RunTracerTests : IClassFixture<TinyModelFixture>, IDisposable
{
    private const string TwoSteps = """
        name: traced
        version: 1
        inputs: { name: { default: Ada } }
        models: { writer: tiny }
        steps:
          - id: greet
            agent: { model: writer, system: "Be warm.", prompt: "Greet {{ inputs.name }}", max_tokens: 6, temperature: 0 }
          - id: shorten
            agent: { model: writer, prompt: "Shorter: {{ steps.greet.output }}", max_tokens: 4, temperature: 0 }
        """;

    private readonly TinyModelFixture fixture;
    private readonly ConcurrentQueue<Activity> _spans = new();
    private readonly ActivityListener _listener;

    public RunTracerTests(TinyModelFixture fixture)
    {
        this.fixture = fixture;
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == AgentFlowTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _spans.Enqueue,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public void Dispose() => _listener.Dispose();

    [Fact]
    public async Task OnEvent_RealRun_OneTracePerRunWithAStepSpanAndAGenAiChatSpanPerAgentStep()
    {
        var record = await fixture.RunAsync(TwoSteps, observer: new RunTracer());
        var spans = Spans(record.RunId);

        var run = Assert.Single(spans, s => s.OperationName == "agentflow.run traced");
        Assert.Null(run.ParentId);
        Assert.Equal("succeeded", run.GetTagItem("agentflow.status"));
        Assert.Equal("tiny", run.GetTagItem("agentflow.binding.writer"));
        Assert.All(spans, s => Assert.Equal(run.TraceId, s.TraceId));

        foreach (var id in new[] { "greet", "shorten" })
        {
            var step = Assert.Single(spans, s => s.OperationName == $"agentflow.step {id}");
            Assert.Equal(run.SpanId, step.ParentSpanId);
            Assert.Equal(1, step.GetTagItem("agentflow.step.attempt"));
            var chat = Assert.Single(spans, s => s.OperationName == "chat tiny" && s.ParentSpanId == step.SpanId);
            var recorded = record.Steps.Single(s => s.Id == id);
            Assert.Equal(ActivityKind.Client, chat.Kind);
            Assert.Equal("chat", chat.GetTagItem("gen_ai.operation.name"));
            Assert.Equal("tiny", chat.GetTagItem("gen_ai.request.model"));
            Assert.Equal(recorded.InputTokens, chat.GetTagItem("gen_ai.usage.input_tokens"));
            Assert.Equal(recorded.OutputTokens, chat.GetTagItem("gen_ai.usage.output_tokens"));
            Assert.Equal(new[] { recorded.FinishReason }, chat.GetTagItem("gen_ai.response.finish_reasons"));
            // Content only when the operator opts in.
            Assert.Null(chat.GetTagItem("gen_ai.input.messages"));
            Assert.Null(chat.GetTagItem("gen_ai.output.messages"));
            Assert.InRange(step.Duration.TotalMilliseconds, recorded.LatencyMs - 1, recorded.LatencyMs + 1);
        }
    }

    [Fact]
    public async Task OnEvent_WithDefinition_StepsInsideAParallelAreChildrenOfItsSpan()
    {
        const string Yaml = """
            name: nested
            version: 1
            models: { a: tiny, b: tiny2 }
            steps:
              - id: research
                parallel:
                  - { id: pros, agent: { model: a, prompt: "pros", max_tokens: 4, temperature: 0 } }
                  - { id: cons, agent: { model: b, prompt: "cons", max_tokens: 4, temperature: 0 } }
              - id: merge
                agent: { model: a, prompt: "P={{ steps.research.output.pros }}", max_tokens: 4, temperature: 0 }
            """;
        var definition = AgentFlow.Definitions.WorkflowLoader.Parse(Yaml, "nested.yaml").GetDefinitionOrThrow();

        var record = await fixture.RunAsync(Yaml, observer: new RunTracer { Definition = definition });
        var spans = Spans(record.RunId);

        var run = Assert.Single(spans, s => s.OperationName == "agentflow.run nested");
        var research = Assert.Single(spans, s => s.OperationName == "agentflow.parallel research");
        Assert.Equal(run.SpanId, research.ParentSpanId);
        Assert.Equal(research.SpanId, Assert.Single(spans, s => s.OperationName == "agentflow.step pros").ParentSpanId);
        Assert.Equal(research.SpanId, Assert.Single(spans, s => s.OperationName == "agentflow.step cons").ParentSpanId);
        Assert.Equal(run.SpanId, Assert.Single(spans, s => s.OperationName == "agentflow.step merge").ParentSpanId);
    }

    [Fact]
    public async Task OnEvent_ContentOptedIn_ChatSpansCarryPromptAndAnswer()
    {
        var record = await fixture.RunAsync(TwoSteps, observer: new RunTracer(captureContent: true));
        var spans = Spans(record.RunId);
        var greet = spans.Single(s => s.OperationName == "agentflow.step greet");
        var chat = spans.Single(s => s.OperationName == "chat tiny" && s.ParentSpanId == greet.SpanId);

        Assert.Contains("Greet Ada", (string)chat.GetTagItem("gen_ai.input.messages")!);
        Assert.Contains("\"role\":\"system\"", (string)chat.GetTagItem("gen_ai.input.messages")!);
        Assert.Contains(System.Text.Json.JsonSerializer.Serialize(record.Steps[0].Output), (string)chat.GetTagItem("gen_ai.output.messages")!);
    }

    // A prompt longer than the tiny model's context fails the step (a real model error, not a stub).
    [Fact]
    public async Task OnEvent_FailedStep_SpanStatusIsErrorWithTheException()
    {
        var record = await fixture.RunAsync("""
            name: traced-failure
            version: 1
            models: { writer: tiny }
            steps:
              - id: long
                agent: { model: writer, prompt: "{% for i in (1..3000) %}word {% endfor %}", max_tokens: 4, temperature: 0 }
            """, observer: new RunTracer());
        Assert.Equal(AgentFlow.Execution.RunStatus.Failed, record.Status);
        var spans = Spans(record.RunId);

        var run = Assert.Single(spans, s => s.OperationName == "agentflow.run traced-failure");
        Assert.Equal(ActivityStatusCode.Error, run.Status);
        var step = Assert.Single(spans, s => s.OperationName == "agentflow.step long");
        Assert.Equal(ActivityStatusCode.Error, step.Status);
        Assert.Contains(step.Events, e => e.Name == "exception" && e.Tags.Any(t => t.Key == "exception.message"));
    }

    [Fact]
    public async Task OnEvent_RealRun_RecordsRunStepAndTokenMetrics()
    {
        var measurements = new ConcurrentQueue<(string Name, double Value, Dictionary<string, object?> Tags)>();
        using var meters = new MeterListener();
        meters.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == AgentFlowTelemetry.Name)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        void Keep(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var copy = new Dictionary<string, object?>();
            foreach (var tag in tags)
            {
                copy[tag.Key] = tag.Value;
            }

            if (copy.GetValueOrDefault("agentflow.workflow") is "metered" || copy.ContainsKey("gen_ai.request.model") || copy.ContainsKey("agentflow.step.kind"))
            {
                measurements.Enqueue((instrument.Name, value, copy));
            }
        }

        meters.SetMeasurementEventCallback<long>((i, v, t, _) => Keep(i, v, t));
        meters.SetMeasurementEventCallback<double>((i, v, t, _) => Keep(i, v, t));
        meters.Start();

        var record = await fixture.RunAsync(TwoSteps.Replace("name: traced", "name: metered", StringComparison.Ordinal), observer: new RunTracer());

        Assert.Contains(measurements, m => m.Name == "agentflow.runs.started" && m.Tags["agentflow.workflow"] is "metered");
        Assert.Contains(measurements, m => m.Name == "agentflow.runs.finished" && m.Tags["agentflow.status"] is "succeeded");
        Assert.True(measurements.Count(m => m.Name == "agentflow.step.duration" && m.Tags["agentflow.step.kind"] is "agent") >= 2);
        var input = record.Steps.Sum(s => s.InputTokens ?? 0);
        Assert.True(measurements.Where(m => m.Name == "gen_ai.client.token.usage" && m.Tags["gen_ai.token.type"] is "input").Sum(m => m.Value) >= input);
    }

    private const string Approve = """
        name: traced-approval
        version: 1
        models: { w: tiny }
        steps:
          - id: draft
            agent: { model: w, prompt: "Reply to a refund", max_tokens: 4, temperature: 0 }
          - id: review
            approval: { message: "Send it?" }
          - id: send
            agent: { model: w, prompt: "Polish: {{ steps.draft.output }}", max_tokens: 4, temperature: 0 }
        """;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task OnEvent_RunResumedInAnotherRunner_ContinuesTheSameTrace(bool parentKept)
    {
        var definition = AgentFlow.Definitions.WorkflowLoader.Parse(Approve, "approve.yaml").GetDefinitionOrThrow();
        using var home = new TempFolder();
        var store = new AgentFlow.Execution.Durable.FileRunStore(home.Path);
        AgentFlow.Execution.WorkflowRunner Runner() => new(fixture.Models, new AgentFlow.Models.LocalModelGateway(fixture.Models), TimeProvider.System,
            Microsoft.Extensions.Logging.Abstractions.NullLogger<AgentFlow.Execution.WorkflowRunner>.Instance, memory: null, store);
        var parked = await Runner().RunAsync(new AgentFlow.Execution.RunRequest(definition), new RunTracer(), CancellationToken.None);
        var stored = (await store.LoadAsync(parked.RunId, CancellationToken.None))!;
        Assert.Equal(AgentFlow.Execution.RunStatus.Waiting, stored.Record.Status);
        if (!parentKept)
        {
            // As after a crash before the record's first whole save: only the run id links the processes.
            stored.Record.TraceParent = null;
        }

        var done = await Runner().ResumeAsync(
            new AgentFlow.Execution.ResumeRequest(stored, definition) { Answer = new AgentFlow.Execution.ApprovalAnswer("review", true, "alice", null) },
            new RunTracer(), CancellationToken.None);

        Assert.Equal(AgentFlow.Execution.RunStatus.Succeeded, done.Status);
        var runs = _spans.Where(s => s.OperationName == "agentflow.run traced-approval" && s.GetTagItem("agentflow.run_id") as string == parked.RunId).ToList();
        Assert.Equal(2, runs.Count);
        var (first, resumed) = (runs.Single(r => r.GetTagItem("agentflow.resumed") is false), runs.Single(r => r.GetTagItem("agentflow.resumed") is true));
        Assert.Equal(parked.RunId, first.TraceId.ToHexString());
        Assert.Equal(first.TraceId, resumed.TraceId);
        Assert.Equal(parentKept ? first.SpanId : default, resumed.ParentSpanId);
        var send = Assert.Single(_spans, s => s.OperationName == "agentflow.step send" && s.TraceId == first.TraceId);
        Assert.Equal(resumed.SpanId, send.ParentSpanId);
    }

    private sealed class TempFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("agentflow-tracer-tests-").FullName;

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }

    private List<Activity> Spans(string runId)
    {
        var roots = _spans.Where(s => s.GetTagItem("agentflow.run_id") as string == runId).Select(s => s.TraceId).ToHashSet();
        return [.. _spans.Where(s => roots.Contains(s.TraceId))];
    }
}
