using AgentFlow.Conversations;
using AgentFlow.Memory.Local;
using AgentFlow.Memory.Redis;
using AgentFlow.Memory.Tests.Support;

namespace AgentFlow.Memory.Tests;

public sealed class MemoryStoreOptionsTests : IDisposable
{
    private static readonly Dictionary<string, string> NoEnvironment = [];
    private static readonly Dictionary<string, string> RedisEnvironment = new() { [MemoryStoreOptions.RedisVariable] = "cache:6380" };
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void FromSettings_Nothing_IsLocal()
    {
        var options = MemoryStoreOptions.FromSettings(null, null, NoEnvironment);

        Assert.Equal(MemoryStoreKind.Local, options.Store);
        Assert.Null(options.Connection);
        Assert.Empty(options.Validate());
    }

    [Fact]
    public void FromSettings_OnlyRedisVariable_IsRedisAtTheVariable()
    {
        var options = MemoryStoreOptions.FromSettings(null, null, RedisEnvironment);

        Assert.Equal(MemoryStoreKind.Redis, options.Store);
        Assert.Equal("cache:6380", options.Connection);
    }

    [Fact]
    public void FromSettings_RedisWithConnectionAndVariable_VariableWins()
    {
        Assert.Equal("cache:6380", MemoryStoreOptions.FromSettings("redis", "file:6379", RedisEnvironment).Connection);
        Assert.Equal("file:6379", MemoryStoreOptions.FromSettings("Redis", "file:6379", NoEnvironment).Connection);
    }

    [Fact]
    public void FromSettings_LocalNamedWithVariableSet_StaysLocalWithConnectionAsPath()
    {
        var options = MemoryStoreOptions.FromSettings("local", "data/conv.db", RedisEnvironment);

        Assert.Equal(MemoryStoreKind.Local, options.Store);
        Assert.Equal("data/conv.db", options.DatabasePath);
        Assert.Equal(MemoryStoreKind.Local, MemoryStoreOptions.FromSettings("sqlite", null, RedisEnvironment).Store);
    }

    [Fact]
    public void FromSettings_RedisWithoutConnection_ThrowsNamingTheVariable()
    {
        var error = Assert.Throws<MemoryStoreConfigurationException>(() => MemoryStoreOptions.FromSettings("redis", null, NoEnvironment));

        Assert.Contains("AGENTFLOW_REDIS", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromSettings_UnknownStore_Throws()
    {
        var error = Assert.Throws<MemoryStoreConfigurationException>(() => MemoryStoreOptions.FromSettings("mongo", null, NoEnvironment));

        Assert.Contains("'mongo'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_OutOfRangeSettings_ListsEveryProblem()
    {
        var options = new MemoryStoreOptions
        {
            Store = MemoryStoreKind.Redis,
            DefaultTtl = TimeSpan.FromSeconds(-1),
            KeyPrefix = "",
            OperationTimeout = TimeSpan.Zero,
            ClientName = "has space",
        };

        var problems = options.Validate();

        Assert.Equal(5, problems.Count);
        Assert.Throws<MemoryStoreConfigurationException>(options.ThrowIfInvalid);
    }

    [Fact]
    public void ResolveDatabasePath_Defaults_IsDotAgentflowMemoryDbInWorkingFolder()
    {
        var options = new MemoryStoreOptions { WorkingDirectory = _folder.Path };

        Assert.Equal(Path.Combine(_folder.Path, ".agentflow", "memory.db"), options.ResolveDatabasePath());
        options.DatabasePath = "/tmp/elsewhere/m.db";
        Assert.Equal("/tmp/elsewhere/m.db", options.ResolveDatabasePath());
    }

    [Fact]
    public void Create_LocalOptions_OpensTheSqliteStore()
    {
        var store = ConversationStoreFactory.Create(new MemoryStoreOptions { WorkingDirectory = _folder.Path });

        Assert.IsType<SqliteConversationStore>(store);
    }

    [Fact]
    public async Task CreateAsync_InvalidRedisConnection_ThrowsConfigurationErrorWithoutTheSecret()
    {
        var options = new MemoryStoreOptions { Store = MemoryStoreKind.Redis, Connection = "redis://user:topsecret@/0" };

        var error = await Assert.ThrowsAsync<MemoryStoreConfigurationException>(() => ConversationStoreFactory.CreateAsync(options));

        Assert.DoesNotContain("topsecret", error.Message, StringComparison.Ordinal);
    }

    [RedisFact]
    public async Task CreateAsync_RedisOptions_ConnectsTheRedisStore()
    {
        await using var store = await ConversationStoreFactory.CreateAsync(
            MemoryStoreOptions.FromSettings(null, null, new Dictionary<string, string> { [MemoryStoreOptions.RedisVariable] = TestRedis.Connection! }));

        var redis = Assert.IsType<RedisConversationStore>(store);
        Assert.Equal("redis:" + redis.Endpoints, store.Description);
        Assert.Equal("agentflow:conv:abc", redis.KeyOf("abc"));
    }

    [Fact]
    public async Task AsConversationMemory_AppendTurnThenRead_MapsEveryField()
    {
        await using var store = SqliteConversationStore.Open(new MemoryStoreOptions { WorkingDirectory = _folder.Path });
        var memory = store.AsConversationMemory();
        var at = new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero);

        await memory.AppendTurnAsync("c1",
            new ConversationEntry("user", "hi", "greet", "run-9", "qwen", at),
            new ConversationEntry("assistant", "hello", "greet", "run-9", "qwen", at),
            TimeSpan.FromHours(1), CancellationToken.None);
        var entries = await memory.ReadAsync("c1", CancellationToken.None);

        Assert.Equal(
            [new ConversationEntry("user", "hi", "greet", "run-9", "qwen", at), new ConversationEntry("assistant", "hello", "greet", "run-9", "qwen", at)],
            entries);
        await Assert.ThrowsAsync<ArgumentException>(() => memory.AppendTurnAsync("c1",
            new ConversationEntry("assistant", "x", "s", "r", "m", at), new ConversationEntry("assistant", "y", "s", "r", "m", at), null, CancellationToken.None));
    }
}
