using System.Collections.Concurrent;
using AgentFlow.Messaging.Bus;
using MassTransit;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Messaging.Orchestrator;

/// <summary>
/// Hands out one <see cref="RemoteChatClient"/> per model name: the orchestrator's side of the messaging seam.
/// Registered by <c>AddAgentFlowOrchestrator</c> and <c>AddAgentFlowEmbedded</c>.
/// </summary>
public sealed class RemoteChatClientFactory
{
    private readonly ConcurrentDictionary<string, RemoteChatClient> _clients = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, RemoteEmbeddingGenerator> _embedders = new(StringComparer.Ordinal);

    internal RemoteChatClientFactory(IBus bus, MessagingOptions options, ChatStepStreamRouter router, IWorkerPresence presence, TimeProvider time, ILogger<RemoteChatClient> logger)
    {
        Bus = bus;
        Options = options;
        Router = router;
        Presence = presence;
        Time = time;
        Logger = logger;
    }

    internal IBus Bus { get; }

    internal MessagingOptions Options { get; }

    internal ChatStepStreamRouter Router { get; }

    internal IWorkerPresence Presence { get; }

    internal TimeProvider Time { get; }

    internal ILogger Logger { get; }

    /// <summary>The client that sends steps for <paramref name="model"/> to the workers hosting it (one per model, reused).</summary>
    /// <exception cref="ArgumentException">The model name cannot be a queue name.</exception>
    public RemoteChatClient Create(string model)
    {
        _ = Contracts.ModelQueues.For(model);
        return _clients.GetOrAdd(model, m => new RemoteChatClient(m, this));
    }

    /// <summary>Whether some worker serves <paramref name="model"/> now: true, false, or null when it cannot be known.</summary>
    public async Task<bool?> IsServedAsync(string model, CancellationToken cancellationToken)
    {
        var count = await Presence.CountWorkersAsync(model, cancellationToken).ConfigureAwait(false);
        return count is null ? null : count > 0;
    }

    /// <summary>
    /// The generator that sends embedding requests for <paramref name="embedder"/> to the workers serving it
    /// (<c>agentflow worker --embedders NAME</c>; one per embedder, reused).
    /// </summary>
    /// <exception cref="ArgumentException">The embedder name cannot be a queue name.</exception>
    public RemoteEmbeddingGenerator CreateEmbeddingGenerator(string embedder)
    {
        _ = Contracts.ModelQueues.ForEmbedder(embedder);
        return _embedders.GetOrAdd(embedder, e => new RemoteEmbeddingGenerator(e, this));
    }

    /// <summary>Whether some worker serves embedder <paramref name="embedder"/> now: true, false, or null when it cannot be known.</summary>
    public async Task<bool?> IsEmbedderServedAsync(string embedder, CancellationToken cancellationToken)
    {
        var count = await Presence.CountEmbedderWorkersAsync(embedder, cancellationToken).ConfigureAwait(false);
        return count is null ? null : count > 0;
    }

    /// <summary><see cref="Create"/> as an <see cref="IChatClient"/>.</summary>
    public IChatClient GetChatClient(string model) => Create(model);
}
