using AgentFlow.Memory.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace AgentFlow.Memory.Tests;

/// <summary>
/// What every <see cref="IConversationStore"/> must do. Each store's test class derives from this one and says how to
/// open another instance over the same data, how time passes, and how to damage an entry behind the store's back.
/// </summary>
public abstract class ConversationStoreContract : IAsyncLifetime
{
    protected static readonly DateTimeOffset Start = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private readonly List<IConversationStore> _opened = [];

    /// <summary>Clock of message timestamps (and of expiry, for stores that keep time themselves).</summary>
    protected FakeTimeProvider Clock { get; } = new(Start);

    /// <summary>The store the tests use (more instances come from <see cref="OpenAsync"/>).</summary>
    protected IConversationStore Store { get; private set; } = null!;

    /// <summary>Opens a new instance over the same data, as another process would.</summary>
    protected abstract Task<IConversationStore> CreateStoreAsync();

    /// <summary>Lets <paramref name="duration"/> pass for the store's expiry (fake or real time).</summary>
    protected abstract Task AdvanceAsync(TimeSpan duration);

    /// <summary>Overwrites message <paramref name="sequence"/> of the conversation with garbage, directly in the backing store.</summary>
    protected abstract Task CorruptAsync(string conversationId, long sequence);

    /// <summary>The key a <see cref="MemoryStoreException"/> about the conversation names.</summary>
    protected abstract string KeyOf(string conversationId);

    /// <summary>Text an error about entry <paramref name="sequence"/> names besides the key (the list index or the row).</summary>
    protected abstract string EntryLocation(long sequence);

    protected virtual Task CleanupAsync() => Task.CompletedTask;

    protected async Task<IConversationStore> OpenAsync()
    {
        var store = await CreateStoreAsync();
        _opened.Add(store);
        return store;
    }

    public async Task InitializeAsync() => Store = await OpenAsync();

    public async Task DisposeAsync()
    {
        foreach (var store in _opened)
        {
            await store.DisposeAsync();
        }

        await CleanupAsync();
    }

    protected static string NewId(string name) => $"{name}-{Guid.NewGuid():N}";

    [StoreFact]
    public async Task AppendAsync_ThenReadAsync_RoundTripsEveryField()
    {
        var id = NewId("round-trip");
        var written = new DateTimeOffset(2024, 12, 24, 18, 30, 15, 123, TimeSpan.FromHours(2));
        var first = new ConversationTurn("Where is my order \"42\"?\nIt's late — 遅い 🚚", "It ships tomorrow.")
        {
            StepId = "triage",
            RunId = "run-1",
            Model = "qwen",
            Timestamp = written,
        };

        var stored = await Store.AppendAsync(id, first, null, CancellationToken.None);
        Clock.Advance(TimeSpan.FromSeconds(5));
        await Store.AppendAsync(id, new ConversationTurn("Thanks", "You're welcome"), null, CancellationToken.None);
        var messages = await Store.ReadAsync(id, CancellationToken.None);

        Assert.Equal(4, messages.Count);
        Assert.Equal([1L, 2L], stored.Select(m => m.Sequence));
        Assert.Equal(stored, messages.Take(2));
        var (user, assistant) = (messages[0], messages[1]);
        Assert.Equal(ConversationRole.User, user.Role);
        Assert.Equal(first.UserMessage, user.Content);
        Assert.Equal(ConversationRole.Assistant, assistant.Role);
        Assert.Equal("It ships tomorrow.", assistant.Content);
        foreach (var message in new[] { user, assistant })
        {
            Assert.Equal("triage", message.StepId);
            Assert.Equal("run-1", message.RunId);
            Assert.Equal("qwen", message.Model);
            Assert.Equal(written, message.Timestamp);
            Assert.Equal(TimeSpan.Zero, message.Timestamp.Offset);
        }

        Assert.Equal(user.TurnId, assistant.TurnId);
        Assert.Matches("^[0-9a-f]{32}$", user.TurnId);
        Assert.Equal([1L, 2L, 3L, 4L], messages.Select(m => m.Sequence));
        Assert.NotEqual(user.TurnId, messages[2].TurnId);
        Assert.Null(messages[2].StepId);
        Assert.Null(messages[2].RunId);
        Assert.Null(messages[2].Model);
        Assert.Equal(Start.AddSeconds(5), messages[2].Timestamp);
    }

