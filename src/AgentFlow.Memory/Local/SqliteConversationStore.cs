using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentFlow.Memory.Local;

/// <summary>
/// The local conversation store: an SQLite database on disk (default <c>.agentflow/memory.db</c> in the working folder),
/// so a conversation carries over between runs and processes. The database is in WAL mode; each write is one
/// <c>BEGIN IMMEDIATE</c> transaction (<c>synchronous = NORMAL</c>: durable across process crashes, not power loss) and waits up to <see cref="MemoryStoreOptions.SqliteBusyTimeout"/> for another
/// writer (thread or process), so concurrent writers never interleave a turn. Time to live is an <c>expires_at</c>
/// column per conversation: reads ignore expired conversations, writes delete them.
/// </summary>
public sealed class SqliteConversationStore : IConversationStore
{
    /// <summary>Schema version kept in <c>PRAGMA user_version</c>.</summary>
    public const int SchemaVersion = 1;

    private const string Schema = """
        CREATE TABLE IF NOT EXISTS conversations (
            conversation_id TEXT NOT NULL PRIMARY KEY,
            expires_at      INTEGER NULL,
            updated_at      INTEGER NOT NULL
        );
        CREATE INDEX IF NOT EXISTS ix_conversations_expires_at ON conversations (expires_at) WHERE expires_at IS NOT NULL;
        CREATE TABLE IF NOT EXISTS conversation_messages (
            conversation_id TEXT NOT NULL REFERENCES conversations (conversation_id) ON DELETE CASCADE,
            seq             INTEGER NOT NULL,
            body            TEXT NOT NULL,
            PRIMARY KEY (conversation_id, seq)
        ) WITHOUT ROWID;
        """;

    private readonly string _connectionString;
    private readonly string _connectionPragmas;
    private readonly TimeProvider _time;
    private readonly TimeSpan? _defaultTtl;
    private readonly ILogger _logger;
    private readonly ConcurrentBag<SqliteConnection> _idle = [];
    private bool _disposed;

    private const int MaxIdleConnections = 8;

