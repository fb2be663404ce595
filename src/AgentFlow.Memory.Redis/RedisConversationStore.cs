using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace AgentFlow.Memory.Redis;

/// <summary>
/// Conversations in Redis: one list per conversation at <c>&lt;prefix&gt;&lt;id&gt;</c> (default <c>agentflow:conv:&lt;id&gt;</c>),
/// one JSON message per element. A turn is appended by one Lua script (<c>RPUSH key user assistant</c> then
/// <c>PEXPIRE</c>, or <c>PERSIST</c> when it is kept), so both messages land together, never interleaved with another
/// writer's, and the time to live is refreshed in the same atomic step.
/// </summary>
/// <remarks>
/// The first connection must succeed (<see cref="ConnectAsync"/> fails at once, naming the servers). Afterwards
/// StackExchange.Redis reconnects by itself: a command issued while the connection is down waits for it up to
/// <see cref="MemoryStoreOptions.OperationTimeout"/>, then fails with <see cref="MemoryStoreException"/>. A command whose
/// connection dropped after it was sent fails too, although the server may have applied it: an append that failed
/// this way may or may not be stored.
/// </remarks>
public sealed class RedisConversationStore : IConversationStore
{
    // KEYS[1] list; ARGV[1], ARGV[2] the two messages; ARGV[3] time to live in ms (0: kept). Returns the new length.
    private const string AppendScript = """
        local n = redis.call('RPUSH', KEYS[1], ARGV[1], ARGV[2])
        local ttl = tonumber(ARGV[3])
        if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) else redis.call('PERSIST', KEYS[1]) end
        return n
        """;

    // Removes the key whatever it holds (a corrupt key of another type included); returns the messages removed.
    private const string ClearScript = """
        local t = redis.call('TYPE', KEYS[1])['ok']
        if t == 'none' then return 0 end
        local n = 0
        if t == 'list' then n = redis.call('LLEN', KEYS[1]) end
        redis.call('DEL', KEYS[1])
        return n
        """;

    private readonly IConnectionMultiplexer _connection;
    private readonly bool _ownsConnection;
    private readonly string _keyPrefix;
    private readonly TimeSpan? _defaultTtl;
    private readonly TimeProvider _time;
    private readonly string? _password;
    private readonly ILogger _logger;

    /// <summary>A store over a connection the caller owns (it is not closed with the store).</summary>
    /// <param name="connection">A connected multiplexer.</param>
    /// <param name="options">Key prefix, default time to live and clock; defaults when null. Connection settings are not read.</param>
    /// <param name="loggerFactory">Logging; none when null.</param>
    public RedisConversationStore(IConnectionMultiplexer connection, MemoryStoreOptions? options = null, ILoggerFactory? loggerFactory = null)
        : this(connection, ownsConnection: false, options ?? new MemoryStoreOptions(), DescribeConnection(connection), null, loggerFactory)
    {
    }

    private RedisConversationStore(
        IConnectionMultiplexer connection, bool ownsConnection, MemoryStoreOptions options, string endpoints, string? password, ILoggerFactory? loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var problems = options.Validate().Where(p => !p.Contains("needs a connection", StringComparison.Ordinal)).ToList();
        if (problems.Count > 0)
        {
            throw new MemoryStoreConfigurationException(string.Join(Environment.NewLine, problems));
        }

        _connection = connection;
        _ownsConnection = ownsConnection;
        _keyPrefix = options.KeyPrefix;
        _defaultTtl = options.DefaultTtl;
        _time = options.TimeProvider;
        _password = password;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<RedisConversationStore>();
        Endpoints = endpoints;
        _connection.ConnectionFailed += OnConnectionFailed;
        _connection.ConnectionRestored += OnConnectionRestored;
    }

    /// <summary>The servers, <c>host:port</c> comma-separated (never the password).</summary>
    public string Endpoints { get; }

    /// <inheritdoc />
    public string Description => "redis:" + Endpoints;

