using AgentFlow.Messaging.Bus;
using AgentFlow.Messaging.Contracts;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace AgentFlow.Messaging.Tests.Support;

/// <summary>Runs only when <c>AGENTFLOW_TEST_RABBITMQ</c> names a broker (e.g. amqp://guest:guest@127.0.0.1:5672/); skipped with the reason otherwise.</summary>
public sealed class RabbitMqFactAttribute : FactAttribute
{
    public const string Variable = "AGENTFLOW_TEST_RABBITMQ";

    public RabbitMqFactAttribute()
    {
        if (string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(Variable)))
        {
            Skip = $"needs a RabbitMQ broker: set {Variable}=amqp://guest:guest@127.0.0.1:5672/";
        }
    }
}

/// <summary>Broker-side checks and cleanup for the RabbitMQ tests.</summary>
public sealed class RabbitMqBroker
{
    private readonly List<string> _models = [];
    private readonly List<string> _embedders = [];
    private IConnection? _connection;

    public static Uri Uri => new(Environment.GetEnvironmentVariable(RabbitMqFactAttribute.Variable)!);

    public static MessagingOptions Options(TimeSpan? timeout = null) => new()
    {
        Transport = MessagingTransport.RabbitMq,
        RabbitMqUri = Uri,
        RequestTimeout = timeout ?? TimeSpan.FromSeconds(60),
    };

    /// <summary>A model name used by one test only (its queues are deleted on dispose).</summary>
    public string NewModel(string prefix)
    {
        var name = $"{prefix}-{Guid.NewGuid().ToString("N")[..8]}";
        _models.Add(name);
        return name;
    }

    /// <summary>An embedder name used by one test only (its queues are deleted on dispose).</summary>
    public string NewEmbedder(string prefix)
    {
        var name = $"{prefix}-{Guid.NewGuid().ToString("N")[..8]}";
        _embedders.Add(name);
        return name;
    }

    /// <summary>A registry model name (e.g. <c>tiny</c>) whose queues this test uses and deletes on dispose.</summary>
    public string Track(string model)
    {
        _models.Add(model);
        return model;
    }

    public async Task<uint?> MessageCountAsync(string queue)
    {
        await using var channel = await (await ConnectAsync()).CreateChannelAsync();
        try
        {
            return (await channel.QueueDeclarePassiveAsync(queue)).MessageCount;
        }
        catch (OperationInterruptedException)
        {
            return null;
        }
    }

    public async Task SendRawAsync(string queue, byte[] body, string contentType)
    {
        await using var channel = await (await ConnectAsync()).CreateChannelAsync();
        var properties = new BasicProperties { ContentType = contentType, MessageId = Guid.NewGuid().ToString(), Persistent = true };
        await channel.BasicPublishAsync(exchange: string.Empty, routingKey: queue, mandatory: true, basicProperties: properties, body: body);
    }

    /// <summary>
    /// A consumer on <paramref name="queue"/> that takes one delivery and never acknowledges it, like a worker process
    /// killed the moment it took a step; disposing it closes its channel, and the broker puts the message back
    /// (flagged redelivered). <see cref="Holder.Took"/> completes when the delivery arrives.
    /// </summary>
    public async Task<Holder> HoldOneAsync(string queue)
    {
        var channel = await (await ConnectAsync()).CreateChannelAsync();
        await channel.BasicQosAsync(0, 1, false);
        var took = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var consumer = new RabbitMQ.Client.Events.AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, _) =>
        {
            took.TrySetResult();
            return Task.CompletedTask;
        };
        await channel.BasicConsumeAsync(queue, autoAck: false, consumer);
        return new Holder(channel, took.Task);
    }

    /// <summary>See <see cref="HoldOneAsync"/>.</summary>
    public sealed class Holder(IChannel channel, Task took) : IAsyncDisposable
    {
        public Task Took { get; } = took;

        public async ValueTask DisposeAsync()
        {
            await channel.CloseAsync();
            await channel.DisposeAsync();
        }
    }

    public async Task CleanupAsync()
    {
        if (_connection is null && _models.Count == 0 && _embedders.Count == 0)
        {
            return;
        }

        var connection = await ConnectAsync();
        foreach (var queue in _models.Select(ModelQueues.For).Concat(_embedders.Select(ModelQueues.ForEmbedder)))
        {
            foreach (var name in new[] { queue, queue + "_error", queue + "_skipped" })
            {
                await using var channel = await connection.CreateChannelAsync();
                await channel.QueueDeleteAsync(name);
                await using var channel2 = await connection.CreateChannelAsync();
                await channel2.ExchangeDeleteAsync(name);
            }
        }

        await connection.DisposeAsync();
    }

    private async Task<IConnection> ConnectAsync() =>
        _connection ??= await new ConnectionFactory { Uri = Uri }.CreateConnectionAsync("agentflow-tests");
}
