using AgentFlow.Conversations;

namespace AgentFlow.Memory;

/// <summary>
/// The core's <see cref="IConversationMemory"/> over an <see cref="IConversationStore"/>: what the workflow runner reads
/// and appends through. Does not own the store (dispose the store yourself).
/// </summary>
public sealed class StoreConversationMemory : IConversationMemory
{
    /// <summary>Wraps <paramref name="store"/>.</summary>
    public StoreConversationMemory(IConversationStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        Store = store;
    }

    /// <summary>The store written to.</summary>
    public IConversationStore Store { get; }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ConversationEntry>> ReadAsync(string conversationId, CancellationToken cancellationToken) =>
        Entries(await Store.ReadAsync(conversationId, cancellationToken).ConfigureAwait(false));

    /// <inheritdoc />
    public async Task<IReadOnlyList<ConversationEntry>> ReadLastAsync(string conversationId, int count, CancellationToken cancellationToken) =>
        Entries(await Store.ReadLastAsync(conversationId, count, cancellationToken).ConfigureAwait(false));

    private static ConversationEntry[] Entries(IReadOnlyList<ConversationMessage> messages)
    {
        var entries = new ConversationEntry[messages.Count];
        for (var i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            entries[i] = new ConversationEntry(ConversationMessageCodec.RoleName(m.Role), m.Content, m.StepId ?? string.Empty,
                m.RunId ?? string.Empty, m.Model ?? string.Empty, m.Timestamp);
        }

        return entries;
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException"><paramref name="user"/> is not a <c>user</c> entry or <paramref name="assistant"/> not an <c>assistant</c> one.</exception>
    public Task AppendTurnAsync(
        string conversationId, ConversationEntry user, ConversationEntry assistant, TimeSpan? ttl, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(assistant);
        if (!string.Equals(user.Role, "user", StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"The first message of a turn must have role 'user' (was '{user.Role}').", nameof(user));
        }

        if (!string.Equals(assistant.Role, "assistant", StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"The second message of a turn must have role 'assistant' (was '{assistant.Role}').", nameof(assistant));
        }

        var turn = new ConversationTurn(user.Content, assistant.Content)
        {
            StepId = NullIfEmpty(user.StepId),
            RunId = NullIfEmpty(user.RunId),
            Model = NullIfEmpty(assistant.Model) ?? NullIfEmpty(user.Model),
            Timestamp = user.Timestamp == default ? null : user.Timestamp,
        };
        return Store.AppendAsync(conversationId, turn, ttl, cancellationToken);
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}

/// <summary>Adapters of <see cref="IConversationStore"/>.</summary>
public static class ConversationStoreExtensions
{
    /// <summary>The store as the core's <see cref="IConversationMemory"/> (not owning it).</summary>
    public static IConversationMemory AsConversationMemory(this IConversationStore store) => new StoreConversationMemory(store);
}
