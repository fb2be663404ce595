using AgentFlow.Memory.Local;
using AgentFlow.Memory.Redis;
using AgentFlow.Memory.Tests.Support;
using Microsoft.Data.Sqlite;

namespace AgentFlow.Memory.Tests;

public sealed class SqliteConversationStoreTests : ConversationStoreContract, IDisposable
{
    private readonly TempFolder _folder = new();

    private string DatabasePath => Path.Combine(_folder.Path, ".agentflow", "memory.db");

    protected override Task<IConversationStore> CreateStoreAsync() =>
        Task.FromResult<IConversationStore>(SqliteConversationStore.Open(Options()));

    protected override Task AdvanceAsync(TimeSpan duration)
    {
        Clock.Advance(duration);
        return Task.CompletedTask;
    }

    protected override async Task CorruptAsync(string conversationId, long sequence)
    {
        await using var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "UPDATE conversation_messages SET body = '{not json' WHERE conversation_id = $id AND seq = $seq;";
        command.Parameters.AddWithValue("$id", conversationId);
        command.Parameters.AddWithValue("$seq", sequence);
        Assert.Equal(1, await command.ExecuteNonQueryAsync());
    }

    protected override string KeyOf(string conversationId) => conversationId;

    protected override string EntryLocation(long sequence) => $"seq {sequence} in {DatabasePath}";

    public void Dispose() => _folder.Dispose();

    private MemoryStoreOptions Options() => new() { WorkingDirectory = _folder.Path, TimeProvider = Clock };

    [Fact]
    public async Task Open_DefaultOptions_CreatesWalDatabaseUnderDotAgentflow()
    {
        var store = (SqliteConversationStore)await ConversationStoreFactory.CreateAsync(Options());

        Assert.Equal(DatabasePath, store.DatabasePath);
        Assert.Equal("sqlite:" + DatabasePath, store.Description);
        Assert.True(File.Exists(DatabasePath));
        await using var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode;";
        Assert.Equal("wal", (string?)await command.ExecuteScalarAsync());
        command.CommandText = "PRAGMA user_version;";
        Assert.Equal((long)SqliteConversationStore.SchemaVersion, (long)(await command.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task AppendAsync_WhileAnotherConnectionHoldsTheWriteLock_WaitsAndThenWrites()
    {
        var id = NewId("locked");
        await using var other = new SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        await other.OpenAsync();
        var transaction = other.BeginTransaction(deferred: false); // BEGIN IMMEDIATE: the write lock, as another process would hold it
        await using var insert = other.CreateCommand();
        insert.Transaction = transaction;
        insert.CommandText = "INSERT INTO conversations (conversation_id, expires_at, updated_at) VALUES ('held', NULL, 0);";
        await insert.ExecuteNonQueryAsync();

        var append = Store.AppendAsync(id, new ConversationTurn("q", "a"), null, CancellationToken.None);
        await Task.Delay(400);
        Assert.False(append.IsCompleted);
        transaction.Commit();
        transaction.Dispose();

        var stored = await append.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal([1L, 2L], stored.Select(m => m.Sequence));
    }

    /// <summary>
    /// Another process (python3's sqlite3 module) takes the write lock, holds it for a moment, then reads what the store
    /// wrote: the store waits for the lock (busy timeout) instead of failing, and the other process sees the whole turn.
    /// </summary>
    [ProgramFact("python3")]
    public async Task AppendAsync_WhileAnotherProcessHoldsTheWriteLock_WaitsAndTheOtherProcessReadsTheTurn()
    {
        var id = NewId("cross-process");
        const string Script = """
            import sqlite3, sys, time
            db = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
            db.execute("BEGIN IMMEDIATE")
            print("locked", flush=True)
            time.sleep(2.0)  # long enough that a slow test thread still finds the lock held
            db.execute("COMMIT")
            sys.stdin.readline()
            rows = db.execute("SELECT seq, json_extract(body, '$.role'), json_extract(body, '$.content') FROM conversation_messages WHERE conversation_id = ? ORDER BY seq", (sys.argv[2],)).fetchall()
            print(";".join(f"{s}:{r}:{c}" for s, r, c in rows), flush=True)
            """;
        var start = new System.Diagnostics.ProcessStartInfo(ProgramFactAttribute.Find("python3")!)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "-c", Script, DatabasePath, id })
        {
            start.ArgumentList.Add(argument);
        }

        using var other = System.Diagnostics.Process.Start(start)!;
        Assert.Equal("locked", await other.StandardOutput.ReadLineAsync());
        var watch = System.Diagnostics.Stopwatch.StartNew();

        var stored = await Store.AppendAsync(id, new ConversationTurn("q", "a"), null, CancellationToken.None);

        Assert.True(watch.Elapsed > TimeSpan.FromMilliseconds(500), $"the append did not wait for the lock ({watch.Elapsed})");
        Assert.Equal([1L, 2L], stored.Select(m => m.Sequence));
        await other.StandardInput.WriteLineAsync();
        await other.StandardInput.FlushAsync();
        Assert.Equal("1:user:q;2:assistant:a", await other.StandardOutput.ReadLineAsync());
        await other.WaitForExitAsync();
        Assert.Equal(0, other.ExitCode);
    }

    [Fact]
    public async Task AppendAsync_ExpiredConversations_ArePurgedOnWrite()
    {
        var old = NewId("old");
        await Store.AppendAsync(old, new ConversationTurn("q", "a"), TimeSpan.FromMinutes(1), CancellationToken.None);
        Clock.Advance(TimeSpan.FromMinutes(2));

        await Store.AppendAsync(NewId("new"), new ConversationTurn("q", "a"), null, CancellationToken.None);

        await using var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM conversation_messages WHERE conversation_id = $id;";
        command.Parameters.AddWithValue("$id", old);
        Assert.Equal(0L, (long)(await command.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task Open_FileIsNotADatabase_ThrowsMemoryStoreExceptionNamingThePath()
    {
        var path = Path.Combine(_folder.Path, "garbage.db");
        await File.WriteAllTextAsync(path, new string('x', 4096));

        var error = Assert.Throws<MemoryStoreException>(() => SqliteConversationStore.Open(new MemoryStoreOptions { DatabasePath = path }));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }
}
