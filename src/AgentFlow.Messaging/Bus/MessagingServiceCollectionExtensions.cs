using AgentFlow.Messaging.Contracts;
using AgentFlow.Messaging.ModelWorker;
using AgentFlow.Messaging.Orchestrator;
using MassTransit;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Messaging.Bus;

/// <summary>
/// Adds the AgentFlow bus (MassTransit) to a container, for an orchestrator, a worker, or both in one process. One
/// code path serves both transports: <see cref="MessagingOptions.Transport"/> picks in-memory or RabbitMQ. Call one of
/// these once per container (MassTransit allows one bus); the bus starts and stops with the host.
/// </summary>
public static class MessagingServiceCollectionExtensions
{
    /// <summary>
    /// The orchestrator only: registers <see cref="RemoteChatClientFactory"/>. With the in-memory transport no worker is
    /// reachable (every call fails with "no worker serves model"): use <see cref="AddAgentFlowEmbedded(IServiceCollection, MessagingOptions, ModelWorkerOptions, Func{string, CancellationToken, Task{IChatClient}})"/>.
    /// </summary>
    /// <exception cref="MessagingConfigurationException">The options are invalid; every problem is listed.</exception>
    public static IServiceCollection AddAgentFlowOrchestrator(this IServiceCollection services, MessagingOptions options) =>
        AddBus(services, options, worker: null, clients: null, orchestrator: true);

    /// <summary>
    /// A worker only: one receive endpoint per model in <paramref name="worker"/> (queue <c>agentflow.model.NAME</c>),
    /// answering with the client <paramref name="clients"/> returns for the model name (called once per model; the
    /// caller owns and disposes the clients).
    /// </summary>
    /// <exception cref="MessagingConfigurationException">The options are invalid; every problem is listed.</exception>
    public static IServiceCollection AddAgentFlowWorker(this IServiceCollection services, MessagingOptions options, ModelWorkerOptions worker, Func<string, CancellationToken, Task<IChatClient>> clients)
    {
        ArgumentNullException.ThrowIfNull(clients);
        return AddBus(services, options, worker, (_, model, ct) => clients(model, ct), orchestrator: false);
    }

    /// <summary>A worker only, resolving model clients with the container (e.g. from a model host registered in it).</summary>
    /// <exception cref="MessagingConfigurationException">The options are invalid; every problem is listed.</exception>
    public static IServiceCollection AddAgentFlowWorker(this IServiceCollection services, MessagingOptions options, ModelWorkerOptions worker, Func<IServiceProvider, string, CancellationToken, Task<IChatClient>> clients) =>
        AddBus(services, options, worker, clients ?? throw new ArgumentNullException(nameof(clients)), orchestrator: false);

    /// <summary>
    /// Orchestrator and worker in one process (the embedded default, usually with the in-memory transport): the
    /// worker endpoints for the local models and the orchestrator's <see cref="RemoteChatClientFactory"/> share one bus.
    /// </summary>
    /// <exception cref="MessagingConfigurationException">The options are invalid; every problem is listed.</exception>
    public static IServiceCollection AddAgentFlowEmbedded(this IServiceCollection services, MessagingOptions options, ModelWorkerOptions worker, Func<string, CancellationToken, Task<IChatClient>> clients)
    {
        ArgumentNullException.ThrowIfNull(clients);
        return AddBus(services, options, worker, (_, model, ct) => clients(model, ct), orchestrator: true);
    }

    /// <summary>Orchestrator and worker in one process, resolving model clients with the container.</summary>
    /// <exception cref="MessagingConfigurationException">The options are invalid; every problem is listed.</exception>
    public static IServiceCollection AddAgentFlowEmbedded(this IServiceCollection services, MessagingOptions options, ModelWorkerOptions worker, Func<IServiceProvider, string, CancellationToken, Task<IChatClient>> clients) =>
        AddBus(services, options, worker, clients ?? throw new ArgumentNullException(nameof(clients)), orchestrator: true);

