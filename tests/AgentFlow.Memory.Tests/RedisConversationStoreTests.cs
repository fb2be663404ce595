using AgentFlow.Memory.Redis;
using AgentFlow.Memory.Tests.Support;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace AgentFlow.Memory.Tests;

/// <summary>
/// The store contract against the real Redis server AGENTFLOW_TEST_REDIS names (skipped without it). Every instance
/// uses its own key prefix, so tests running side by side (and other users of the server) never see each other's keys.
/// </summary>
[RequiresRedis]
public sealed class RedisConversationStoreTests(ITestOutputHelper output) : ConversationStoreContract
{
    private readonly string _prefix = $"agentflow:test:{Guid.NewGuid():N}:conv:";
    private ConnectionMultiplexer? _admin;

    private ConnectionMultiplexer Admin => _admin ??= ConnectionMultiplexer.Connect(TestRedis.Connection! + ",allowAdmin=true");

    protected override async Task<IConversationStore> CreateStoreAsync() =>
        await RedisConversationStore.ConnectAsync(Options());

    // Redis expires keys on its own clock: real time passes (the fake clock only stamps the messages).
    protected override async Task AdvanceAsync(TimeSpan duration)
    {
        Clock.Advance(duration);
        await Task.Delay(duration);
    }

    protected override async Task CorruptAsync(string conversationId, long sequence) =>
        await Admin.GetDatabase().ListSetByIndexAsync(KeyOf(conversationId), sequence - 1, "{not json");

    protected override string KeyOf(string conversationId) => _prefix + conversationId;

    protected override string EntryLocation(long sequence) => $"list index {sequence - 1}";

    protected override async Task CleanupAsync()
    {
        if (TestRedis.Connection is null)
        {
            return;
        }

        var server = Admin.GetServers()[0];
        await foreach (var key in server.KeysAsync(pattern: _prefix + "*"))
        {
            await Admin.GetDatabase().KeyDeleteAsync(key);
        }

        await Admin.DisposeAsync();
    }

    private MemoryStoreOptions Options(string? clientName = null) => new()
    {
        Store = MemoryStoreKind.Redis,
        Connection = TestRedis.Connection,
        KeyPrefix = _prefix,
        TimeProvider = Clock,
        OperationTimeout = TimeSpan.FromSeconds(2),
        ClientName = clientName ?? "agentflow-memory-tests",
    };

    [StoreFact]
    public async Task AppendAsync_WithTtl_SetsItOnTheListKeyAndPersistWithoutOne()
    {
        var id = NewId("pttl");
        await Store.AppendAsync(id, new ConversationTurn("q", "a"), TimeSpan.FromMinutes(1), CancellationToken.None);
        var db = Admin.GetDatabase();

        Assert.Equal(RedisType.List, await db.KeyTypeAsync(KeyOf(id)));
        var ttl = await db.KeyTimeToLiveAsync(KeyOf(id));
        Assert.InRange(ttl!.Value, TimeSpan.FromSeconds(50), TimeSpan.FromMinutes(1));
        var raw = await db.ListRangeAsync(KeyOf(id));
        Assert.Equal(2, raw.Length);
        Assert.StartsWith("{\"v\":1,\"turn\":", raw[0].ToString(), StringComparison.Ordinal);

        await Store.AppendAsync(id, new ConversationTurn("q", "a"), Timeout.InfiniteTimeSpan, CancellationToken.None);
        Assert.Null(await db.KeyTimeToLiveAsync(KeyOf(id)));
    }

    [StoreFact]
    public async Task ReadAsync_KeyOfAnotherType_ThrowsMemoryStoreExceptionNamingTheKey()
    {
        var id = NewId("wrongtype");
        await Admin.GetDatabase().StringSetAsync(KeyOf(id), "not a list");

        var read = await Assert.ThrowsAsync<MemoryStoreException>(() => Store.ReadAsync(id, CancellationToken.None));
        var append = await Assert.ThrowsAsync<MemoryStoreException>(() => Store.AppendAsync(id, new ConversationTurn("q", "a"), TimeSpan.FromMinutes(1), CancellationToken.None));

        Assert.Equal(KeyOf(id), read.Key);
        Assert.Contains($"'{KeyOf(id)}'", read.Message, StringComparison.Ordinal);
        Assert.Contains("WRONGTYPE", read.Message, StringComparison.Ordinal);
        Assert.Contains($"'{KeyOf(id)}'", append.Message, StringComparison.Ordinal);
        Assert.Null(await Admin.GetDatabase().KeyTimeToLiveAsync(KeyOf(id))); // the failed script stopped before PEXPIRE
        Assert.Equal(0, await Store.ClearAsync(id, CancellationToken.None));
        Assert.False(await Admin.GetDatabase().KeyExistsAsync(KeyOf(id)));
    }

