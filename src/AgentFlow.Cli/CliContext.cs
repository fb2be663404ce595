using System.Collections;
using AgentFlow.Models;
using AgentFlow.Models.Llama.Hosting;
using AgentFlow.Models.Llama.Providers;
using AgentFlow.Models.Onnx.Providers;
using AgentFlow.Models.OpenAI;
using AgentFlow.Secrets;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Cli;

/// <summary>The composition root of one CLI invocation: console streams, environment, logging, model providers.</summary>
internal sealed class CliContext : IDisposable
{
    // Started on the first remote embedding; stopped when this invocation ends.
    private Hosting.RemoteEmbedders? _remoteEmbedders;

    private CliContext(
        TextWriter output, TextWriter error, bool errorIsTerminal, string workingDirectory, IReadOnlyDictionary<string, string> environment, ILoggerFactory loggerFactory, SecretRedactor secrets)
    {
        Secrets = secrets;
        Out = output;
        Error = error;
        ErrorIsTerminal = errorIsTerminal;
        WorkingDirectory = workingDirectory;
        Environment = environment;
        LoggerFactory = loggerFactory;
    }

    public TextWriter Out { get; }

    public TextWriter Error { get; }

    /// <summary>Whether stderr is an interactive terminal (live progress) or a pipe/file (plain lines).</summary>
    public bool ErrorIsTerminal { get; }

    public string WorkingDirectory { get; }

    public IReadOnlyDictionary<string, string> Environment { get; }

    public ILoggerFactory LoggerFactory { get; }

    /// <summary>
    /// The secrets this invocation knows (the environment's, then the registry's once loaded); every log line, every
    /// line on stdout/stderr and every error entering a run record is scrubbed of them.
    /// </summary>
    public SecretRedactor Secrets { get; }

    public TimeProvider Time { get; } = TimeProvider.System;

