using System.Globalization;

namespace AgentFlow.Memory;

/// <summary>Which store keeps conversations.</summary>
public enum MemoryStoreKind
{
    /// <summary>An SQLite database on local disk (default <c>.agentflow/memory.db</c> in the working folder).</summary>
    Local = 0,

    /// <summary>A Redis server (StackExchange.Redis), shared by every process that reaches it.</summary>
    Redis = 1,
}

/// <summary>
/// Settings of a conversation store. Every property has a stated default; <see cref="ThrowIfInvalid"/> runs when a
/// store is created. <see cref="FromSettings"/> builds them from <c>memory: { store, connection }</c> and the environment.
/// </summary>
public sealed class MemoryStoreOptions
{
    /// <summary>Environment variable holding the Redis connection (<c>host:port[,password=…]</c> or <c>redis://…</c>); setting it selects Redis unless the store is named.</summary>
    public const string RedisVariable = "AGENTFLOW_REDIS";

    /// <summary>The local database used when none is named, relative to <see cref="WorkingDirectory"/>.</summary>
    public const string DefaultDatabasePath = ".agentflow/memory.db";

    /// <summary>Prefix of every conversation key in Redis: a conversation lives at <c>agentflow:conv:&lt;id&gt;</c>.</summary>
    public const string DefaultKeyPrefix = "agentflow:conv:";

    /// <summary>The store. Default: <see cref="MemoryStoreKind.Local"/>.</summary>
    public MemoryStoreKind Store { get; set; } = MemoryStoreKind.Local;

    /// <summary>
    /// Redis only, required there: StackExchange.Redis configuration (<c>host:port,password=…,ssl=true</c>) or a URI
    /// (<c>redis://[user:password@]host:port[/db]</c>, <c>rediss://</c> for TLS). The password is never shown in errors or logs.
    /// Default: null.
    /// </summary>
    public string? Connection { get; set; }

    /// <summary>Local only: the database file; relative paths resolve against <see cref="WorkingDirectory"/>. Default: <see cref="DefaultDatabasePath"/>.</summary>
    public string? DatabasePath { get; set; }

    /// <summary>Folder relative paths resolve against. Default: the process's current directory.</summary>
    public string? WorkingDirectory { get; set; }

    /// <summary>
    /// Time to live of a conversation when a write names none, counted from its latest write.
    /// Default: null (kept until cleared). <see cref="Timeout.InfiniteTimeSpan"/> means the same.
    /// </summary>
    public TimeSpan? DefaultTtl { get; set; }

    /// <summary>Redis only: prefix of conversation keys. Default: <see cref="DefaultKeyPrefix"/>.</summary>
    public string KeyPrefix { get; set; } = DefaultKeyPrefix;

    /// <summary>Local only: how long a writer waits for another writer's lock (other processes included). Default: 30 seconds.</summary>
    public TimeSpan SqliteBusyTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Redis only: how long connecting may take at start (and each reconnection attempt). Default: 5 seconds.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Redis only: how long one operation may take, time spent waiting for a lost connection to come back included;
    /// past it the operation fails with <see cref="MemoryStoreException"/>. Default: 5 seconds.
    /// </summary>
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Redis only: the client name the server lists (<c>CLIENT LIST</c>). Default: <c>agentflow-memory</c>.</summary>
    public string ClientName { get; set; } = "agentflow-memory";

