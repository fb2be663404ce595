namespace AgentFlow.Memory;

/// <summary>
/// Where conversations live between steps, runs and processes. Every operation is safe to call concurrently, from
/// several threads and several processes (or machines, for a server-backed store).
/// </summary>
/// <remarks>
/// Conversation ids are 1 to <see cref="ConversationIds.MaxLength"/> characters without control characters; anything
/// else fails with <see cref="ArgumentException"/>. Failures of the store itself (corrupt entry, database or server
/// unreachable, connection lost mid-operation) throw <see cref="MemoryStoreException"/>; nothing is ever skipped silently.
/// </remarks>
public interface IConversationStore : IAsyncDisposable
{
    /// <summary>Where the store keeps its data, safe to show and log (a file path, or Redis endpoints without password).</summary>
    string Description { get; }

    /// <summary>
    /// Appends a turn atomically: both messages or none, next to each other, never interleaved with another writer's
    /// turn. Refreshes the conversation's time to live.
    /// </summary>
    /// <param name="conversationId">The conversation.</param>
    /// <param name="turn">The prompt and the answer.</param>
    /// <param name="ttl">
    /// How long the whole conversation is kept after this write. Null: the store's <see cref="MemoryStoreOptions.DefaultTtl"/>;
    /// <see cref="Timeout.InfiniteTimeSpan"/>: kept until cleared. Otherwise positive and at most 3650 days.
    /// </param>
    /// <param name="cancellationToken">Stops waiting; a write already sent may still complete.</param>
    /// <returns>The two messages as stored (user, then assistant), with their sequence numbers.</returns>
    Task<IReadOnlyList<ConversationMessage>> AppendAsync(
        string conversationId, ConversationTurn turn, TimeSpan? ttl = null, CancellationToken cancellationToken = default);

    /// <summary>Every message of the conversation, oldest first; empty when it does not exist or has expired.</summary>
    /// <param name="conversationId">The conversation.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <exception cref="MemoryStoreException">An entry is corrupt (the message names its key), or the store failed.</exception>
    Task<IReadOnlyList<ConversationMessage>> ReadAsync(string conversationId, CancellationToken cancellationToken = default);

    /// <summary>
    /// The newest <paramref name="count"/> messages of the conversation, oldest first (all of them when it has fewer):
    /// what a message window needs, without reading a long conversation whole.
    /// </summary>
    /// <param name="conversationId">The conversation.</param>
    /// <param name="count">How many messages, at least 1.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <exception cref="MemoryStoreException">An entry is corrupt (the message names its key), or the store failed.</exception>
    Task<IReadOnlyList<ConversationMessage>> ReadLastAsync(string conversationId, int count, CancellationToken cancellationToken = default);

    /// <summary>Removes the conversation (corrupt entries included).</summary>
    /// <param name="conversationId">The conversation.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>How many messages were removed (0 when there was none).</returns>
    Task<long> ClearAsync(string conversationId, CancellationToken cancellationToken = default);

    /// <summary>Ids of the conversations that exist and have not expired, in ordinal order.</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    Task<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken = default);
}
