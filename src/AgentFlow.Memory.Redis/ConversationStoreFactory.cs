using AgentFlow.Memory.Local;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Memory.Redis;

/// <summary>Opens the conversation store <see cref="MemoryStoreOptions.Store"/> names.</summary>
public static class ConversationStoreFactory
{
    /// <summary>
    /// <see cref="MemoryStoreKind.Local"/>: <see cref="SqliteConversationStore"/> at <see cref="MemoryStoreOptions.ResolveDatabasePath"/>;
    /// <see cref="MemoryStoreKind.Redis"/>: <see cref="RedisConversationStore"/> connected to <see cref="MemoryStoreOptions.Connection"/>.
    /// </summary>
    /// <param name="options">Settings (see <see cref="MemoryStoreOptions.FromSettings"/>); validated first.</param>
    /// <param name="loggerFactory">Logging; none when null.</param>
    /// <param name="cancellationToken">Stops waiting for a Redis connection.</param>
    /// <exception cref="MemoryStoreConfigurationException">The options are invalid.</exception>
    /// <exception cref="MemoryStoreException">The database cannot be opened, or Redis cannot be reached (the message names host:port).</exception>
    public static async Task<IConversationStore> CreateAsync(
        MemoryStoreOptions options, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        return options.Store switch
        {
            MemoryStoreKind.Redis => await RedisConversationStore.ConnectAsync(options, loggerFactory, cancellationToken).ConfigureAwait(false),
            _ => SqliteConversationStore.Open(options, loggerFactory),
        };
    }

    /// <summary>Synchronous <see cref="CreateAsync"/>.</summary>
    /// <exception cref="MemoryStoreConfigurationException">The options are invalid.</exception>
    /// <exception cref="MemoryStoreException">The database cannot be opened, or Redis cannot be reached (the message names host:port).</exception>
    public static IConversationStore Create(MemoryStoreOptions options, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        return options.Store switch
        {
            MemoryStoreKind.Redis => RedisConversationStore.Connect(options, loggerFactory),
            _ => SqliteConversationStore.Open(options, loggerFactory),
        };
    }
}