    private SqliteConversationStore(string databasePath, MemoryStoreOptions options, ILogger logger)
    {
        DatabasePath = databasePath;
        _time = options.TimeProvider;
        _defaultTtl = options.DefaultTtl;
        _logger = logger;
        // synchronous = NORMAL under WAL: a commit is appended to the WAL without an fsync (the WAL is synced at
        // checkpoints). A committed turn survives the process crashing or being killed (the OS has the write); a power
        // loss or OS crash may lose the last commits, never corrupt the database. Set on every (pooled) connection:
        // the setting is per connection.
        _connectionPragmas = string.Create(CultureInfo.InvariantCulture,
            $"PRAGMA busy_timeout = {(int)options.SqliteBusyTimeout.TotalMilliseconds}; PRAGMA synchronous = NORMAL;");
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = databasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            ForeignKeys = true,
            DefaultTimeout = Math.Max(1, (int)Math.Ceiling(options.SqliteBusyTimeout.TotalSeconds)),
        }.ToString();
    }

    /// <summary>Full path of the database file.</summary>
    public string DatabasePath { get; }

    /// <inheritdoc />
    public string Description => "sqlite:" + DatabasePath;

    /// <summary>Opens (creating when new) the database <see cref="MemoryStoreOptions.ResolveDatabasePath"/> names.</summary>
    /// <param name="options">Settings; defaults when null.</param>
    /// <param name="loggerFactory">Logging; none when null.</param>
    /// <exception cref="MemoryStoreConfigurationException">The options are invalid.</exception>
    /// <exception cref="MemoryStoreException">The folder cannot be created or the file is not a usable database.</exception>
    public static SqliteConversationStore Open(MemoryStoreOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        options ??= new MemoryStoreOptions();
        options.ThrowIfInvalid();
        var path = options.ResolveDatabasePath();
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MemoryStoreException($"Cannot create the folder of the conversation database '{path}': {e.Message}", null, e);
        }

        var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<SqliteConversationStore>();
        var store = new SqliteConversationStore(path, options, logger);
        try
        {
            store.Initialize();
        }
        catch (SqliteException e)
        {
            throw new MemoryStoreException($"Cannot open the conversation database '{path}': {e.Message}", null, e);
        }

        Log.SqliteOpened(logger, path);
        return store;
    }

    private void Initialize()
    {
        using var connection = new SqliteConnection(_connectionString);
        connection.Open();
        Execute(connection, null, _connectionPragmas);
        // Switching to WAL needs a moment without other connections; another process may hold one: it is WAL already then.
        Execute(connection, null, "PRAGMA journal_mode = WAL;");
        using var transaction = connection.BeginTransaction(deferred: false);
        var version = Convert.ToInt64(Scalar(connection, transaction, "PRAGMA user_version;"), CultureInfo.InvariantCulture);
        if (version > SchemaVersion)
        {
            throw new MemoryStoreException(
                $"The conversation database '{DatabasePath}' has schema version {version}; this AgentFlow knows version {SchemaVersion}. Use a newer AgentFlow or another file.");
        }

        Execute(connection, transaction, Schema);
        Execute(connection, transaction, $"PRAGMA user_version = {SchemaVersion.ToString(CultureInfo.InvariantCulture)};");
        transaction.Commit();
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ConversationMessage>> AppendAsync(
        string conversationId, ConversationTurn turn, TimeSpan? ttl = null, CancellationToken cancellationToken = default)
    {
        ConversationIds.ThrowIfInvalid(conversationId);
        var effectiveTtl = ConversationTurns.EffectiveTtl(ttl, _defaultTtl);
        var (user, assistant) = ConversationTurns.Messages(turn, _time);
        cancellationToken.ThrowIfCancellationRequested();

        return await RunAsync("append a turn to", conversationId, async connection =>
        {
            var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
            long? expiresAt = effectiveTtl is { } t ? now + (long)t.TotalMilliseconds : null;
            var transaction = BeginImmediate(connection);
            await using (transaction.ConfigureAwait(false))
            {
                var purged = await ExecuteAsync(connection, transaction,
                    "DELETE FROM conversations WHERE expires_at IS NOT NULL AND expires_at <= $now;", cancellationToken, ("$now", now)).ConfigureAwait(false);
                if (purged > 0)
                {
                    Log.SqlitePurged(_logger, purged, DatabasePath);
                }

                await ExecuteAsync(connection, transaction,
                    "INSERT INTO conversations (conversation_id, expires_at, updated_at) VALUES ($id, $expires, $now) " +
                    "ON CONFLICT (conversation_id) DO UPDATE SET expires_at = excluded.expires_at, updated_at = excluded.updated_at;",
                    cancellationToken, ("$id", conversationId), ("$expires", expiresAt), ("$now", now)).ConfigureAwait(false);
                var last = Convert.ToInt64(await ScalarAsync(connection, transaction,
                    "SELECT COALESCE(MAX(seq), 0) FROM conversation_messages WHERE conversation_id = $id;", cancellationToken,
                    ("$id", conversationId)).ConfigureAwait(false), CultureInfo.InvariantCulture);
                var storedUser = user with { Sequence = last + 1 };
                var storedAssistant = assistant with { Sequence = last + 2 };
                await ExecuteAsync(connection, transaction,
                    "INSERT INTO conversation_messages (conversation_id, seq, body) VALUES ($id, $s1, $b1), ($id, $s2, $b2);",
                    cancellationToken,
                    ("$id", conversationId),
                    ("$s1", storedUser.Sequence), ("$b1", ConversationMessageCodec.Serialize(storedUser)),
                    ("$s2", storedAssistant.Sequence), ("$b2", ConversationMessageCodec.Serialize(storedAssistant))).ConfigureAwait(false);
                // The commit is not cancellable: once the statements ran the turn is written whole.
                await transaction.CommitAsync(CancellationToken.None).ConfigureAwait(false);
                Log.TurnAppended(_logger, conversationId, user.TurnId, storedUser.Sequence);
                return (IReadOnlyList<ConversationMessage>)[storedUser, storedAssistant];
            }
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<ConversationMessage>> ReadAsync(string conversationId, CancellationToken cancellationToken = default) =>
        ReadAsync(conversationId, last: null, cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<ConversationMessage>> ReadLastAsync(string conversationId, int count, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        return ReadAsync(conversationId, count, cancellationToken);
    }

    private async Task<IReadOnlyList<ConversationMessage>> ReadAsync(string conversationId, int? last, CancellationToken cancellationToken)
    {
        ConversationIds.ThrowIfInvalid(conversationId);
        cancellationToken.ThrowIfCancellationRequested();
        const string Select =
            "SELECT m.seq, m.body FROM conversation_messages m JOIN conversations c ON c.conversation_id = m.conversation_id " +
            "WHERE m.conversation_id = $id AND (c.expires_at IS NULL OR c.expires_at > $now)";
        var rows = await RunHereAsync("read", conversationId, async connection =>
        {
            var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
            var command = last is null
                ? Command(connection, null, Select + " ORDER BY m.seq;", ("$id", conversationId), ("$now", now))
                : Command(connection, null, "SELECT seq, body FROM (" + Select + " ORDER BY m.seq DESC LIMIT $last) ORDER BY seq;",
                    ("$id", conversationId), ("$now", now), ("$last", last.Value));
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                var result = new List<(long Seq, string? Body)>();
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    result.Add((reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetValue(1) as string));
                }

                return result;
            }
        }, cancellationToken).ConfigureAwait(false);

        var messages = new ConversationMessage[rows.Count];
        for (var i = 0; i < rows.Count; i++)
        {
            messages[i] = ConversationMessageCodec.Deserialize(rows[i].Body, rows[i].Seq, conversationId,
                string.Create(CultureInfo.InvariantCulture, $"conversation '{conversationId}', seq {rows[i].Seq} in {DatabasePath}"));
        }

        return messages;
    }

    /// <inheritdoc />
    public Task<long> ClearAsync(string conversationId, CancellationToken cancellationToken = default)
    {
        ConversationIds.ThrowIfInvalid(conversationId);
        cancellationToken.ThrowIfCancellationRequested();
        return RunAsync("clear", conversationId, async connection =>
        {
            var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
            var transaction = BeginImmediate(connection);
            await using (transaction.ConfigureAwait(false))
            {
                // Messages of an expired conversation are already gone as far as readers are concerned: not counted.
                var live = Convert.ToInt64(await ScalarAsync(connection, transaction,
                    "SELECT COUNT(*) FROM conversation_messages m JOIN conversations c ON c.conversation_id = m.conversation_id " +
                    "WHERE m.conversation_id = $id AND (c.expires_at IS NULL OR c.expires_at > $now);",
                    cancellationToken, ("$id", conversationId), ("$now", now)).ConfigureAwait(false), CultureInfo.InvariantCulture);
                await ExecuteAsync(connection, transaction, "DELETE FROM conversation_messages WHERE conversation_id = $id;",
                    cancellationToken, ("$id", conversationId)).ConfigureAwait(false);
                await ExecuteAsync(connection, transaction, "DELETE FROM conversations WHERE conversation_id = $id;",
                    cancellationToken, ("$id", conversationId)).ConfigureAwait(false);
                await transaction.CommitAsync(CancellationToken.None).ConfigureAwait(false);
                return live;
            }
        }, cancellationToken);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return RunAsync("list", null, async connection =>
        {
            var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
            var command = Command(connection, null,
                "SELECT c.conversation_id FROM conversations c WHERE (c.expires_at IS NULL OR c.expires_at > $now) " +
                "AND EXISTS (SELECT 1 FROM conversation_messages m WHERE m.conversation_id = c.conversation_id) " +
                "ORDER BY c.conversation_id COLLATE BINARY;",
                ("$now", now));
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                var ids = new List<string>();
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    ids.Add(reader.GetString(0));
                }

                return (IReadOnlyList<string>)ids;
            }
        }, cancellationToken);
    }

    /// <summary>Closes the connections kept open for the next call.</summary>
    public async ValueTask DisposeAsync()
    {
        Volatile.Write(ref _disposed, true);
        while (_idle.TryTake(out var connection))
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    // BEGIN IMMEDIATE: the write lock is taken up front, so two writers never both read MAX(seq) and collide, and a busy
    // database is waited for (busy_timeout) at the start instead of failing half-way through a turn.
    private static SqliteTransaction BeginImmediate(SqliteConnection connection) => connection.BeginTransaction(deferred: false);

    // Microsoft.Data.Sqlite runs synchronously under its async methods, and a write may wait up to the busy timeout for
    // another writer's lock: the work runs on the thread pool so the caller's thread is never blocked that long.
    private Task<T> RunAsync<T>(string action, string? conversationId, Func<SqliteConnection, Task<T>> body, CancellationToken cancellationToken) =>
        Task.Run(() => RunHereAsync(action, conversationId, body, cancellationToken), cancellationToken);

    // Reads run on the caller's thread: in WAL mode a reader never waits for a writer.
    private async Task<T> RunHereAsync<T>(string action, string? conversationId, Func<SqliteConnection, Task<T>> body, CancellationToken cancellationToken)
    {
        SqliteConnection? connection = null;
        try
        {
            connection = await RentAsync(cancellationToken).ConfigureAwait(false);
            var result = await body(connection).ConfigureAwait(false);
            Return(connection);
            connection = null;
            return result;
        }
        catch (SqliteException e)
        {
            var what = conversationId is null ? "conversations" : $"conversation '{conversationId}'";
            throw new MemoryStoreException($"Could not {action} {what} in the conversation database '{DatabasePath}': {e.Message}", conversationId, e);
        }
        finally
        {
            // A call that failed gives its connection up instead of handing on whatever state it left.
            if (connection is not null)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    // Open connections are kept for the next call: opening one (and setting its pragmas) costs more than the queries
    // of a read. At most MaxIdleConnections are kept; the rest are closed when returned.
    private async Task<SqliteConnection> RentAsync(CancellationToken cancellationToken)
    {
        if (_idle.TryTake(out var idle))
        {
            return idle;
        }

        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await ExecuteAsync(connection, null, _connectionPragmas, cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private void Return(SqliteConnection connection)
    {
        if (Volatile.Read(ref _disposed) || _idle.Count >= MaxIdleConnections)
        {
            connection.Dispose();
            return;
        }

        _idle.Add(connection);
    }

    // Commands are kept per (kept-open) connection, so each statement is prepared once per connection, not per call;
    // the connection finalizes them when it closes. A connection serves one call at a time.
    private static readonly ConditionalWeakTable<SqliteConnection, Dictionary<string, SqliteCommand>> Commands = [];

    private static SqliteCommand Command(SqliteConnection connection, SqliteTransaction? transaction, string sql, params (string Name, object? Value)[] parameters)
    {
        var cache = Commands.GetValue(connection, _ => new Dictionary<string, SqliteCommand>(StringComparer.Ordinal));
        if (!cache.TryGetValue(sql, out var command))
        {
            command = connection.CreateCommand();
#pragma warning disable CA2100 // Constant SQL; values travel as parameters.
            command.CommandText = sql;
#pragma warning restore CA2100
            cache[sql] = command;
        }

        command.Transaction = transaction;
        // A kept command keeps its parameters: the same constant SQL names the same parameters in the same order, so
        // only the values change (new SqliteParameter objects per call were a per-step allocation of every statement).
        var kept = command.Parameters;
        if (kept.Count == parameters.Length)
        {
            for (var i = 0; i < parameters.Length; i++)
            {
                kept[i].Value = parameters[i].Value ?? DBNull.Value;
            }

            return command;
        }

        kept.Clear();
        foreach (var (name, value) in parameters)
        {
            kept.AddWithValue(name, value ?? DBNull.Value);
        }

        return command;
    }

    private static Task<int> ExecuteAsync(SqliteConnection connection, SqliteTransaction? transaction, string sql,
        CancellationToken cancellationToken, params (string Name, object? Value)[] parameters) =>
        Command(connection, transaction, sql, parameters).ExecuteNonQueryAsync(cancellationToken);

    private static Task<object?> ScalarAsync(SqliteConnection connection, SqliteTransaction? transaction, string sql,
        CancellationToken cancellationToken, params (string Name, object? Value)[] parameters) =>
        Command(connection, transaction, sql, parameters).ExecuteScalarAsync(cancellationToken);

    // Set-up statements on the set-up connection: not kept.
    private static void Execute(SqliteConnection connection, SqliteTransaction? transaction, string sql)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
#pragma warning disable CA2100 // Constant SQL.
        command.CommandText = sql;
#pragma warning restore CA2100
        command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, SqliteTransaction? transaction, string sql)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
#pragma warning disable CA2100 // Constant SQL.
        command.CommandText = sql;
#pragma warning restore CA2100
        return command.ExecuteScalar();
    }
}
