using AgentFlow.Conversations;
using AgentFlow.Definitions;
using AgentFlow.Execution;
using AgentFlow.Execution.Durable;
using AgentFlow.Memory;
using AgentFlow.Memory.Local;
using AgentFlow.Messaging.Bus;
using AgentFlow.Messaging.ModelWorker;
using AgentFlow.Messaging.Orchestrator;
using AgentFlow.Models;
using AgentFlow.Tracking.MLflow;
using AgentFlow.Tracking.MLflow.Recording;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Bench.Harness;

/// <summary>How agent steps reach their model.</summary>
internal enum StepTransport
{
    /// <summary>The runner calls the model's client in this process (no bus).</summary>
    Direct,

    /// <summary>What <c>./agentflow run</c> does by default: each step is a message on the in-memory bus to a worker in this process.</summary>
    InMemoryBus,

    /// <summary>Each step is a message through RabbitMQ to a worker endpoint (hosted in this process, consuming from the broker).</summary>
    RabbitMq,
}

/// <summary>What the harness turns on.</summary>
internal sealed record HarnessSettings(StepTransport Transport, bool Record, bool Memory)
{
    /// <summary>The broker, for <see cref="StepTransport.RabbitMq"/>.</summary>
    public Uri? RabbitMqUri { get; init; }

    /// <summary>
    /// Durable runs as <c>./agentflow run</c> has them (<c>RunHost</c>): a <see cref="FileRunStore"/> in the harness folder,
    /// saved after every step event and an engine checkpoint per superstep.
    /// </summary>
    public bool RunStore { get; init; }

    /// <summary>
    /// Runs traced as <c>./agentflow run</c> traces them when an OTLP endpoint is set: a <see cref="Telemetry.RunTracer"/>
    /// beside the recorder (the scenario starts the exporter that listens).
    /// </summary>
    public bool Tracing { get; init; }

    /// <summary>Steps the worker serves at once per model (bus transports).</summary>
    public int WorkerConcurrency { get; init; } = 8;

    public string Describe() =>
        $"{Transport switch { StepTransport.Direct => "direct", StepTransport.InMemoryBus => "in-memory bus", _ => "RabbitMQ" }}" +
        (Record ? " + recording" : string.Empty) + (Memory ? " + memory" : string.Empty) + (RunStore ? " + run store" : string.Empty) + (Tracing ? " + tracing" : string.Empty);
}

/// <summary>
/// AgentFlow as a host assembles it (<c>RunCommand</c>): a model host, the gateway for the transport, a
/// <see cref="WorkflowRunner"/>, an MLflow recorder on an embedded SQLite store, a SQLite conversation store and a
/// <see cref="FileRunStore"/> (durable runs), in a
/// folder of its own. Runs workflows the way <c>./agentflow run</c> does, minus console output.
/// </summary>
internal sealed class AgentFlowHarness : IAsyncDisposable
{
    private readonly IHost? _bus;
    private readonly IMlflowStore? _tracking;
    private readonly IConversationStore? _conversations;
    private readonly IRunStore? _runs;
    private readonly WorkflowRunner _runner;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggers;

    private AgentFlowHarness(ModelHost models, IHost? bus, IModelGateway gateway, IMlflowStore? tracking, IConversationStore? conversations, IRunStore? runs, TimeProvider time, ILoggerFactory loggers)
    {
        _runs = runs;
        Models = models;
        _bus = bus;
        _tracking = tracking;
        _conversations = conversations;
        _time = time;
        _loggers = loggers;
        _runner = new WorkflowRunner(models, gateway, time, loggers.CreateLogger<WorkflowRunner>(), conversations?.AsConversationMemory(), runs);
    }

    public ModelHost Models { get; }

    private bool Tracing { get; init; }

    public static async Task<AgentFlowHarness> StartAsync(HarnessSettings settings, IReadOnlyList<IModelProvider> providers, string folder, BenchOptions options, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(folder);
        var models = new ModelHost(BenchModels.Registry(), providers);
        IHost? bus = null;
        IModelGateway gateway = new LocalModelGateway(models);
        if (settings.Transport != StepTransport.Direct)
        {
            var messaging = settings.Transport == StepTransport.RabbitMq
                ? new MessagingOptions { Transport = MessagingTransport.RabbitMq, RabbitMqUri = settings.RabbitMqUri }
                : new MessagingOptions();
            var worker = new ModelWorkerOptions { WorkerId = "bench", LoadModelsAtStart = false };
            foreach (var model in models.Registry.Models.Keys)
            {
                worker.AddModel(model, concurrentMessageLimit: settings.WorkerConcurrency);
            }

            bus = await StartHostAsync(options.LoggerFactory, services => services.AddAgentFlowEmbedded(
                messaging, worker, async (name, ct) => (await models.GetAsync(name, ct).ConfigureAwait(false)).Client), cancellationToken).ConfigureAwait(false);
            gateway = new BusModelGateway(bus.Services.GetRequiredService<RemoteChatClientFactory>(), models);
        }

        var tracking = settings.Record
            ? MlflowStoreFactory.Create("sqlite:///" + Path.Combine(folder, "mlflow.db"), new MlflowStoreOptions { WorkingDirectory = folder, TimeProvider = options.Time }, options.LoggerFactory)
            : null;
        var conversations = settings.Memory
            ? SqliteConversationStore.Open(new MemoryStoreOptions { DatabasePath = Path.Combine(folder, "memory.db"), TimeProvider = options.Time }, options.LoggerFactory)
            : null;
        IRunStore? runs = settings.RunStore ? new FileRunStore(Path.Combine(folder, "runs")) : null;
        return new AgentFlowHarness(models, bus, gateway, tracking, conversations, runs, options.Time, options.LoggerFactory) { Tracing = settings.Tracing };
    }

