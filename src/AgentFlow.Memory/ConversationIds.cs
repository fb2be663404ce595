namespace AgentFlow.Memory;

/// <summary>What a conversation id may be.</summary>
public static class ConversationIds
{
    /// <summary>Longest conversation id, in UTF-16 characters.</summary>
    public const int MaxLength = 512;

    /// <summary>Why <paramref name="conversationId"/> cannot be used; null when it can.</summary>
    public static string? Problem(string? conversationId)
    {
        if (string.IsNullOrWhiteSpace(conversationId))
        {
            return "the conversation id is empty";
        }

        if (conversationId.Length > MaxLength)
        {
            return $"the conversation id is {conversationId.Length} characters long; at most {MaxLength} are allowed";
        }

        foreach (var c in conversationId)
        {
            if (char.IsControl(c))
            {
                return "the conversation id contains a control character";
            }
        }

        return null;
    }

    /// <summary>Throws <see cref="ArgumentException"/> when <paramref name="conversationId"/> cannot be used.</summary>
    public static void ThrowIfInvalid(string? conversationId)
    {
        if (Problem(conversationId) is { } problem)
        {
            throw new ArgumentException($"Invalid conversation id: {problem}.", nameof(conversationId));
        }
    }
}