    /// <summary>
    /// Makes the worker added by <c>AddAgentFlowWorker</c> or <c>AddAgentFlowEmbedded</c> also serve the embedders in
    /// <see cref="ModelWorkerOptions.Embedders"/> (queue <c>agentflow.embedder.NAME</c> each), embedding with the
    /// generator <paramref name="generators"/> returns for the embedder name (called once per embedder; the caller owns
    /// and disposes the generators). Call it in the same container, before or after the worker.
    /// </summary>
    public static IServiceCollection AddAgentFlowEmbedderWorker(this IServiceCollection services, Func<string, CancellationToken, Task<IEmbeddingGenerator<string, Embedding<float>>>> generators)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(generators);
        services.AddSingleton(new EmbedderCache(generators));
        return services;
    }

    private static IServiceCollection AddBus(
        IServiceCollection services,
        MessagingOptions options,
        ModelWorkerOptions? worker,
        Func<IServiceProvider, string, CancellationToken, Task<IChatClient>>? clients,
        bool orchestrator)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(options);
        var problems = options.Validate().Concat(worker?.Validate() ?? []).ToList();
        if (problems.Count > 0)
        {
            throw new MessagingConfigurationException(string.Join(Environment.NewLine, problems));
        }

        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(options);
        var registry = new LocalModelRegistry();
        services.AddSingleton(registry);

        if (worker is not null && clients is not null)
        {
            foreach (var model in worker.Models)
            {
                registry.Add(model.Name);
            }

            foreach (var embedder in worker.Embedders)
            {
                registry.Add(LocalModelRegistry.EmbedderKey(embedder.Name));
            }

            services.AddSingleton(worker);
            services.AddSingleton(sp => new ModelClientCache((model, ct) => clients(sp, model, ct)));

            // Registered before MassTransit's hosted service, so models load before any endpoint consumes.
            services.AddHostedService<ModelWorkerWarmup>();
        }

        if (orchestrator)
        {
            services.AddSingleton<ChatStepStreamRouter>();
            if (options.Transport == MessagingTransport.RabbitMq)
            {
                services.AddSingleton<RabbitMqWorkerPresence>();
                services.AddSingleton<IWorkerPresence>(sp => sp.GetRequiredService<RabbitMqWorkerPresence>());
            }
            else
            {
                services.AddSingleton<IWorkerPresence, InMemoryWorkerPresence>();
            }

            services.AddSingleton(sp => new RemoteChatClientFactory(
                sp.GetRequiredService<IBus>(),
                options,
                sp.GetRequiredService<ChatStepStreamRouter>(),
                sp.GetRequiredService<IWorkerPresence>(),
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<ILogger<RemoteChatClient>>()));
        }

        var consumerStop = worker?.ShutdownTimeout;
        var busStop = (consumerStop ?? TimeSpan.Zero) + TimeSpan.FromSeconds(10);
        services.AddOptions<MassTransitHostOptions>().Configure(o =>
        {
            o.WaitUntilStarted = true;
            o.StartTimeout = options.StartTimeout;
            o.StopTimeout = busStop;
            o.ConsumerStopTimeout = consumerStop;
        });
        services.Configure<HostOptions>(o =>
        {
            var needed = busStop + TimeSpan.FromSeconds(5);
            if (o.ShutdownTimeout < needed)
            {
                o.ShutdownTimeout = needed;
            }
        });

        var roles = orchestrator && worker is not null ? "orchestrator and worker" : orchestrator ? "orchestrator" : "worker";
        services.AddMassTransit(x =>
        {
            if (options.Transport == MessagingTransport.RabbitMq)
            {
                x.UsingRabbitMq((context, cfg) =>
                {
                    var broker = RabbitMqEndpoint.Parse(options.RabbitMqUri!);
                    var connectionName = worker is null ? "agentflow-orchestrator" : $"agentflow-{roles.Replace(' ', '-')}-{worker.WorkerId}";
                    cfg.Host(broker.Host, broker.Port, broker.VirtualHost, connectionName, h =>
                    {
                        h.Username(broker.UserName);
                        h.Password(broker.Password);
                        if (broker.UseTls)
                        {
                            h.UseSsl(s => s.ServerName = broker.Host);
                        }
                    });
                    ConfigureEndpoints(context, cfg, worker, roles, $" at {options.RedactedRabbitMqUri}");
                });
            }
            else
            {
                x.UsingInMemory((context, cfg) => ConfigureEndpoints(context, cfg, worker, roles, string.Empty));
            }
        });

        return services;
    }

    private static void ConfigureEndpoints(IBusRegistrationContext context, IBusFactoryConfigurator cfg, ModelWorkerOptions? worker, string roles, string broker)
    {
        var loggers = context.GetRequiredService<ILoggerFactory>();
        var logger = loggers.CreateLogger("AgentFlow.Messaging");
        var transport = context.GetRequiredService<MessagingOptions>().Transport == MessagingTransport.RabbitMq ? "RabbitMQ" : "in-memory";
        MessagingLog.BusConfigured(logger, transport, roles, broker);
        if (worker is null)
        {
            return;
        }

        var clients = context.GetRequiredService<ModelClientCache>();
        var time = context.GetRequiredService<TimeProvider>();
        var workerLogger = loggers.CreateLogger("AgentFlow.Messaging.ModelWorker");
        cfg.ConnectReceiveObserver(new PoisonMessageObserver(workerLogger));
        foreach (var model in worker.Models)
        {
            var queue = ModelQueues.For(model.Name);
            var prefetch = model.PrefetchCount ?? model.ConcurrentMessageLimit;
            cfg.ReceiveEndpoint(queue, e =>
            {
                // Sent to by name only: no binding to the message type's exchange, so a publish never fans out to every model.
                e.ConfigureConsumeTopology = false;
                e.PrefetchCount = prefetch;
                e.ConcurrentMessageLimit = model.ConcurrentMessageLimit;
                e.Consumer(() => new ChatStepConsumer(model.Name, worker.WorkerId, clients, time, workerLogger));
            });
            MessagingLog.ServingModel(workerLogger, worker.WorkerId, model.Name, queue, model.ConcurrentMessageLimit, prefetch);
        }

        if (worker.Embedders.Count == 0)
        {
            return;
        }

        var generators = context.GetService<EmbedderCache>()
            ?? throw new MessagingConfigurationException("worker: embedders to serve but no generators for them; call AddAgentFlowEmbedderWorker");
        foreach (var embedder in worker.Embedders)
        {
            var queue = ModelQueues.ForEmbedder(embedder.Name);
            var prefetch = embedder.PrefetchCount ?? embedder.ConcurrentMessageLimit;
            cfg.ReceiveEndpoint(queue, e =>
            {
                e.ConfigureConsumeTopology = false;
                e.PrefetchCount = prefetch;
                e.ConcurrentMessageLimit = embedder.ConcurrentMessageLimit;
                e.Consumer(() => new EmbeddingConsumer(embedder.Name, worker.WorkerId, generators, time, workerLogger));
            });
            MessagingLog.ServingEmbedder(workerLogger, worker.WorkerId, embedder.Name, queue, embedder.ConcurrentMessageLimit, prefetch);
        }
    }
}