    /// <summary>Starts a generic host with a bus configured by <paramref name="configure"/>.</summary>
    public static async Task<IHost> StartHostAsync(ILoggerFactory loggers, Action<IServiceCollection> configure, CancellationToken cancellationToken)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton(loggers);
        builder.Services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        configure(builder.Services);
        var host = builder.Build();
        await host.StartAsync(cancellationToken).ConfigureAwait(false);
        return host;
    }

    /// <summary>Runs <paramref name="definition"/> like <c>./agentflow run</c>: recorder first, then the run, then the recorder flushed.</summary>
    /// <exception cref="InvalidOperationException">The run did not succeed.</exception>
    public async Task<RunRecord> RunAsync(WorkflowDefinition definition, IReadOnlyDictionary<string, string> inputs, CancellationToken cancellationToken) =>
        (await RunTimedAsync(definition, inputs, cancellationToken).ConfigureAwait(false)).Record;

    /// <summary>
    /// <see cref="RunAsync"/>, also returning the timestamp at which the run's result was ready: after the runner
    /// returned, before the recorder's remaining writes (run end, transcript, audit) were waited for.
    /// </summary>
    public async Task<(RunRecord Record, long ResultReady)> RunTimedAsync(WorkflowDefinition definition, IReadOnlyDictionary<string, string> inputs, CancellationToken cancellationToken)
    {
        MlflowRunRecorder? recorder = null;
        RunRecord record;
        long ready;
        try
        {
            recorder = _tracking is null ? null : await MlflowRunRecorder.StartAsync(_tracking, definition, "bench", _time, _loggers.CreateLogger<MlflowRunRecorder>(), cancellationToken).ConfigureAwait(false);
            var request = new RunRequest(definition) { Inputs = inputs, RunId = recorder?.RunId };
            IRunObserver? observer = Tracing ? new TracedObserver(recorder, new Telemetry.RunTracer()) : recorder;
            record = await _runner.RunAsync(request, observer, cancellationToken).ConfigureAwait(false);
            ready = _time.GetTimestamp();
        }
        finally
        {
            if (recorder is not null)
            {
                await recorder.DisposeAsync().ConfigureAwait(false);
            }
        }

        return record.Status == RunStatus.Succeeded
            ? (record, ready)
            : throw new InvalidOperationException($"benchmark run {record.RunId} {record.Status}: {record.Error?.StepId} {record.Error?.Message}");
    }

    /// <summary>The run store (settings with <see cref="HarnessSettings.RunStore"/>).</summary>
    public IRunStore RunStore => _runs ?? throw new InvalidOperationException("this harness has no run store");

    /// <summary>Runs <paramref name="definition"/> (no recording) until it parks at an approval.</summary>
    /// <exception cref="InvalidOperationException">The run did not park.</exception>
    public async Task<RunRecord> ParkAsync(WorkflowDefinition definition, CancellationToken cancellationToken)
    {
        var record = await _runner.RunAsync(new RunRequest(definition), null, cancellationToken).ConfigureAwait(false);
        return record.Status == RunStatus.Waiting
            ? record
            : throw new InvalidOperationException($"benchmark run {record.RunId} did not park: {record.Status} {record.Error?.Message}");
    }

    /// <summary>Loads the parked run <paramref name="runId"/> and continues it with an approval of <paramref name="step"/>.</summary>
    /// <exception cref="InvalidOperationException">The run is not stored or did not succeed.</exception>
    public async Task<RunRecord> ApproveAsync(WorkflowDefinition definition, string runId, string step, CancellationToken cancellationToken)
    {
        var stored = await RunStore.LoadAsync(runId, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"benchmark run {runId} is not in the store");
        var record = await _runner.ResumeAsync(new ResumeRequest(stored, definition) { Answer = new ApprovalAnswer(step, true, "bench", null) }, null, cancellationToken).ConfigureAwait(false);
        return record.Status == RunStatus.Succeeded
            ? record
            : throw new InvalidOperationException($"benchmark run {runId} {record.Status} after its approval: {record.Error?.Message}");
    }

    // The recorder (when recording) and the run tracer, as the CLI's fan-out hands events to both.
    private sealed class TracedObserver(IRunObserver? recorder, IRunObserver tracer) : IRunObserver
    {
        public void OnEvent(RunEvent runEvent)
        {
            recorder?.OnEvent(runEvent);
            tracer.OnEvent(runEvent);
        }
    }

    /// <summary>Fresh inputs for one run (its own conversation).</summary>
    public static Dictionary<string, string> FreshInputs() => new(StringComparer.Ordinal) { ["conversation"] = "bench-" + Guid.NewGuid().ToString("N") };

    public async ValueTask DisposeAsync()
    {
        if (_bus is not null)
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await _bus.StopAsync(stop.Token).ConfigureAwait(false);
            _bus.Dispose();
        }

        if (_tracking is not null)
        {
            await _tracking.DisposeAsync().ConfigureAwait(false);
        }

        if (_conversations is not null)
        {
            await _conversations.DisposeAsync().ConfigureAwait(false);
        }

        if (_runs is not null)
        {
            await _runs.DisposeAsync().ConfigureAwait(false);
        }

        await Models.DisposeAsync().ConfigureAwait(false);
    }
}
