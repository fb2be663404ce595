using AgentFlow.Execution;
using AgentFlow.Memory;

namespace AgentFlow.Core.Tests.Execution;

public sealed class MemoryRunTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    private static string Chat(string window) => $$$"""
        name: chat
        version: 1
        inputs: { customer: { required: true }, message: { required: true } }
        models: { w: tiny }
        memory: { conversation: "c-{{ inputs.customer }}" }
        steps:
          - id: reply
            agent: { model: w, prompt: "{{ inputs.message }}", max_tokens: 8, temperature: 0, memory: { read: true, write: true, window: {{{window}}} } }
        """;

    private static Dictionary<string, string> Inputs(string message) => new() { ["customer"] = "7", ["message"] = message };

    [Fact]
    public async Task RunAsync_MessageWindow_SendsOnlyTheLatestWholeTurns()
    {
        await using var store = fixture.OpenStore();
        var memory = store.AsConversationMemory();
        foreach (var message in new[] { "one", "two", "three" })
        {
            await fixture.RunAsync(Chat("{ messages: 20 }"), Inputs(message), memory: memory);
        }

        var windowed = await fixture.RunAsync(Chat("{ messages: 3 }"), Inputs("four"), memory: memory);

        // 3 messages allowed, whole turns only: one turn (2 messages).
        Assert.Equal(2, windowed.Steps[0].MemoryMessages);
        Assert.Equal("c-7", windowed.ConversationId);
        Assert.Equal(8, (await store.ReadAsync("c-7")).Count);
    }

    [Fact]
    public async Task RunAsync_TokenWindow_CountsWithTheModelsOwnTokenizer()
    {
        await using var store = fixture.OpenStore();
        var memory = store.AsConversationMemory();
        await fixture.RunAsync(Chat("{ messages: 20 }"), Inputs("a fairly long first message for the conversation"), memory: memory);
        await fixture.RunAsync(Chat("{ messages: 20 }"), Inputs("hi"), memory: memory);
        var history = await store.ReadAsync("c-7");
        var tokenizer = (AgentFlow.Models.ITokenCounter)(await fixture.Models.GetAsync("tiny", CancellationToken.None)).Client;
        var lastTurn = tokenizer.CountTokens(history[2].Content) + tokenizer.CountTokens(history[3].Content);
        var bothTurns = lastTurn + tokenizer.CountTokens(history[0].Content) + tokenizer.CountTokens(history[1].Content);

        var justLast = await fixture.RunAsync(Chat($"{{ tokens: {lastTurn} }}"), Inputs("three"), memory: memory);
        var both = await fixture.RunAsync(Chat($"{{ tokens: {bothTurns} }}"), Inputs("four"), memory: memory);

        // The byte-level tokenizer makes a characters/4 guess wrong by about 4x: the budget is honoured exactly.
        Assert.Equal(2, justLast.Steps[0].MemoryMessages);
        Assert.True(both.Steps[0].MemoryMessages >= 2);
        Assert.True(tokenizer.CountTokens(history[0].Content) > history[0].Content.Length / 4);
    }

    [Fact]
    public async Task RunAsync_StoreFails_StepFailsClearlyNeverRunsWithoutMemory()
    {
        var store = fixture.OpenStore();
        var memory = store.AsConversationMemory();
        await store.DisposeAsync();
        var path = ((AgentFlow.Memory.Local.SqliteConversationStore)store).DatabasePath;
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        File.Delete(path + "-wal");
        File.Delete(path + "-shm");
        File.WriteAllText(path, "this file is not a database, as when a disk or a copy went wrong");

        var record = await fixture.RunAsync(Chat("{ messages: 20 }"), Inputs("hello"), memory: memory);

        Assert.Equal(RunStatus.Failed, record.Status);
        Assert.Equal("reply", record.Error!.StepId);
        Assert.Null(record.Steps[0].Output);
        Assert.Equal(StepStatus.Failed, record.Steps[0].Status);
        Assert.Contains(path, record.Error.Message, StringComparison.Ordinal);
    }
}
