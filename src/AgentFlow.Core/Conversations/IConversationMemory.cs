namespace AgentFlow.Conversations;

/// <summary>
/// Where a workflow's conversation lives between runs (a local on-disk store by default, Redis when configured). The
/// core only reads and appends; stores live in AgentFlow.Memory / AgentFlow.Memory.Redis.
/// </summary>
public interface IConversationMemory
{
    /// <summary>Every message of <paramref name="conversationId"/> in order (empty for a new conversation).</summary>
    Task<IReadOnlyList<ConversationEntry>> ReadAsync(string conversationId, CancellationToken cancellationToken);

    /// <summary>The newest <paramref name="count"/> messages of <paramref name="conversationId"/> in order (all when it has fewer).</summary>
    Task<IReadOnlyList<ConversationEntry>> ReadLastAsync(string conversationId, int count, CancellationToken cancellationToken);

    /// <summary>Appends one turn — the step's prompt and the model's answer — atomically, refreshing the TTL.</summary>
    Task AppendTurnAsync(string conversationId, ConversationEntry user, ConversationEntry assistant, TimeSpan? ttl, CancellationToken cancellationToken);
}

/// <summary>One message of a conversation.</summary>
/// <param name="Role"><c>user</c> or <c>assistant</c>.</param>
/// <param name="Content">The text.</param>
/// <param name="StepId">The step that wrote it.</param>
/// <param name="RunId">The run that wrote it.</param>
/// <param name="Model">The model that answered (or was asked).</param>
/// <param name="Timestamp">When it was written.</param>
public sealed record ConversationEntry(string Role, string Content, string StepId, string RunId, string Model, DateTimeOffset Timestamp);

/// <summary>Chooses which prior messages a step sees: whole turns, newest first, within a message or token budget.</summary>
public static class ConversationWindow
{
    /// <summary>
    /// The latest whole turns (user + assistant) of <paramref name="entries"/> that fit <paramref name="maxMessages"/>
    /// or <paramref name="maxTokens"/> (counted with <paramref name="countTokens"/>), oldest first.
    /// </summary>
    public static IReadOnlyList<ConversationEntry> Select(
        IReadOnlyList<ConversationEntry> entries, int? maxMessages, int? maxTokens, Func<string, int>? countTokens)
    {
        ArgumentNullException.ThrowIfNull(entries);
        if (maxTokens is not null && countTokens is null)
        {
            throw new ArgumentException("A token window needs the model's tokenizer.", nameof(countTokens));
        }

        var turns = new List<List<ConversationEntry>>();
        foreach (var entry in entries)
        {
            if (entry.Role == "user" || turns.Count == 0)
            {
                turns.Add([]);
            }

            turns[^1].Add(entry);
        }

        var kept = new List<List<ConversationEntry>>();
        var messages = 0;
        var tokens = 0;
        for (var i = turns.Count - 1; i >= 0; i--)
        {
            var turn = turns[i];
            var turnTokens = maxTokens is null ? 0 : turn.Sum(m => countTokens!(m.Content));
            if ((maxMessages is { } mm && messages + turn.Count > mm) || (maxTokens is { } mt && tokens + turnTokens > mt))
            {
                break;
            }

            kept.Add(turn);
            messages += turn.Count;
            tokens += turnTokens;
        }

        kept.Reverse();
        return [.. kept.SelectMany(t => t)];
    }
}
