using AgentFlow.Messaging;
using AgentFlow.Messaging.Bus;
using AgentFlow.Messaging.ModelWorker;
using AgentFlow.Messaging.Orchestrator;
using AgentFlow.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Cli.Hosting;

/// <summary>
/// Where this process's runs get their models: agent steps always travel as messages over the bus — in memory to
/// workers inside this process by default, or over RabbitMQ to worker processes when configured
/// (<c>AGENTFLOW_RABBITMQ</c> or <c>transport: rabbitmq</c> in agentflow.yaml). One code path for both.
/// </summary>
internal sealed class ModelRuntime : IAsyncDisposable
{
    private readonly IHost _bus;

    private ModelRuntime(ModelHost models, IHost bus, IModelGateway gateway, MessagingOptions options)
    {
        Models = models;
        _bus = bus;
        Gateway = gateway;
        Options = options;
    }

    public ModelHost Models { get; }

    public IModelGateway Gateway { get; }

    public MessagingOptions Options { get; }

    /// <summary>The orchestrator's remote clients (chat models and embedders on workers); only for a runtime started by <see cref="StartOrchestratorAsync"/>.</summary>
    public RemoteChatClientFactory RemoteClients => _bus.Services.GetRequiredService<RemoteChatClientFactory>();

    /// <summary>Transport options from the environment, then agentflow.yaml (the environment wins).</summary>
    public static MessagingOptions ReadOptions(CliContext cli, ModelRegistry registry)
    {
        var options = MessagingOptions.FromEnvironment(cli.Environment);
        if (options.Transport == MessagingTransport.InMemory && registry.Transport == "rabbitmq")
        {
            if (registry.RabbitMqUri is null || !Uri.TryCreate(registry.RabbitMqUri, UriKind.Absolute, out var uri))
            {
                throw new ModelConfigurationException(
                    $"{registry.SourcePath}: transport: rabbitmq needs 'rabbitmq: amqp://user:pass@host:5672/' in the file or {MessagingOptions.RabbitMqVariable}");
            }

            options = new MessagingOptions { Transport = MessagingTransport.RabbitMq, RabbitMqUri = uri };
        }

        return options;
    }

    /// <summary>
    /// Starts the bus for an orchestrator. In memory, this process also hosts the workers for <paramref name="localModels"/>
    /// (loaded by <paramref name="models"/>); with RabbitMQ, steps go to worker processes.
    /// </summary>
    public static async Task<ModelRuntime> StartOrchestratorAsync(CliContext cli, ModelHost models, IReadOnlyCollection<string> localModels, CancellationToken cancellationToken)
    {
        var options = ReadOptions(cli, models.Registry);
        var embedded = options.Transport == MessagingTransport.InMemory;
        if (embedded)
        {
            // The models load while the bus starts (both take a few hundred ms cold); the embedded worker then finds
            // them loaded. A load that fails is not kept: the run's own load reports it.
            foreach (var model in localModels)
            {
                _ = Task.Run(() => models.GetAsync(model, cancellationToken), cancellationToken)
                    .ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            }
        }

        var bus = await StartBusAsync(cli, options, services =>
        {
            if (embedded && localModels.Count > 0)
            {
                var worker = new ModelWorkerOptions { WorkerId = "local", LoadModelsAtStart = false };
                foreach (var model in localModels)
                {
                    worker.AddModel(model, concurrentMessageLimit: 8);
                }

                services.AddAgentFlowEmbedded(options, worker, async (name, ct) => (await models.GetAsync(name, ct).ConfigureAwait(false)).Client);
            }
            else
            {
                // RabbitMQ, or a workflow with no agent step: no model to host here.
                services.AddAgentFlowOrchestrator(options);
            }
        }, cancellationToken).ConfigureAwait(false);
        var factory = bus.Services.GetRequiredService<RemoteChatClientFactory>();
        return new ModelRuntime(models, bus, new BusModelGateway(factory, embedded ? models : null), options);
    }

    /// <summary>Starts a worker serving <paramref name="worker"/>'s models (loaded by <paramref name="models"/>) on the configured broker.</summary>
    /// <remarks>Embedders in <see cref="ModelWorkerOptions.Embedders"/> are served with <paramref name="embedders"/>' generators.</remarks>
    public static async Task<ModelRuntime> StartWorkerAsync(
        CliContext cli, ModelHost models, ModelWorkerOptions worker, MessagingOptions options, CancellationToken cancellationToken, Retrieval.Embedding.EmbedderHost? embedders = null)
    {
        var bus = await StartBusAsync(
            cli,
            options,
            services =>
            {
                services.AddAgentFlowWorker(options, worker, async (name, ct) => (await models.GetAsync(name, ct).ConfigureAwait(false)).Client);
                if (embedders is not null)
                {
                    services.AddAgentFlowEmbedderWorker(async (name, ct) => (await embedders.GetAsync(name, ct).ConfigureAwait(false)).Generator);
                }
            },
            cancellationToken).ConfigureAwait(false);
        return new ModelRuntime(models, bus, new LocalModelGateway(models), options);
    }

    private static async Task<IHost> StartBusAsync(CliContext cli, MessagingOptions options, Action<IServiceCollection> configure, CancellationToken cancellationToken)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton(cli.LoggerFactory);
        builder.Services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        configure(builder.Services);
        var host = builder.Build();
        try
        {
            await host.StartAsync(cancellationToken).ConfigureAwait(false);
            return host;
        }
        catch (Exception ex) when (options.Transport == MessagingTransport.RabbitMq && ex is not AgentFlowException && !cancellationToken.IsCancellationRequested)
        {
            // An unreachable broker or refused credentials: one line naming the broker (never its password), not
            // MassTransit's "internal error" with its stack traces.
            host.Dispose();
            throw new MessagingConfigurationException(
                $"cannot connect to RabbitMQ at {options.RedactedRabbitMqUri}: {cli.Secrets.Redact(ex.GetBaseException().Message)}; "
                + $"check that the broker runs there and that the user name and password are right ({MessagingOptions.RabbitMqVariable} or 'rabbitmq:' in agentflow.yaml)");
        }
    }

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(35));
        await _bus.StopAsync(stop.Token).ConfigureAwait(false);
        _bus.Dispose();
        await Models.DisposeAsync().ConfigureAwait(false);
    }
}