    [StoreFact]
    public async Task ReadAsync_UnknownConversation_ReturnsEmpty()
    {
        Assert.Empty(await Store.ReadAsync(NewId("unknown"), CancellationToken.None));
        Assert.Equal(0, await Store.ClearAsync(NewId("unknown"), CancellationToken.None));
    }

    [StoreFact]
    public async Task ReadAsync_FromAnotherInstance_SeesTheConversation()
    {
        var id = NewId("carry-over");
        await Store.AppendAsync(id, new ConversationTurn("remember 7", "noted"), null, CancellationToken.None);
        await Store.DisposeAsync();

        var other = await OpenAsync();
        var messages = await other.ReadAsync(id, CancellationToken.None);

        Assert.Equal(["remember 7", "noted"], messages.Select(m => m.Content));
    }

    [StoreFact]
    public async Task LastMessages_OverStoredConversation_KeepsLatestWholeTurns()
    {
        var id = NewId("window-messages");
        for (var i = 1; i <= 5; i++)
        {
            await Store.AppendAsync(id, new ConversationTurn($"q{i}", $"a{i}"), null, CancellationToken.None);
        }

        var messages = await Store.ReadAsync(id, CancellationToken.None);

        Assert.Equal(["q4", "a4", "q5", "a5"], MemoryWindow.LastMessages(messages, 4).Select(m => m.Content));
        Assert.Equal(["q4", "a4", "q5", "a5"], MemoryWindow.LastMessages(messages, 5).Select(m => m.Content));
        Assert.Equal(10, MemoryWindow.LastMessages(messages, 100).Count);
        Assert.Equal([7L, 8L, 9L, 10L], MemoryWindow.LastMessages(messages, 4).Select(m => m.Sequence));
    }

