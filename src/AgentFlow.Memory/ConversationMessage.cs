namespace AgentFlow.Memory;

/// <summary>Who wrote a conversation message.</summary>
public enum ConversationRole
{
    /// <summary>The prompt a step sent (stored as <c>"user"</c>).</summary>
    User = 0,

    /// <summary>The model's answer (stored as <c>"assistant"</c>).</summary>
    Assistant = 1,
}

/// <summary>One stored message of a conversation.</summary>
public sealed record ConversationMessage
{
    /// <summary>Who wrote it.</summary>
    public required ConversationRole Role { get; init; }

    /// <summary>The text.</summary>
    public required string Content { get; init; }

    /// <summary>Id of the workflow step that wrote the turn; null when not recorded.</summary>
    public string? StepId { get; init; }

    /// <summary>Id of the run that wrote the turn; null when not recorded.</summary>
    public string? RunId { get; init; }

    /// <summary>Model that answered (registry name); null when not recorded.</summary>
    public string? Model { get; init; }

    /// <summary>When the turn was written (UTC, from the store's clock unless the turn carried its own).</summary>
    public required DateTimeOffset Timestamp { get; init; }

    /// <summary>
    /// 1-based position of the message in the conversation: the user message of a turn is <c>n</c>, its answer
    /// <c>n + 1</c>. Positions restart at 1 after the conversation is cleared or expires.
    /// </summary>
    public long Sequence { get; init; }

    /// <summary>Id shared by the two messages of one turn (32 hex digits); windowing keeps or drops a turn whole.</summary>
    public required string TurnId { get; init; }
}

/// <summary>What one step adds to a conversation: its prompt and the model's answer, stored together or not at all.</summary>
/// <param name="UserMessage">The prompt the step sent.</param>
/// <param name="AssistantMessage">The model's answer.</param>
public sealed record ConversationTurn(string UserMessage, string AssistantMessage)
{
    /// <summary>Id of the step that produced the turn. Default: null.</summary>
    public string? StepId { get; init; }

    /// <summary>Id of the run that produced the turn. Default: null.</summary>
    public string? RunId { get; init; }

    /// <summary>Model that answered. Default: null.</summary>
    public string? Model { get; init; }

    /// <summary>Timestamp to record. Default: null, the store's clock at the time of the write.</summary>
    public DateTimeOffset? Timestamp { get; init; }
}
