using AgentFlow.Messaging.Bus;
using AgentFlow.Messaging.ModelWorker;
using AgentFlow.Messaging.Orchestrator;
using MassTransit;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Messaging.Tests.Support;

/// <summary>A started host with the AgentFlow bus in one of its roles; stopped (gracefully) on dispose.</summary>
public sealed class BusHost : IAsyncDisposable
{
    private readonly IHost _host;
    private bool _stopped;

    private BusHost(IHost host) => _host = host;

    public IServiceProvider Services => _host.Services;

    public IBus Bus => _host.Services.GetRequiredService<IBus>();

    public RemoteChatClientFactory Models => _host.Services.GetRequiredService<RemoteChatClientFactory>();

    public static Task<BusHost> EmbeddedAsync(MessagingOptions options, ModelWorkerOptions worker, IChatClient client) =>
        StartAsync(s => s.AddAgentFlowEmbedded(options, worker, (_, _) => Task.FromResult(client)));

    public static Task<BusHost> WorkerAsync(MessagingOptions options, ModelWorkerOptions worker, IChatClient client) =>
        StartAsync(s => s.AddAgentFlowWorker(options, worker, (_, _) => Task.FromResult(client)));

    public static Task<BusHost> OrchestratorAsync(MessagingOptions options) =>
        StartAsync(s => s.AddAgentFlowOrchestrator(options));

    public static async Task<BusHost> StartAsync(Action<IServiceCollection> configure)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddLogging(l => l.SetMinimumLevel(LogLevel.Warning));
        configure(builder.Services);
        var host = builder.Build();
        await host.StartAsync();
        return new BusHost(host);
    }

    public async Task StopAsync()
    {
        if (!_stopped)
        {
            _stopped = true;
            await _host.StopAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _host.Dispose();
    }
}
