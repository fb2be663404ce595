using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using AgentFlow.Definitions;
using AgentFlow.Execution;
using AgentFlow.Messaging.ModelWorker;
using AgentFlow.Messaging.Orchestrator;
using AgentFlow.Messaging.Tests.Support;
using AgentFlow.Models;
using AgentFlow.Models.Llama.Builtin;
using AgentFlow.Models.Llama.Providers;
using AgentFlow.Telemetry;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentFlow.Messaging.Tests.Telemetry;

/// <summary>
/// One trace across processes: a real workflow run on an orchestrator whose agent steps a worker answers over a real
/// RabbitMQ broker (two hosts, each standing for a process), collected with System.Diagnostics listeners.
/// </summary>
[Collection("rabbitmq")]
public sealed class TraceContextTests(TinyModel tiny) : IClassFixture<TinyModel>, IAsyncLifetime
{
    private const string TwoSteps = """
        name: traced-remote
        version: 1
        models: { writer: tiny }
        steps:
          - id: greet
            agent: { model: writer, system: "Be warm.", prompt: "Greet Ada", max_tokens: 6, temperature: 0 }
          - id: shorten
            agent: { model: writer, prompt: "Shorter: {{ steps.greet.output }}", max_tokens: 4, temperature: 0 }
        """;

    private readonly RabbitMqBroker _broker = new();
    private readonly string _home = Directory.CreateTempSubdirectory("agentflow-trace-tests-").FullName;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await _broker.CleanupAsync();
        Directory.Delete(_home, recursive: true);
    }

    [RabbitMqFact]
    public async Task RunAsync_StepsOnRabbitMqWorker_WorkerChatSpanIsChildOfStepSpanInTheRunsTrace()
    {
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == AgentFlowTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        var waits = new ConcurrentQueue<(double Seconds, object? Model)>();
        using var meters = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == AgentFlowTelemetry.Name && instrument.Name == "agentflow.queue.wait")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        meters.SetMeasurementEventCallback<double>((_, value, tags, _) => waits.Enqueue((value, tags.ToArray().Single(t => t.Key == "gen_ai.request.model").Value)));
        meters.Start();

        var model = _broker.Track("tiny");
        await using var worker = await BusHost.WorkerAsync(RabbitMqBroker.Options(), new ModelWorkerOptions { WorkerId = "w-trace" }.AddModel(model), tiny.Client);
        await using var orchestrator = await BusHost.OrchestratorAsync(RabbitMqBroker.Options());
        var registry = ModelRegistry.Load(configPath: null, new Dictionary<string, string>(), _home);
        await using var models = new ModelHost(registry, [new BuiltinModelProvider(new BuiltinModelStore(Path.Combine(_home, "models")))]);
        var runner = new WorkflowRunner(models, new BusModelGateway(orchestrator.Models, localHost: null), TimeProvider.System, NullLogger<WorkflowRunner>.Instance);
        var definition = WorkflowLoader.Parse(TwoSteps, "traced-remote.yaml").GetDefinitionOrThrow();

        var record = await runner.RunAsync(new RunRequest(definition), new RunTracer(), CancellationToken.None);

        Assert.Equal(RunStatus.Succeeded, record.Status);
        var mine = spans.Where(s => s.TraceId == RunTracer.TraceIdOf(record.RunId)).ToList();
        var run = Assert.Single(mine, s => s.OperationName == "agentflow.run traced-remote");
        // The trace id is the run id, and the record keeps the root span's context for a resume.
        Assert.Equal(record.RunId, run.TraceId.ToHexString());
        Assert.Equal(run.Id, record.TraceParent);
        foreach (var id in new[] { "greet", "shorten" })
        {
            var step = Assert.Single(mine, s => s.OperationName == $"agentflow.step {id}");
            Assert.Equal(run.SpanId, step.ParentSpanId);
            Assert.Equal("w-trace", step.GetTagItem("agentflow.worker"));
            // The worker's model call is the step's only chat span: the orchestrator does not make one of its own.
            var chat = Assert.Single(mine, s => s.OperationName == "chat tiny" && s.GetTagItem("agentflow.step.id") as string == id);
            Assert.Equal(step.SpanId, chat.ParentSpanId);
            Assert.Equal(ActivityKind.Client, chat.Kind);
            Assert.Equal("w-trace", chat.GetTagItem("agentflow.worker"));
            Assert.Equal("rabbitmq", chat.GetTagItem("messaging.system"));
            var recorded = record.Steps.Single(s => s.Id == id);
            Assert.Equal((long?)recorded.InputTokens, chat.GetTagItem("gen_ai.usage.input_tokens"));
            Assert.Equal((long?)recorded.OutputTokens, chat.GetTagItem("gen_ai.usage.output_tokens"));
            Assert.Equal(new[] { recorded.FinishReason }, chat.GetTagItem("gen_ai.response.finish_reasons"));
            Assert.Null(chat.GetTagItem("gen_ai.input.messages"));
            // The model ran inside the step: the worker's span lies within the step span.
            Assert.InRange(chat.StartTimeUtc, step.StartTimeUtc.AddMilliseconds(-1), step.StartTimeUtc + step.Duration);
        }

        Assert.Equal(2, mine.Count(s => s.OperationName == "chat tiny"));
        meters.RecordObservableInstruments();
        Assert.True(waits.Count(w => Equals(w.Model, "tiny")) >= 2, $"queue-wait measurements: {waits.Count}");
        Assert.All(waits, w => Assert.InRange(w.Seconds, 0, 60));
    }
}