    [StoreFact]
    public async Task ReadLastAsync_LongConversation_ReturnsTheNewestMessagesWithTheirSequenceNumbers()
    {
        var id = NewId("tail");
        for (var i = 1; i <= 5; i++)
        {
            await Store.AppendAsync(id, new ConversationTurn($"q{i}", $"a{i}"), null, CancellationToken.None);
        }

        var whole = await Store.ReadAsync(id, CancellationToken.None);
        var tail = await Store.ReadLastAsync(id, 4, CancellationToken.None);

        Assert.Equal(["q4", "a4", "q5", "a5"], tail.Select(m => m.Content));
        Assert.Equal([7L, 8L, 9L, 10L], tail.Select(m => m.Sequence));
        Assert.Equal(whole.Select(m => (m.Sequence, m.Content)), (await Store.ReadLastAsync(id, 100, CancellationToken.None)).Select(m => (m.Sequence, m.Content)));
        Assert.Empty(await Store.ReadLastAsync(NewId("unknown"), 4, CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Store.ReadLastAsync(id, 0, CancellationToken.None));
    }

    [StoreFact]
    public async Task LastTokens_OverStoredConversation_KeepsNewestTurnsThatFit()
    {
        var id = NewId("window-tokens");
        await Store.AppendAsync(id, new ConversationTurn("one two three four five", "six seven eight nine ten"), null, CancellationToken.None); // 10 words
        await Store.AppendAsync(id, new ConversationTurn("a b", "c"), null, CancellationToken.None); // 3 words
        await Store.AppendAsync(id, new ConversationTurn("d e", "f g"), null, CancellationToken.None); // 4 words
        static int Words(string text) => text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;

        var messages = await Store.ReadAsync(id, CancellationToken.None);

        Assert.Equal(["a b", "c", "d e", "f g"], MemoryWindow.LastTokens(messages, 16, Words).Select(m => m.Content));
        Assert.Equal(6, MemoryWindow.LastTokens(messages, 17, Words).Count);
        Assert.Equal(["d e", "f g"], MemoryWindow.LastTokens(messages, 6, Words).Select(m => m.Content));
        Assert.Empty(MemoryWindow.LastTokens(messages, 3, Words));
        Assert.Equal(["d e", "f g"], MemoryWindow.LastTokens(messages, 10, Words, tokensPerMessage: 3).Select(m => m.Content));
    }

    [StoreFact]
    public async Task AppendAsync_100ConcurrentTurnsFrom10Writers_StoresEveryTurnWholeAndInWriterOrder()
    {
        const int Writers = 10;
        const int TurnsPerWriter = 10;
        var id = NewId("concurrent");
        var stores = new IConversationStore[Writers];
        for (var w = 0; w < Writers; w++)
        {
            stores[w] = await OpenAsync(); // each writer its own instance and connection(s), as separate processes have
        }

        using var go = new ManualResetEventSlim();
        var tasks = Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            go.Wait();
            var sequences = new List<long>();
            for (var t = 0; t < TurnsPerWriter; t++)
            {
                var stored = await stores[w].AppendAsync(id, new ConversationTurn($"w{w} t{t} question", $"w{w} t{t} answer") { StepId = $"w{w}" }, null, CancellationToken.None);
                sequences.AddRange(stored.Select(m => m.Sequence));
            }

            return sequences;
        })).ToArray();
        go.Set();
        var returned = (await Task.WhenAll(tasks)).SelectMany(s => s).ToList();

        var messages = await Store.ReadAsync(id, CancellationToken.None);

        Assert.Equal(Writers * TurnsPerWriter * 2, messages.Count);
        Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i), messages.Select(m => m.Sequence));
        Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i), returned.Order());
        var nextTurn = new int[Writers];
        for (var i = 0; i < messages.Count; i += 2)
        {
            var (question, answer) = (messages[i], messages[i + 1]);
            Assert.Equal(ConversationRole.User, question.Role);
            Assert.Equal(ConversationRole.Assistant, answer.Role);
            Assert.Equal(question.TurnId, answer.TurnId);
            var parts = question.Content.Split(' ');
            Assert.Equal($"{parts[0]} {parts[1]} answer", answer.Content);
            var writer = int.Parse(parts[0][1..], System.Globalization.CultureInfo.InvariantCulture);
            var turn = int.Parse(parts[1][1..], System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(nextTurn[writer], turn); // each writer's turns in its own order, none lost or doubled
            nextTurn[writer]++;
            Assert.Equal($"w{writer}", question.StepId);
        }

        Assert.All(nextTurn, n => Assert.Equal(TurnsPerWriter, n));
        Assert.Equal(100, MemoryWindow.Turns(messages).Count);
    }

    [StoreFact]
    public async Task ReadAsync_AfterTtl_ReturnsEmptyAndEveryWriteRefreshesTheTtl()
    {
        var id = NewId("ttl");
        var ttl = TimeSpan.FromSeconds(1);
        await Store.AppendAsync(id, new ConversationTurn("q1", "a1"), ttl, CancellationToken.None);
        await AdvanceAsync(TimeSpan.FromMilliseconds(600));
        Assert.Equal(2, (await Store.ReadAsync(id, CancellationToken.None)).Count);

        await Store.AppendAsync(id, new ConversationTurn("q2", "a2"), ttl, CancellationToken.None); // refreshes the whole conversation
        await AdvanceAsync(TimeSpan.FromMilliseconds(600)); // 1.2 s after the first write, 0.6 s after the last
        Assert.Equal(4, (await Store.ReadAsync(id, CancellationToken.None)).Count);
        Assert.Contains(id, await Store.ListAsync(CancellationToken.None));

        await AdvanceAsync(TimeSpan.FromMilliseconds(1200));
        Assert.Empty(await Store.ReadAsync(id, CancellationToken.None));
        Assert.DoesNotContain(id, await Store.ListAsync(CancellationToken.None));

        var restarted = await Store.AppendAsync(id, new ConversationTurn("q3", "a3"), ttl, CancellationToken.None);
        Assert.Equal([1L, 2L], restarted.Select(m => m.Sequence));
        Assert.Equal(["q3", "a3"], (await Store.ReadAsync(id, CancellationToken.None)).Select(m => m.Content));
    }

    [StoreFact]
    public async Task AppendAsync_WithoutTtlAfterTtl_KeepsTheConversation()
    {
        var id = NewId("ttl-cleared");
        await Store.AppendAsync(id, new ConversationTurn("q1", "a1"), TimeSpan.FromSeconds(1), CancellationToken.None);
        await Store.AppendAsync(id, new ConversationTurn("q2", "a2"), Timeout.InfiniteTimeSpan, CancellationToken.None);
        await AdvanceAsync(TimeSpan.FromMilliseconds(1300));

        Assert.Equal(4, (await Store.ReadAsync(id, CancellationToken.None)).Count);
    }

    [StoreFact]
    public async Task ClearAsync_ExistingConversation_RemovesItAndReturnsTheCount()
    {
        var id = NewId("clear");
        var other = NewId("clear-other");
        await Store.AppendAsync(id, new ConversationTurn("q1", "a1"), null, CancellationToken.None);
        await Store.AppendAsync(id, new ConversationTurn("q2", "a2"), null, CancellationToken.None);
        await Store.AppendAsync(other, new ConversationTurn("q", "a"), null, CancellationToken.None);

        Assert.Equal(4, await Store.ClearAsync(id, CancellationToken.None));

        Assert.Empty(await Store.ReadAsync(id, CancellationToken.None));
        Assert.Equal(0, await Store.ClearAsync(id, CancellationToken.None));
        Assert.Equal(2, (await Store.ReadAsync(other, CancellationToken.None)).Count);
        var ids = await Store.ListAsync(CancellationToken.None);
        Assert.Contains(other, ids);
        Assert.DoesNotContain(id, ids);
    }

    [StoreFact]
    public async Task ReadAsync_CorruptEntry_ThrowsMemoryStoreExceptionNamingTheKey()
    {
        var id = NewId("corrupt");
        await Store.AppendAsync(id, new ConversationTurn("q1", "a1"), null, CancellationToken.None);
        await Store.AppendAsync(id, new ConversationTurn("q2", "a2"), null, CancellationToken.None);
        await CorruptAsync(id, 3);

        var error = await Assert.ThrowsAsync<MemoryStoreException>(() => Store.ReadAsync(id, CancellationToken.None));

        Assert.IsAssignableFrom<AgentFlowException>(error);
        Assert.Equal(KeyOf(id), error.Key);
        Assert.Contains(KeyOf(id), error.Message, StringComparison.Ordinal);
        Assert.Contains(EntryLocation(3), error.Message, StringComparison.Ordinal);
        Assert.Contains("not valid JSON", error.Message, StringComparison.Ordinal);

        // Clearing is the way out, and the conversation starts again.
        Assert.Equal(4, await Store.ClearAsync(id, CancellationToken.None));
        await Store.AppendAsync(id, new ConversationTurn("q", "a"), null, CancellationToken.None);
        Assert.Equal(2, (await Store.ReadAsync(id, CancellationToken.None)).Count);
    }

    [StoreFact]
    public async Task ListAsync_SeveralConversations_ReturnsTheirIdsInOrder()
    {
        var prefix = NewId("list");
        foreach (var suffix in new[] { "b", "a", "c" })
        {
            await Store.AppendAsync($"{prefix}-{suffix}", new ConversationTurn("q", "a"), null, CancellationToken.None);
        }

        var ids = (await Store.ListAsync(CancellationToken.None)).Where(i => i.StartsWith(prefix, StringComparison.Ordinal));

        Assert.Equal([$"{prefix}-a", $"{prefix}-b", $"{prefix}-c"], ids);
    }

    [StoreFact]
    public async Task AppendAsync_InvalidArguments_ThrowsBeforeWriting()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => Store.AppendAsync(" ", new ConversationTurn("q", "a"), null, CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentException>(() => Store.AppendAsync("a\nb", new ConversationTurn("q", "a"), null, CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentException>(() => Store.AppendAsync(new string('x', ConversationIds.MaxLength + 1), new ConversationTurn("q", "a"), null, CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Store.AppendAsync("x", new ConversationTurn("q", "a"), TimeSpan.Zero, CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentNullException>(() => Store.AppendAsync("x", null!, null, CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentException>(() => Store.ReadAsync("", CancellationToken.None));
    }

    [StoreFact]
    public async Task AppendAsync_CancelledToken_ThrowsOperationCanceled()
    {
        var id = NewId("cancelled");
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Store.AppendAsync(id, new ConversationTurn("q", "a"), null, cancelled.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Store.ReadAsync(id, cancelled.Token));

        Assert.Empty(await Store.ReadAsync(id, CancellationToken.None));
    }
}