    /// <summary>Connects to the Redis server <see cref="MemoryStoreOptions.Connection"/> names.</summary>
    /// <param name="options">Settings; <see cref="MemoryStoreOptions.Connection"/> is required.</param>
    /// <param name="loggerFactory">Logging; none when null.</param>
    /// <param name="cancellationToken">Stops waiting for the connection.</param>
    /// <exception cref="MemoryStoreConfigurationException">The options or the connection string are invalid.</exception>
    /// <exception cref="MemoryStoreException">No server answered; the message names <c>host:port</c>, never the password.</exception>
    public static async Task<RedisConversationStore> ConnectAsync(
        MemoryStoreOptions options, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        var configuration = RedisConnection.Configure(options);
        var endpoints = RedisConnection.Describe(configuration);
        var connecting = ConnectionMultiplexer.ConnectAsync(configuration);
        ConnectionMultiplexer connection;
        try
        {
            connection = await connecting.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Whatever the connection attempt produces later is closed.
            _ = connecting.ContinueWith(static t => t.Result.Dispose(), CancellationToken.None,
                TaskContinuationOptions.OnlyOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            throw;
        }
        catch (Exception e) when (e is RedisException or TimeoutException or System.Net.Sockets.SocketException)
        {
            throw Unreachable(endpoints, configuration.Password, e);
        }

        return Connected(connection, options, endpoints, configuration.Password, loggerFactory);
    }

    /// <summary>Connects synchronously; see <see cref="ConnectAsync"/>.</summary>
    /// <exception cref="MemoryStoreConfigurationException">The options or the connection string are invalid.</exception>
    /// <exception cref="MemoryStoreException">No server answered; the message names <c>host:port</c>, never the password.</exception>
    public static RedisConversationStore Connect(MemoryStoreOptions options, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        var configuration = RedisConnection.Configure(options);
        var endpoints = RedisConnection.Describe(configuration);
        ConnectionMultiplexer connection;
        try
        {
            connection = ConnectionMultiplexer.Connect(configuration);
        }
        catch (Exception e) when (e is RedisException or TimeoutException or System.Net.Sockets.SocketException)
        {
            throw Unreachable(endpoints, configuration.Password, e);
        }

        return Connected(connection, options, endpoints, configuration.Password, loggerFactory);
    }

    /// <summary>The Redis key of a conversation: <see cref="MemoryStoreOptions.KeyPrefix"/> followed by the id.</summary>
    public string KeyOf(string conversationId)
    {
        ConversationIds.ThrowIfInvalid(conversationId);
        return _keyPrefix + conversationId;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ConversationMessage>> AppendAsync(
        string conversationId, ConversationTurn turn, TimeSpan? ttl = null, CancellationToken cancellationToken = default)
    {
        var key = KeyOf(conversationId);
        var effectiveTtl = ConversationTurns.EffectiveTtl(ttl, _defaultTtl);
        var (user, assistant) = ConversationTurns.Messages(turn, _time);
        var ttlMs = effectiveTtl is { } t ? (long)Math.Ceiling(t.TotalMilliseconds) : 0L;
        var result = await RunAsync("append a turn to", key, database => database.ScriptEvaluateAsync(
                AppendScript,
                [key],
                [ConversationMessageCodec.Serialize(user), ConversationMessageCodec.Serialize(assistant), ttlMs]),
            cancellationToken).ConfigureAwait(false);
        var length = (long)result;
        Log.TurnAppended(_logger, key, user.TurnId, length - 1);
        return [user with { Sequence = length - 1 }, assistant with { Sequence = length }];
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ConversationMessage>> ReadAsync(string conversationId, CancellationToken cancellationToken = default)
    {
        var key = KeyOf(conversationId);
        var values = await RunAsync("read", key, database => database.ListRangeAsync(key), cancellationToken).ConfigureAwait(false);
        var messages = new ConversationMessage[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            messages[i] = ConversationMessageCodec.Deserialize(Text(values[i]), i + 1, key,
                string.Create(CultureInfo.InvariantCulture, $"Redis key '{key}', list index {i} on {Endpoints}"));
        }

        return messages;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ConversationMessage>> ReadLastAsync(string conversationId, int count, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var key = KeyOf(conversationId);
        // Length and range in one MULTI: the sequence numbers match what a whole read would give.
        var (length, values) = await RunAsync("read", key, async database =>
        {
            var transaction = database.CreateTransaction();
            var lengthTask = transaction.ListLengthAsync(key);
            var rangeTask = transaction.ListRangeAsync(key, -count, -1);
            await transaction.ExecuteAsync().ConfigureAwait(false);
            return (await lengthTask.ConfigureAwait(false), await rangeTask.ConfigureAwait(false));
        }, cancellationToken).ConfigureAwait(false);
        var first = length - values.Length;
        var messages = new ConversationMessage[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            messages[i] = ConversationMessageCodec.Deserialize(Text(values[i]), first + i + 1, key,
                string.Create(CultureInfo.InvariantCulture, $"Redis key '{key}', list index {first + i} on {Endpoints}"));
        }

        return messages;
    }

    /// <inheritdoc />
    public async Task<long> ClearAsync(string conversationId, CancellationToken cancellationToken = default)
    {
        var key = KeyOf(conversationId);
        var result = await RunAsync("clear", key, database => database.ScriptEvaluateAsync(ClearScript, [key]), cancellationToken)
            .ConfigureAwait(false);
        return (long)result;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken = default)
    {
        var pattern = EscapeGlob(_keyPrefix) + "*";
        return await RunAsync("list", pattern, async database =>
        {
            var ids = new SortedSet<string>(StringComparer.Ordinal);
            foreach (var server in _connection.GetServers())
            {
                if (server.IsReplica)
                {
                    continue;
                }

                await foreach (var key in server.KeysAsync(database.Database, pattern, pageSize: 500).WithCancellation(cancellationToken).ConfigureAwait(false))
                {
                    var name = (string?)key;
                    if (name is not null && name.StartsWith(_keyPrefix, StringComparison.Ordinal) && name.Length > _keyPrefix.Length)
                    {
                        ids.Add(name[_keyPrefix.Length..]);
                    }
                }
            }

            return (IReadOnlyList<string>)[.. ids];
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Closes the connection when the store opened it.</summary>
    public async ValueTask DisposeAsync()
    {
        _connection.ConnectionFailed -= OnConnectionFailed;
        _connection.ConnectionRestored -= OnConnectionRestored;
        if (_ownsConnection)
        {
            await _connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static RedisConversationStore Connected(
        ConnectionMultiplexer connection, MemoryStoreOptions options, string endpoints, string? password, ILoggerFactory? loggerFactory)
    {
        var store = new RedisConversationStore(connection, ownsConnection: true, options, endpoints, password, loggerFactory);
        Log.Connected(store._logger, endpoints);
        return store;
    }

    private static MemoryStoreException Unreachable(string endpoints, string? password, Exception e) =>
        new($"Cannot connect to Redis at {endpoints} for conversational memory: {RedisConnection.Scrub(e.Message, password)} " +
            $"(check that the server runs and that {MemoryStoreOptions.RedisVariable} or memory.connection names it).", null, e);

    private async Task<T> RunAsync<T>(string action, string key, Func<IDatabase, Task<T>> operation, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            return await operation(_connection.GetDatabase()).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (RedisServerException e) when (e.Message.Contains("WRONGTYPE", StringComparison.Ordinal))
        {
            throw new MemoryStoreException(
                $"Corrupt conversation entry: Redis key '{key}' on {Endpoints} is not a list (WRONGTYPE); it was not written by " +
                "AgentFlow's conversation store. Clearing the conversation removes it.", key, e);
        }
        catch (RedisServerException e)
        {
            throw new MemoryStoreException(
                $"Redis at {Endpoints} refused to {action} '{key}': {RedisConnection.Scrub(e.Message, _password)}", key, e);
        }
        catch (Exception e) when (e is RedisException or TimeoutException or ObjectDisposedException)
        {
            throw new MemoryStoreException(
                $"Redis at {Endpoints} is unavailable: could not {action} '{key}' ({e.GetType().Name}: " +
                $"{RedisConnection.Scrub(e.Message, _password)}). The store reconnects by itself; retry once the server is back.", key, e);
        }
    }

    private static string? Text(RedisValue value) => value.IsNull ? null : (string?)value;

    private static string EscapeGlob(string text)
    {
        var builder = new StringBuilder(text.Length + 4);
        foreach (var c in text)
        {
            if (c is '*' or '?' or '[' or ']' or '\\')
            {
                builder.Append('\\');
            }

            builder.Append(c);
        }

        return builder.ToString();
    }

    private static string DescribeConnection(IConnectionMultiplexer connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        return string.Join(",", connection.GetEndPoints().Select(RedisConnection.Describe));
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType == ConnectionType.Interactive)
        {
            Log.ConnectionFailed(_logger, e.EndPoint is null ? Endpoints : RedisConnection.Describe(e.EndPoint), e.FailureType);
        }
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType == ConnectionType.Interactive)
        {
            Log.ConnectionRestored(_logger, e.EndPoint is null ? Endpoints : RedisConnection.Describe(e.EndPoint));
        }
    }
}
