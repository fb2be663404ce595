using AgentFlow.Messaging.Bus;
using AgentFlow.Messaging.Contracts;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace AgentFlow.Messaging.Orchestrator;

/// <summary>Tells whether some worker consumes a model's queue right now.</summary>
internal interface IWorkerPresence
{
    /// <summary>Workers consuming the model's queue; null when it cannot be known (the call goes ahead).</summary>
    Task<int?> CountWorkersAsync(string model, CancellationToken cancellationToken);

    /// <summary>What to tell the user when there is none.</summary>
    string Hint(string model);

    /// <summary>Workers consuming the embedder's queue; null when it cannot be known (the call goes ahead).</summary>
    Task<int?> CountEmbedderWorkersAsync(string embedder, CancellationToken cancellationToken);

    /// <summary>What to tell the user when no worker serves the embedder.</summary>
    string EmbedderHint(string embedder);
}

/// <summary>The models whose worker endpoints run in this process (the whole truth for the in-memory transport).</summary>
internal sealed class LocalModelRegistry
{
    private readonly HashSet<string> _models = new(StringComparer.Ordinal);

    /// <summary>How an embedder is registered (embedders and models have separate names).</summary>
    public static string EmbedderKey(string embedder) => "embedder:" + embedder;

    public void Add(string model)
    {
        lock (_models)
        {
            _models.Add(model);
        }
    }

    public IReadOnlyList<string> Models
    {
        get
        {
            lock (_models)
            {
                return [.. _models.Where(m => !m.StartsWith("embedder:", StringComparison.Ordinal)).Order(StringComparer.Ordinal)];
            }
        }
    }

    public bool Contains(string model)
    {
        lock (_models)
        {
            return _models.Contains(model);
        }
    }
}

internal sealed class InMemoryWorkerPresence(LocalModelRegistry registry) : IWorkerPresence
{
    public Task<int?> CountWorkersAsync(string model, CancellationToken cancellationToken) =>
        Task.FromResult<int?>(registry.Contains(model) ? 1 : 0);

    public string Hint(string model)
    {
        var models = registry.Models;
        return "the in-memory transport only reaches workers in this process"
            + (models.Count == 0 ? ", and this process hosts none" : $", which serves {string.Join(", ", models.Select(m => $"'{m}'"))}")
            + $"; host '{model}' here, or set {MessagingOptions.RabbitMqVariable} and start a worker for it";
    }

    public Task<int?> CountEmbedderWorkersAsync(string embedder, CancellationToken cancellationToken) =>
        Task.FromResult<int?>(registry.Contains(LocalModelRegistry.EmbedderKey(embedder)) ? 1 : 0);

    public string EmbedderHint(string embedder) =>
        $"the in-memory transport only reaches workers in this process; serve '{embedder}' here, or set {MessagingOptions.RabbitMqVariable} and start a worker with --embedders {embedder}";
}

/// <summary>Asks the broker for the consumer count of the model's queue (a passive declare: ~1 ms, creates nothing).</summary>
internal sealed class RabbitMqWorkerPresence(MessagingOptions options) : IWorkerPresence, IAsyncDisposable
{
    private readonly SemaphoreSlim _connectGate = new(1, 1);
    private IConnection? _connection;

    public Task<int?> CountWorkersAsync(string model, CancellationToken cancellationToken) =>
        CountConsumersAsync(ModelQueues.For(model), cancellationToken);

    public Task<int?> CountEmbedderWorkersAsync(string embedder, CancellationToken cancellationToken) =>
        CountConsumersAsync(ModelQueues.ForEmbedder(embedder), cancellationToken);

    public string EmbedderHint(string embedder) =>
        $"no process consumes queue '{ModelQueues.ForEmbedder(embedder)}' on {options.RedactedRabbitMqUri}; start one with: ./agentflow worker --embedders {embedder}";

    private async Task<int?> CountConsumersAsync(string queueName, CancellationToken cancellationToken)
    {
        var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        await using (channel.ConfigureAwait(false))
        {
            try
            {
                var queue = await channel.QueueDeclarePassiveAsync(queueName, cancellationToken).ConfigureAwait(false);
                return (int)queue.ConsumerCount;
            }
            catch (OperationInterruptedException ex) when (ex.ShutdownReason?.ReplyCode == 404)
            {
                return 0;
            }
        }
    }

    public string Hint(string model) =>
        $"no process consumes queue '{ModelQueues.For(model)}' on {options.RedactedRabbitMqUri}; start a worker hosting '{model}' on that broker";

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.DisposeAsync().ConfigureAwait(false);
        }

        _connectGate.Dispose();
    }

    private async Task<IConnection> ConnectAsync(CancellationToken cancellationToken)
    {
        if (_connection is { IsOpen: true } open)
        {
            return open;
        }

        await _connectGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_connection is { IsOpen: true } again)
            {
                return again;
            }

            if (_connection is not null)
            {
                await _connection.DisposeAsync().ConfigureAwait(false);
            }

            var endpoint = RabbitMqEndpoint.Parse(options.RabbitMqUri!);
            var factory = new ConnectionFactory
            {
                HostName = endpoint.Host,
                Port = endpoint.Port,
                VirtualHost = endpoint.VirtualHost,
                UserName = endpoint.UserName,
                Password = endpoint.Password,
                Ssl = new SslOption { Enabled = endpoint.UseTls, ServerName = endpoint.Host },
                AutomaticRecoveryEnabled = true,
            };
            _connection = await factory.CreateConnectionAsync("agentflow-presence", cancellationToken).ConfigureAwait(false);
            return _connection;
        }
        finally
        {
            _connectGate.Release();
        }
    }
}
