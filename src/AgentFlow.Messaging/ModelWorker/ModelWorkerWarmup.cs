using System.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Messaging.ModelWorker;

/// <summary>Loads the worker's models before the bus starts consuming (registered before MassTransit's hosted service).</summary>
internal sealed class ModelWorkerWarmup(ModelWorkerOptions options, ModelClientCache clients, ILogger<ModelWorkerWarmup> logger, EmbedderCache? embedders = null) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!options.LoadModelsAtStart)
        {
            return;
        }

        foreach (var model in options.Models)
        {
            var clock = Stopwatch.StartNew();
            await clients.GetAsync(model.Name, cancellationToken).ConfigureAwait(false);
            MessagingLog.ModelLoaded(logger, options.WorkerId, model.Name, clock.Elapsed.TotalMilliseconds);
        }

        foreach (var embedder in embedders is null ? [] : options.Embedders)
        {
            var clock = Stopwatch.StartNew();
            await embedders!.GetAsync(embedder.Name, cancellationToken).ConfigureAwait(false);
            MessagingLog.EmbedderLoaded(logger, options.WorkerId, embedder.Name, clock.Elapsed.TotalMilliseconds);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
