using AgentFlow.Messaging.Orchestrator;
using AgentFlow.Models;
using AgentFlow.Models.MiniLM;

namespace AgentFlow.Cli.Hosting;

/// <summary>
/// Embedders computed by workers over RabbitMQ (<c>agentflow worker --embedders NAME</c>), for an orchestrator whose
/// transport is RabbitMQ: one <see cref="IEmbeddingProvider"/> per provider name this host knows, each answering with a
/// <see cref="RemoteEmbeddingGenerator"/>. The orchestrator-only bus starts on the first load and stops on dispose.
/// </summary>
internal sealed class RemoteEmbedders(CliContext cli, ModelRegistry registry) : IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private ModelRuntime? _runtime;

    /// <summary>A remote provider standing in for each of <paramref name="local"/> (same names, so the registry's <c>provider:</c> still selects).</summary>
    public IReadOnlyList<IEmbeddingProvider> Providers(IEnumerable<IEmbeddingProvider> local) =>
        [.. local.Select(p => new Provider(p.Name, this))];

    public async ValueTask DisposeAsync()
    {
        if (_runtime is not null)
        {
            await _runtime.DisposeAsync().ConfigureAwait(false);
        }

        _gate.Dispose();
    }

    private async Task<RemoteChatClientFactory> FactoryAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _runtime ??= await ModelRuntime.StartOrchestratorAsync(cli, new ModelHost(registry, []), [], cancellationToken).ConfigureAwait(false);
            return _runtime.RemoteClients;
        }
        finally
        {
            _gate.Release();
        }
    }

    private sealed class Provider(string name, RemoteEmbedders owner) : IEmbeddingProvider
    {
        public string Name => name;

        // The worker checks and loads the embedder (its settings, files and keys are the worker's, not this process's).
        public IReadOnlyList<string> Check(ModelSpec spec) => [];

        public async Task<LoadedEmbedder> LoadAsync(ModelSpec spec, CancellationToken cancellationToken)
        {
            ArgumentNullException.ThrowIfNull(spec);
            var factory = await owner.FactoryAsync(cancellationToken).ConfigureAwait(false);
            var generator = factory.CreateEmbeddingGenerator(spec.Name);
            var minilm = spec.Provider == "minilm";
            return new LoadedEmbedder(
                spec,
                generator,
                minilm ? MiniLmEmbeddingGenerator.Dimensions : null,
                minilm ? new MiniLmTokenCounter() : null,
                $"{spec.Provider} embedder on remote workers (queue {Messaging.Contracts.ModelQueues.ForEmbedder(spec.Name)})");
        }
    }
}
