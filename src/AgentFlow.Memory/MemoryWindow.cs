namespace AgentFlow.Memory;

/// <summary>
/// Picks the latest part of a conversation to send to a model. Both windows keep whole turns (a prompt with its
/// answer), newest first, and stop at the first older turn that does not fit, so the result is always the unbroken
/// latest stretch of the conversation, oldest first.
/// </summary>
public static class MemoryWindow
{
    /// <summary>The latest whole turns holding at most <paramref name="maxMessages"/> messages.</summary>
    /// <param name="messages">The conversation, oldest first (as <see cref="IConversationStore.ReadAsync"/> returns it).</param>
    /// <param name="maxMessages">Most messages to keep; at least 1. An odd limit keeps one message less (turns are whole).</param>
    /// <returns>The kept messages, oldest first.</returns>
    public static IReadOnlyList<ConversationMessage> LastMessages(IReadOnlyList<ConversationMessage> messages, int maxMessages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxMessages, 1);
        return Take(messages, maxMessages, static turn => turn.Count);
    }

    /// <summary>The latest whole turns whose messages count at most <paramref name="maxTokens"/> tokens.</summary>
    /// <param name="messages">The conversation, oldest first.</param>
    /// <param name="maxTokens">Token budget; at least 1.</param>
    /// <param name="countTokens">Counts the tokens of one message's content (the model's tokenizer).</param>
    /// <param name="tokensPerMessage">Tokens the chat template adds around each message. Default: 0.</param>
    /// <returns>The kept messages, oldest first; empty when even the latest turn is over budget.</returns>
    public static IReadOnlyList<ConversationMessage> LastTokens(
        IReadOnlyList<ConversationMessage> messages, int maxTokens, Func<string, int> countTokens, int tokensPerMessage = 0)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ArgumentNullException.ThrowIfNull(countTokens);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(tokensPerMessage);
        return Take(messages, maxTokens, turn =>
        {
            long cost = 0;
            foreach (var message in turn)
            {
                var count = countTokens(message.Content);
                if (count < 0)
                {
                    throw new InvalidOperationException($"countTokens returned {count} for message {message.Sequence}; token counts cannot be negative.");
                }

                cost += count + tokensPerMessage;
            }

            return cost;
        });
    }

    /// <summary>
    /// The conversation cut into turns: consecutive messages sharing a <see cref="ConversationMessage.TurnId"/>, oldest first.
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<ConversationMessage>> Turns(IReadOnlyList<ConversationMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var turns = new List<IReadOnlyList<ConversationMessage>>();
        List<ConversationMessage>? current = null;
        foreach (var message in messages)
        {
            if (current is null || !string.Equals(current[0].TurnId, message.TurnId, StringComparison.Ordinal))
            {
                current = [];
                turns.Add(current);
            }

            current.Add(message);
        }

        return turns;
    }

    private static List<ConversationMessage> Take(
        IReadOnlyList<ConversationMessage> messages, long budget, Func<IReadOnlyList<ConversationMessage>, long> cost)
    {
        var turns = Turns(messages);
        var first = turns.Count;
        long used = 0;
        for (var i = turns.Count - 1; i >= 0; i--)
        {
            var turnCost = cost(turns[i]);
            if (used + turnCost > budget)
            {
                break;
            }

            used += turnCost;
            first = i;
        }

        var kept = new List<ConversationMessage>();
        for (var i = first; i < turns.Count; i++)
        {
            kept.AddRange(turns[i]);
        }

        return kept;
    }
}
