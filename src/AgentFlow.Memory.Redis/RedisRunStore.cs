using System.Text.Json;
using AgentFlow.Execution.Durable;
using Microsoft.Agents.AI.Workflows;
using Microsoft.Agents.AI.Workflows.Checkpointing;
using StackExchange.Redis;

namespace AgentFlow.Memory.Redis;

/// <summary>
/// Durable runs in Redis, shared by every orchestrator that reaches it: <c>agentflow:run:&lt;id&gt;</c> holds the
/// run's state, <c>…:ckpt</c> (hash) its engine checkpoints and <c>…:ckpt:index</c> (list) their commit order,
/// <c>…:lease</c> the process running it now (expires unless renewed, so a dead owner's runs can be taken over),
/// and the set <c>agentflow:runs:active</c> the runs not finished.
/// </summary>
public sealed class RedisRunStore : IRunStore
{
    /// <summary>Prefix of every run key.</summary>
    public const string KeyPrefix = "agentflow:run:";

    /// <summary>The set of active run ids.</summary>
    public const string ActiveKey = "agentflow:runs:active";

    /// <summary>Every run id, scored by start time (ms since the epoch).</summary>
    public const string AllKey = "agentflow:runs:all";

    // ARGV[1] owner. Renews or releases the lease only while this owner still holds it.
    private const string RenewScript = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
    private const string ReleaseScript = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

    private readonly ConnectionMultiplexer _connection;
    private readonly IDatabase _db;
    private readonly TimeProvider _time;

    private RedisRunStore(ConnectionMultiplexer connection, string description, TimeProvider time, TimeSpan leaseTtl)
    {
        _connection = connection;
        _db = connection.GetDatabase();
        Description = description;
        _time = time;
        LeaseTtl = leaseTtl;
    }

    /// <inheritdoc />
    public string Description { get; }

    /// <summary>How long a lease lasts without renewal (renewed every third of it). Default: 10 seconds.</summary>
    public TimeSpan LeaseTtl { get; }

    /// <summary>Connects to the Redis server <paramref name="options"/> names (the same settings as conversational memory).</summary>
    /// <exception cref="MemoryStoreConfigurationException">The connection settings are invalid.</exception>
    /// <exception cref="MemoryStoreException">No server answered; the message names host:port, never the password.</exception>
    public static async Task<RedisRunStore> ConnectAsync(MemoryStoreOptions options, TimeSpan? leaseTtl = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        var configuration = RedisConnection.Configure(options);
        configuration.ClientName = "agentflow-runs";
        var endpoints = RedisConnection.Describe(configuration);
        try
        {
            var connection = await ConnectionMultiplexer.ConnectAsync(configuration).WaitAsync(cancellationToken).ConfigureAwait(false);
            return new RedisRunStore(connection, $"redis {endpoints}", options.TimeProvider, leaseTtl ?? TimeSpan.FromSeconds(10));
        }
        catch (Exception e) when (e is RedisException or TimeoutException or System.Net.Sockets.SocketException)
        {
            throw new MemoryStoreException($"runs: cannot reach Redis at {endpoints} ({e.GetType().Name}); start it, or unset {MemoryStoreOptions.RedisVariable} to keep runs on local disk", key: null, e);
        }
    }

    /// <inheritdoc />
    public async Task SaveAsync(DurableRun run, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        RunIds.ThrowIfInvalid(run.RunId);
        var transaction = _db.CreateTransaction();
        _ = transaction.StringSetAsync(KeyPrefix + run.RunId, run.ToJson());
        _ = run.IsActive ? transaction.SetAddAsync(ActiveKey, run.RunId) : transaction.SetRemoveAsync(ActiveKey, run.RunId);
        _ = transaction.SortedSetAddAsync(AllKey, run.RunId, run.Record.Started.ToUnixTimeMilliseconds());
        await Guard(Description, () => transaction.ExecuteAsync().WaitAsync(cancellationToken)).ConfigureAwait(false);
    }

    // A lost connection or a timeout is the store failing, said so in one line naming Redis (never its password);
    // the caller ends the run and keeps what was saved before.
    private static async Task<T> Guard<T>(string description, Func<Task<T>> operation)
    {
        try
        {
            return await operation().ConfigureAwait(false);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            throw new RunStoreException($"runs: {description} stopped answering ({e.GetType().Name}); check that Redis runs and is reachable", e);
        }
    }