    /// <summary>
    /// The server drops this store's connection (CLIENT KILL ID of its connections only, found by client name, so other
    /// users of the shared server are untouched). StackExchange.Redis notices and reconnects by itself; a call made
    /// meanwhile waits for the reconnection (backlog) up to OperationTimeout. So the next call either succeeds or fails
    /// with a MemoryStoreException naming the server, and calls succeed again shortly after — with nothing lost.
    /// </summary>
    [StoreFact]
    public async Task AppendAsync_AfterServerKillsTheConnection_FailsClearlyOrRecovers()
    {
        var clientName = "agentflow-memory-kill-" + Guid.NewGuid().ToString("N")[..8];
        await using var store = await RedisConversationStore.ConnectAsync(Options(clientName));
        var id = NewId("killed");
        await store.AppendAsync(id, new ConversationTurn("before", "kill"), null, CancellationToken.None);

        var killed = 0;
        foreach (var client in await Admin.GetServers()[0].ClientListAsync())
        {
            if (client.Name == clientName)
            {
                await Admin.GetDatabase().ExecuteAsync("CLIENT", "KILL", "ID", client.Id);
                killed++;
            }
        }

        Assert.True(killed >= 1, "no connection of the store was found to kill");
        try
        {
            await store.AppendAsync(id, new ConversationTurn("right after", "kill"), null, CancellationToken.None);
            output.WriteLine($"killed {killed} connection(s); the next append succeeded (transparent reconnect)");
        }
        catch (MemoryStoreException e)
        {
            output.WriteLine($"killed {killed} connection(s); the next append failed clearly: {e.Message}");
            Assert.Contains(store.Endpoints, e.Message, StringComparison.Ordinal);
            Assert.Equal(store.KeyOf(id), e.Key);
        }

        var messages = await EventuallyAsync(() => store.ReadAsync(id, CancellationToken.None), TimeSpan.FromSeconds(15));
        Assert.Equal(["before", "kill"], messages.Take(2).Select(m => m.Content));
        Assert.True(messages.Count is 2 or 4);
        await store.AppendAsync(id, new ConversationTurn("later", "ok"), null, CancellationToken.None);
    }

    private static async Task<T> EventuallyAsync<T>(Func<Task<T>> operation, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (true)
        {
            try
            {
                return await operation();
            }
            catch (MemoryStoreException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }
        }
    }
}

/// <summary>Redis failures that need no shared server: an unreachable address, and a private server restarted mid-test.</summary>
public sealed class RedisConnectionFailureTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task ConnectAsync_UnreachableServer_ThrowsNamingHostAndPortWithoutPassword()
    {
        var options = new MemoryStoreOptions
        {
            Store = MemoryStoreKind.Redis,
            Connection = "127.0.0.1:1,password=s3cret-pw",
            ConnectTimeout = TimeSpan.FromSeconds(1),
        };

        var error = await Assert.ThrowsAsync<MemoryStoreException>(() => ConversationStoreFactory.CreateAsync(options));
        var sync = Assert.Throws<MemoryStoreException>(() => ConversationStoreFactory.Create(options));

        foreach (var e in new[] { error, sync })
        {
            Assert.Contains("Cannot connect to Redis at 127.0.0.1:1", e.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("s3cret-pw", e.ToString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task ConnectAsync_UnreachableUriWithPassword_NamesHostAndPortOnly()
    {
        var options = MemoryStoreOptions.FromSettings("redis", "redis://agent:p%40ss-word@127.0.0.1:1/2",
            new Dictionary<string, string>());
        options.ConnectTimeout = TimeSpan.FromSeconds(1);

        var error = await Assert.ThrowsAsync<MemoryStoreException>(() => RedisConversationStore.ConnectAsync(options));

        Assert.Contains("127.0.0.1:1", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("p@ss-word", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("p%40ss-word", error.ToString(), StringComparison.Ordinal);
    }

    /// <summary>
    /// A private redis-server (same command line each start, no persistence) is killed mid-test: calls fail at once or
    /// within OperationTimeout with a MemoryStoreException naming host:port. After the same server is started again,
    /// the store reconnects by itself and calls succeed (the data is gone: the server kept none).
    /// </summary>
    [RedisServerProgramFact]
    public async Task AppendAsync_RedisRestartedMidTest_FailsClearlyThenRecovers()
    {
        using var server = new PrivateRedisServer(TestRedis.ServerProgram!, _folder.Path);
        await server.StartAsync();
        await using var store = await RedisConversationStore.ConnectAsync(new MemoryStoreOptions
        {
            Store = MemoryStoreKind.Redis,
            Connection = server.Endpoint,
            OperationTimeout = TimeSpan.FromSeconds(1),
            ConnectTimeout = TimeSpan.FromSeconds(1),
        });
        await store.AppendAsync("restart", new ConversationTurn("q1", "a1"), null, CancellationToken.None);

        await server.StopAsync();
        var started = DateTime.UtcNow;
        var append = await Assert.ThrowsAsync<MemoryStoreException>(() => store.AppendAsync("restart", new ConversationTurn("q2", "a2"), null, CancellationToken.None));
        var read = await Assert.ThrowsAsync<MemoryStoreException>(() => store.ReadAsync("restart", CancellationToken.None));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10));
        foreach (var e in new[] { append, read })
        {
            Assert.Contains($"Redis at {server.Endpoint} is unavailable", e.Message, StringComparison.Ordinal);
            Assert.Equal("agentflow:conv:restart", e.Key);
        }

        await server.StartAsync();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        IReadOnlyList<ConversationMessage>? stored = null;
        while (stored is null)
        {
            try
            {
                stored = await store.AppendAsync("restart", new ConversationTurn("q3", "a3"), null, CancellationToken.None);
            }
            catch (MemoryStoreException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }
        }

        Assert.Equal([1L, 2L], stored.Select(m => m.Sequence)); // a new, empty server
        Assert.Equal(["q3", "a3"], (await store.ReadAsync("restart", CancellationToken.None)).Select(m => m.Content));
    }
}
