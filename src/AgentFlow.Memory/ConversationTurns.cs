namespace AgentFlow.Memory;

/// <summary>Shared checks and message building for store implementations.</summary>
internal static class ConversationTurns
{
    /// <summary>Longest time to live a write may set.</summary>
    public static readonly TimeSpan MaxTtl = TimeSpan.FromDays(3650);

    /// <summary>The time to live of a write: null means none (kept until cleared).</summary>
    public static TimeSpan? EffectiveTtl(TimeSpan? ttl, TimeSpan? defaultTtl)
    {
        var effective = ttl ?? defaultTtl;
        if (effective is null || effective == Timeout.InfiniteTimeSpan)
        {
            return null;
        }

        if (effective <= TimeSpan.Zero || effective > MaxTtl)
        {
            throw new ArgumentOutOfRangeException(nameof(ttl), effective,
                "A conversation's time to live must be positive and at most 3650 days (Timeout.InfiniteTimeSpan keeps it).");
        }

        return effective;
    }

    /// <summary>The two messages of <paramref name="turn"/> (sequence 0: the store sets it).</summary>
    public static (ConversationMessage User, ConversationMessage Assistant) Messages(ConversationTurn turn, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(turn);
        ArgumentNullException.ThrowIfNull(turn.UserMessage, nameof(turn) + "." + nameof(turn.UserMessage));
        ArgumentNullException.ThrowIfNull(turn.AssistantMessage, nameof(turn) + "." + nameof(turn.AssistantMessage));
        var timestamp = (turn.Timestamp ?? time.GetUtcNow()).ToUniversalTime();
        var turnId = Guid.NewGuid().ToString("N");
        var user = new ConversationMessage
        {
            Role = ConversationRole.User,
            Content = turn.UserMessage,
            StepId = turn.StepId,
            RunId = turn.RunId,
            Model = turn.Model,
            Timestamp = timestamp,
            TurnId = turnId,
        };
        return (user, user with { Role = ConversationRole.Assistant, Content = turn.AssistantMessage });
    }
}
