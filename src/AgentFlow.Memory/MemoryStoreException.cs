namespace AgentFlow.Memory;

/// <summary>
/// A conversation store failed: an entry is corrupt, the database or server cannot be reached, or an operation was
/// interrupted. <see cref="Key"/> names the conversation's key when the failure concerns one.
/// </summary>
public class MemoryStoreException : AgentFlowException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What went wrong, for a person; names the key and the store.</param>
    /// <param name="key">The key concerned (the Redis key, or the conversation id in the local store); null when none.</param>
    /// <param name="innerException">The cause, if any.</param>
    public MemoryStoreException(string message, string? key = null, Exception? innerException = null)
        : base(message, innerException) => Key = key;

    /// <summary>The key concerned: the Redis key (<c>agentflow:conv:&lt;id&gt;</c>) or the local store's conversation id; null when none.</summary>
    public string? Key { get; }
}

/// <summary>The memory settings cannot be used (unknown store, missing or invalid connection, out-of-range option).</summary>
public sealed class MemoryStoreConfigurationException : MemoryStoreException
{
    /// <summary>Creates the exception.</summary>
    public MemoryStoreConfigurationException(string message, Exception? innerException = null) : base(message, null, innerException) { }
}
