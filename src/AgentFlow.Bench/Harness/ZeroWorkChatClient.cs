using Microsoft.Extensions.AI;

namespace AgentFlow.Bench.Harness;

/// <summary>
/// The benchmark's measuring instrument: a chat client that answers every call at once with one short update (text,
/// usage, finish reason) and does no work, so whatever time a step takes beyond a call to it is the orchestrator's.
/// Never registered among the product's model providers: only <see cref="ZeroWorkModelProvider"/> hands it out.
/// </summary>
public sealed class ZeroWorkChatClient : IChatClient
{
    /// <summary>The text every call answers.</summary>
    public const string Answer = "ok";

    private static readonly ChatClientMetadata Metadata = new("agentflow-bench-zero-work", providerUri: null, defaultModelId: "zero");

    /// <summary>Calls answered so far (both entry points).</summary>
    public long Calls => Interlocked.Read(ref _calls);

    private long _calls;

    /// <inheritdoc />
    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _calls);
        return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, Answer))
        {
            FinishReason = ChatFinishReason.Stop,
            Usage = new UsageDetails { InputTokenCount = 1, OutputTokenCount = 1 },
        });
    }

    /// <inheritdoc />
    public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _calls);
        var update = new ChatResponseUpdate(ChatRole.Assistant, [new TextContent(Answer), new UsageContent(new UsageDetails { InputTokenCount = 1, OutputTokenCount = 1 })])
        {
            FinishReason = ChatFinishReason.Stop,
        };
        return new SingleUpdate(update);
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceKey is not null ? null : serviceType == typeof(ChatClientMetadata) ? Metadata : serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <inheritdoc />
    public void Dispose()
    {
    }

    /// <summary>A stream of one update that completes synchronously (no state machine, no scheduling).</summary>
    private sealed class SingleUpdate(ChatResponseUpdate update) : IAsyncEnumerable<ChatResponseUpdate>, IAsyncEnumerator<ChatResponseUpdate>
    {
        private int _position = -1;

        public ChatResponseUpdate Current => update;

        public IAsyncEnumerator<ChatResponseUpdate> GetAsyncEnumerator(CancellationToken cancellationToken = default) => this;

        public ValueTask<bool> MoveNextAsync() => ValueTask.FromResult(++_position == 0);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