    /// <inheritdoc />
    public async Task<DurableRun?> LoadAsync(string runId, CancellationToken cancellationToken)
    {
        RunIds.ThrowIfInvalid(runId);
        var value = await Guard(Description, () => _db.StringGetAsync(KeyPrefix + runId).WaitAsync(cancellationToken)).ConfigureAwait(false);
        return value.IsNullOrEmpty ? null : DurableRun.FromJson(value.ToString(), $"{Description} key {KeyPrefix}{runId}");
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<DurableRun>> ListActiveAsync(CancellationToken cancellationToken)
    {
        var ids = await Guard(Description, () => _db.SetMembersAsync(ActiveKey).WaitAsync(cancellationToken)).ConfigureAwait(false);
        var runs = new List<DurableRun>();
        foreach (var id in ids)
        {
            if (await LoadAsync(id.ToString(), cancellationToken).ConfigureAwait(false) is { IsActive: true } run)
            {
                runs.Add(run);
            }
        }

        return [.. runs.OrderBy(r => r.Record.Started)];
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<DurableRun>> ListRecentAsync(int limit, CancellationToken cancellationToken)
    {
        var ids = await Guard(Description, () => _db.SortedSetRangeByRankAsync(AllKey, 0, Math.Max(0, limit) - 1, Order.Descending).WaitAsync(cancellationToken)).ConfigureAwait(false);
        var runs = new List<DurableRun>();
        foreach (var id in ids)
        {
            if (await LoadAsync(id.ToString(), cancellationToken).ConfigureAwait(false) is { } run)
            {
                runs.Add(run);
            }
        }

        return runs;
    }

    /// <inheritdoc />
    public JsonCheckpointStore Checkpoints(string runId)
    {
        RunIds.ThrowIfInvalid(runId);
        return new RedisCheckpoints(_db, KeyPrefix + runId + ":ckpt", Description);
    }

    /// <inheritdoc />
    public async Task<IAsyncDisposable?> TryAcquireLeaseAsync(string runId, string owner, CancellationToken cancellationToken)
    {
        RunIds.ThrowIfInvalid(runId);
        var key = KeyPrefix + runId + ":lease";
        var taken = await Guard(Description, () => _db.StringSetAsync(key, owner, LeaseTtl, When.NotExists).WaitAsync(cancellationToken)).ConfigureAwait(false);
        return taken ? new Lease(_db, key, owner, LeaseTtl, _time) : null;
    }

    /// <summary>Who holds the run's lease now, or null.</summary>
    public async Task<string?> LeaseOwnerAsync(string runId, CancellationToken cancellationToken)
    {
        RunIds.ThrowIfInvalid(runId);
        var value = await _db.StringGetAsync(KeyPrefix + runId + ":lease").WaitAsync(cancellationToken).ConfigureAwait(false);
        return value.IsNull ? null : value.ToString();
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync() => await _connection.CloseAsync().ConfigureAwait(false);

    /// <summary>Renews itself every third of its time to live; released on dispose, lapses when the process dies.</summary>
    private sealed class Lease : IAsyncDisposable
    {
        private readonly IDatabase _db;
        private readonly string _key;
        private readonly string _owner;
        private readonly long _ttlMs;
        private readonly ITimer _timer;

        public Lease(IDatabase db, string key, string owner, TimeSpan ttl, TimeProvider time)
        {
            _db = db;
            _key = key;
            _owner = owner;
            _ttlMs = (long)ttl.TotalMilliseconds;
            _timer = time.CreateTimer(_ => Renew(), null, ttl / 3, ttl / 3);
        }

        // Fire and forget: a missed renewal is retried a third of the lease later.
        private void Renew() => _ = _db.ScriptEvaluateAsync(RenewScript, [_key], [_owner, _ttlMs], CommandFlags.FireAndForget);

        public async ValueTask DisposeAsync()
        {
            await _timer.DisposeAsync().ConfigureAwait(false);
            try
            {
                await _db.ScriptEvaluateAsync(ReleaseScript, [_key], [_owner]).ConfigureAwait(false);
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                // Unreleased, the lease lapses after its time to live.
            }
        }
    }

    private sealed class RedisCheckpoints(IDatabase db, string key, string description) : JsonCheckpointStore
    {
        private readonly string _index = key + ":index";

        public override async ValueTask<CheckpointInfo> CreateCheckpointAsync(string sessionId, JsonElement value, CheckpointInfo? parent = null)
        {
            var info = new CheckpointInfo(sessionId, Guid.NewGuid().ToString("N"));
            // One transaction: the index never names a checkpoint that is not stored.
            var transaction = db.CreateTransaction();
            _ = transaction.HashSetAsync(key, info.CheckpointId, value.GetRawText());
            _ = transaction.ListRightPushAsync(_index, $"{info.CheckpointId} {parent?.CheckpointId ?? "-"}");
            await Guard(description, () => transaction.ExecuteAsync()).ConfigureAwait(false);
            return info;
        }

        public override async ValueTask<JsonElement> RetrieveCheckpointAsync(string sessionId, CheckpointInfo checkpoint)
        {
            var value = await Guard(description, () => db.HashGetAsync(key, checkpoint.CheckpointId)).ConfigureAwait(false);
            if (value.IsNullOrEmpty)
            {
                throw new RunStoreException($"checkpoint {checkpoint.CheckpointId} of run {sessionId} is missing from Redis ({key})");
            }

            using var document = JsonDocument.Parse(value.ToString());
            return document.RootElement.Clone();
        }

        public override async ValueTask<IEnumerable<CheckpointInfo>> RetrieveIndexAsync(string sessionId, CheckpointInfo? withParent = null)
        {
            var entries = await Guard(description, () => db.ListRangeAsync(_index)).ConfigureAwait(false);
            return entries.Select(e => e.ToString().Split(' '))
                .Where(p => p.Length == 2 && (withParent is null || p[1] == withParent.CheckpointId))
                .Select(p => new CheckpointInfo(sessionId, p[0])).ToList();
        }
    }
}