    /// <summary>The context of this process; <paramref name="secrets"/> (shared with the top-level error handler) learns the environment's secrets.</summary>
    public static CliContext CreateDefault(bool verbose, SecretRedactor secrets)
    {
        ArgumentNullException.ThrowIfNull(secrets);
        var environment = System.Environment.GetEnvironmentVariables()
            .Cast<DictionaryEntry>()
            .ToDictionary(e => (string)e.Key, e => (string?)e.Value ?? string.Empty, StringComparer.Ordinal);
        secrets.AddEnvironment(environment);
        var level = verbose ? LogLevel.Debug : LogLevel.Warning;
        var console = Microsoft.Extensions.Logging.LoggerFactory.Create(builder => builder
            .SetMinimumLevel(level)
            .AddSimpleConsole(o => o.SingleLine = true)
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace));
        // Every logger writes through the redactor; stack traces only with --verbose.
        var loggerFactory = Microsoft.Extensions.Logging.LoggerFactory.Create(builder => builder
            .SetMinimumLevel(level)
            .AddProvider(new RedactingLoggerProvider(console, secrets, stackTraces: verbose)));
        return new CliContext(
            new Output.RedactingWriter(Console.Out, secrets), new Output.RedactingWriter(Console.Error, secrets), !Console.IsErrorRedirected,
            Directory.GetCurrentDirectory(), environment, loggerFactory, secrets);
    }

    /// <summary>Every model provider this host ships.</summary>
    public IReadOnlyList<IModelProvider> CreateProviders() =>
    [
        new BuiltinModelProvider(loggerFactory: LoggerFactory),
        new LlamaModelProvider(FileHashCache.CreateDefault(), LoggerFactory),
        new OnnxModelProvider(loggerFactory: LoggerFactory),
        new OpenAIModelProvider(),
    ];

    /// <summary>Every embedding provider this host ships: the built-in MiniLM, OpenAI-compatible endpoints and GGUF files through llama.cpp.</summary>
    public static IReadOnlyList<IEmbeddingProvider> CreateEmbeddingProviders() =>
    [
        new Models.MiniLM.MiniLmEmbeddingProvider(),
        new OpenAIEmbeddingProvider(),
        new LlamaEmbeddingProvider(),
    ];

    /// <summary>
    /// The collections of <paramref name="registry"/> (embedded files under .agentflow/collections, Chroma servers), with
    /// their embedders: loaded in this process, or, when the transport is RabbitMQ (<c>AGENTFLOW_RABBITMQ</c> or
    /// <c>transport: rabbitmq</c>), computed by workers started with <c>agentflow worker --embedders NAME</c>.
    /// </summary>
    /// <exception cref="ModelConfigurationException">transport: rabbitmq without a broker URI.</exception>
    public Retrieval.CollectionHost OpenCollections(ModelRegistry registry)
    {
        var providers = CreateEmbeddingProviders();
        if (Hosting.ModelRuntime.ReadOptions(this, registry).Transport == Messaging.Bus.MessagingTransport.RabbitMq)
        {
            _remoteEmbedders ??= new Hosting.RemoteEmbedders(this, registry);
            providers = _remoteEmbedders.Providers(providers);
        }

        return new(registry, new Retrieval.Embedding.EmbedderHost(registry, providers), new Retrieval.RetrievalOptions { WorkingDirectory = WorkingDirectory });
    }

    /// <summary>
    /// Opens the conversation store: the local on-disk store (.agentflow/memory.db) unless agentflow.yaml says
    /// <c>memory: { store: redis }</c> or <c>AGENTFLOW_REDIS</c> is set.
    /// </summary>
    public Task<Memory.IConversationStore> OpenConversationStoreAsync(ModelRegistry registry, CancellationToken cancellationToken)
    {
        var options = Memory.MemoryStoreOptions.FromSettings(registry.MemoryStore, registry.MemoryConnection, Environment);
        options.WorkingDirectory = WorkingDirectory;
        options.TimeProvider = Time;
        return Memory.Redis.ConversationStoreFactory.CreateAsync(options, LoggerFactory, cancellationToken);
    }

    /// <summary>
    /// Opens the durable run store: Redis when conversational memory is in Redis (<c>AGENTFLOW_REDIS</c> or
    /// <c>memory: { store: redis }</c>), so several orchestrators share runs; else <c>.agentflow/runs</c> on local disk.
    /// </summary>
    public async Task<Execution.Durable.IRunStore> OpenRunStoreAsync(ModelRegistry registry, CancellationToken cancellationToken)
    {
        var options = Memory.MemoryStoreOptions.FromSettings(registry.MemoryStore, registry.MemoryConnection, Environment);
        options.TimeProvider = Time;
        return options.Store == Memory.MemoryStoreKind.Redis
            ? await Memory.Redis.RedisRunStore.ConnectAsync(options, cancellationToken: cancellationToken).ConfigureAwait(false)
            : new Execution.Durable.FileRunStore(Path.Combine(WorkingDirectory, ".agentflow", "runs"));
    }

    /// <summary>The run record store: <paramref name="trackingUri"/>, else MLFLOW_TRACKING_URI, else sqlite:///.agentflow/mlflow.db.</summary>
    public Tracking.MLflow.IMlflowStore OpenTracking(string? trackingUri) =>
        Tracking.MLflow.MlflowStoreFactory.Create(
            trackingUri,
            new Tracking.MLflow.MlflowStoreOptions { WorkingDirectory = WorkingDirectory, Environment = Environment, TimeProvider = Time },
            LoggerFactory);

    /// <summary>Loads the model registry; invalid files become diagnostics the caller prints.</summary>
    public ModelRegistry LoadRegistry(string? configPath)
    {
        var registry = ModelRegistry.Load(configPath, Environment, WorkingDirectory);
        Secrets.AddRegistry(registry, Environment);
        return registry;
    }

    /// <summary>Loads the model registry, printing its problems (and returning null) when the file is invalid.</summary>
    public ModelRegistry? TryLoadRegistry(string? configPath)
    {
        try
        {
            return LoadRegistry(configPath);
        }
        catch (DefinitionException ex)
        {
            Output.DiagnosticPrinter.Print(Error, ex.Diagnostics);
            return null;
        }
    }

    public void Dispose()
    {
        // The CLI has no synchronization context: waiting here for the bus to stop cannot deadlock.
        _remoteEmbedders?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        LoggerFactory.Dispose();
    }
}
