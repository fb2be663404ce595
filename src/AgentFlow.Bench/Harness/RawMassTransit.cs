using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Bench.Harness;

/// <summary>The raw baseline's request: a prompt-sized payload.</summary>
/// <param name="Text">Payload.</param>
public sealed record BenchPing(string Text);

/// <summary>The raw baseline's response.</summary>
/// <param name="Text">Payload.</param>
public sealed record BenchPong(string Text);

/// <summary>Answers a ping at once.</summary>
public sealed class BenchPingConsumer : IConsumer<BenchPing>
{
    /// <inheritdoc />
    public Task Consume(ConsumeContext<BenchPing> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.RespondAsync(new BenchPong(ZeroWorkChatClient.Answer));
    }
}

/// <summary>
/// The baseline for the bus scenarios: plain MassTransit request/response (one consumer that answers at once) on the
/// same transport, with the same endpoint concurrency as AgentFlow's worker.
/// </summary>
internal sealed class RawMassTransit : IAsyncDisposable
{
    private const string Queue = "agentflow.bench.ping";
    private readonly IHost _host;
    private readonly IRequestClient<BenchPing> _client;

    private RawMassTransit(IHost host)
    {
        _host = host;
        _client = host.Services.GetRequiredService<IBus>().CreateRequestClient<BenchPing>(new Uri($"queue:{Queue}"));
    }

    public static async Task<RawMassTransit> StartAsync(Uri? rabbitMq, int concurrency, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var host = await AgentFlowHarness.StartHostAsync(loggers, services => services.AddMassTransit(x =>
        {
            void Endpoint(IBusFactoryConfigurator cfg) => cfg.ReceiveEndpoint(Queue, e =>
            {
                e.ConfigureConsumeTopology = false;
                e.PrefetchCount = concurrency;
                e.ConcurrentMessageLimit = concurrency;
                e.Consumer(() => new BenchPingConsumer());
            });

            if (rabbitMq is null)
            {
                x.UsingInMemory((_, cfg) => Endpoint(cfg));
            }
            else
            {
                x.UsingRabbitMq((_, cfg) =>
                {
                    var user = Uri.UnescapeDataString(rabbitMq.UserInfo.Split(':')[0] is { Length: > 0 } u ? u : "guest");
                    var password = rabbitMq.UserInfo.Contains(':', StringComparison.Ordinal) ? Uri.UnescapeDataString(rabbitMq.UserInfo.Split(':', 2)[1]) : "guest";
                    var vhost = rabbitMq.AbsolutePath.Trim('/') is { Length: > 0 } v ? Uri.UnescapeDataString(v) : "/";
                    cfg.Host(rabbitMq.Host, (ushort)(rabbitMq.IsDefaultPort || rabbitMq.Port <= 0 ? 5672 : rabbitMq.Port), vhost, "agentflow-bench-raw", h =>
                    {
                        h.Username(user);
                        h.Password(password);
                    });
                    Endpoint(cfg);
                });
            }
        }), cancellationToken).ConfigureAwait(false);
        return new RawMassTransit(host);
    }

    /// <summary>One request/response round trip.</summary>
    public async Task CallAsync(CancellationToken cancellationToken) =>
        _ = await _client.GetResponse<BenchPong>(new BenchPing("Continue after: ok"), cancellationToken).ConfigureAwait(false);

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _host.StopAsync(stop.Token).ConfigureAwait(false);
        _host.Dispose();
    }
}