    /// <summary>Clock for message timestamps and (local store) expiry. Default: <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// Options from the <c>memory:</c> settings and the environment.
    /// <list type="bullet">
    /// <item><paramref name="store"/> <c>redis</c>: Redis at <c>AGENTFLOW_REDIS</c> when set, else at <paramref name="connection"/> (one of them is required).</item>
    /// <item><paramref name="store"/> <c>local</c> (or <c>sqlite</c>): the local store; <paramref name="connection"/>, when given, is the database file.</item>
    /// <item><paramref name="store"/> not given: Redis when <c>AGENTFLOW_REDIS</c> or <paramref name="connection"/> is set, else local.</item>
    /// </list>
    /// </summary>
    /// <param name="store"><c>local</c>, <c>sqlite</c> or <c>redis</c> (case-insensitive); null or empty to decide from the connection.</param>
    /// <param name="connection">The Redis connection, or the local database file.</param>
    /// <param name="environment">Variables to read; null reads the process environment.</param>
    /// <exception cref="MemoryStoreConfigurationException">Unknown store, or Redis without a connection.</exception>
    public static MemoryStoreOptions FromSettings(string? store, string? connection, IReadOnlyDictionary<string, string>? environment = null)
    {
        var fromEnvironment = environment is null
            ? Environment.GetEnvironmentVariable(RedisVariable)
            : environment.GetValueOrDefault(RedisVariable);
        fromEnvironment = string.IsNullOrWhiteSpace(fromEnvironment) ? null : fromEnvironment.Trim();
        connection = string.IsNullOrWhiteSpace(connection) ? null : connection.Trim();

        var kind = store?.Trim().ToUpperInvariant() switch
        {
            null or "" => fromEnvironment is not null || connection is not null ? MemoryStoreKind.Redis : MemoryStoreKind.Local,
            "LOCAL" or "SQLITE" => MemoryStoreKind.Local,
            "REDIS" => MemoryStoreKind.Redis,
            _ => throw new MemoryStoreConfigurationException($"memory: unknown store '{store}'; use 'local' (the default, an SQLite file) or 'redis'."),
        };

        if (kind == MemoryStoreKind.Local)
        {
            return new MemoryStoreOptions { Store = kind, DatabasePath = connection };
        }

        var redis = fromEnvironment ?? connection
            ?? throw new MemoryStoreConfigurationException(
                $"memory: the Redis store needs a connection; set {RedisVariable}=host:6379 or memory: {{ store: redis, connection: host:6379 }}.");
        return new MemoryStoreOptions { Store = kind, Connection = redis };
    }

    /// <summary>Every problem with these options; empty when they are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (!Enum.IsDefined(Store))
        {
            problems.Add($"memory: unknown store {Store} (use Local or Redis)");
        }

        if (Store == MemoryStoreKind.Redis && string.IsNullOrWhiteSpace(Connection))
        {
            problems.Add($"memory: the Redis store needs a connection; set {RedisVariable}=host:6379 or Connection");
        }

        if (DatabasePath is { } path && (path.Length == 0 || path == ":memory:" || path.AsSpan().IndexOfAny(Path.GetInvalidPathChars()) >= 0))
        {
            problems.Add($"memory: DatabasePath '{path}' must name a database file");
        }

        if (WorkingDirectory is { Length: 0 })
        {
            problems.Add("memory: WorkingDirectory must not be empty when set");
        }

        if (DefaultTtl is { } ttl && ttl != Timeout.InfiniteTimeSpan && (ttl <= TimeSpan.Zero || ttl > ConversationTurns.MaxTtl))
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"memory: DefaultTtl must be positive and at most 3650 days, or infinite (is {ttl})"));
        }

        if (string.IsNullOrEmpty(KeyPrefix) || KeyPrefix.Any(char.IsWhiteSpace) || KeyPrefix.Length > 200)
        {
            problems.Add($"memory: KeyPrefix '{KeyPrefix}' must be 1 to 200 characters without spaces");
        }

        if (string.IsNullOrEmpty(ClientName) || ClientName.Any(c => c <= ' ' || c > '~'))
        {
            problems.Add($"memory: ClientName '{ClientName}' must be printable ASCII without spaces (Redis CLIENT SETNAME)");
        }

        CheckRange(problems, nameof(SqliteBusyTimeout), SqliteBusyTimeout, TimeSpan.Zero, TimeSpan.FromHours(1));
        CheckRange(problems, nameof(ConnectTimeout), ConnectTimeout, TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(10));
        CheckRange(problems, nameof(OperationTimeout), OperationTimeout, TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(10));
        if (TimeProvider is null)
        {
            problems.Add("memory: TimeProvider must be set");
        }

        return problems;
    }

    /// <summary>Throws when <see cref="Validate"/> finds problems.</summary>
    /// <exception cref="MemoryStoreConfigurationException">Lists every problem.</exception>
    public void ThrowIfInvalid()
    {
        var problems = Validate();
        if (problems.Count > 0)
        {
            throw new MemoryStoreConfigurationException(string.Join(Environment.NewLine, problems));
        }
    }

    /// <summary>The full path of the local database.</summary>
    public string ResolveDatabasePath()
    {
        var path = DatabasePath ?? DefaultDatabasePath;
        var workingDirectory = Path.GetFullPath(WorkingDirectory ?? Directory.GetCurrentDirectory());
        return Path.GetFullPath(Path.IsPathRooted(path) ? path : Path.Combine(workingDirectory, path));
    }

    private static void CheckRange(List<string> problems, string name, TimeSpan value, TimeSpan min, TimeSpan max)
    {
        if (value < min || value > max)
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"memory: {name} must be between {min} and {max} (is {value})"));
        }
    }
}
