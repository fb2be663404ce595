using System.Text.Json.Nodes;
using AgentFlow.Definitions;
using AgentFlow.Execution;
using AgentFlow.Models;
using AgentFlow.Models.Llama.Builtin;
using AgentFlow.Models.Llama.Providers;
using AgentFlow.Retrieval.Indexing;
using AgentFlow.Retrieval.Tests.Support;
using AgentFlow.Tracking.MLflow.Recording;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentFlow.Retrieval.Tests.Tools;

/// <summary>
/// A <c>retrieve:</c> tool on the real built-in tiny llama model (forced to call it, so its query is schema-valid
/// gibberish) searching a real MiniLM collection: the call is recorded as a tool call and as a retrieval.
/// </summary>
public sealed class RetrieveToolRunTests(MiniLmFixture minilm) : IClassFixture<MiniLmFixture>, IAsyncLifetime
{
    private static readonly string[] Sources = ["refunds.md", "shipping.md", "warranty.md"];

    private readonly TempFolder _work = new();
    private ModelHost _models = null!;
    private CollectionHost _collections = null!;

    public async Task InitializeAsync()
    {
        var registry = ModelRegistry.Parse("", "agentflow.yaml");
        _models = new ModelHost(registry, [new BuiltinModelProvider(new BuiltinModelStore(Path.Combine(_work.Path, "models")))]);
        _collections = minilm.Host(registry, _work.Path);
        _work.Write("docs/refunds.md", "# Refunds\n\nDamaged items are refunded in full within 30 days of delivery.\n");
        _work.Write("docs/shipping.md", "# Shipping\n\nOrders leave the warehouse within two working days.\n");
        _work.Write("docs/warranty.md", "# Warranty\n\nElectronics carry a two-year warranty against defects.\n");
        var target = await _collections.OpenAsync("kb", mustExist: false, CancellationToken.None);
        await DocumentIndexer.IndexAsync(target, new IndexRequest { Directory = Path.Combine(_work.Path, "docs") }, null, TimeProvider.System, CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _collections.DisposeAsync();
        await _models.DisposeAsync();
        _work.Dispose();
    }

    private const string Forced = """
        name: help
        version: 1
        models: { writer: tiny }
        tools:
          search_kb: { retrieve: { collection: kb, top_k: 2 } }
        steps:
          - id: answer
            agent: { model: writer, prompt: "Can I get a refund?", tools: [search_kb], tool_choice: search_kb, max_tool_calls: 2, max_tokens: 96, temperature: 0 }
        """;

    private Task<RunRecord> RunAsync(string yaml, RunReplay? replay = null)
    {
        var definition = WorkflowLoader.Parse(yaml, Path.Combine(_work.Path, "test.yaml")).GetDefinitionOrThrow();
        var runner = new WorkflowRunner(_models, new LocalModelGateway(_models), TimeProvider.System, NullLogger<WorkflowRunner>.Instance) { Retriever = _collections };
        return runner.RunAsync(new RunRequest(definition) { Replay = replay }, observer: null, CancellationToken.None);
    }

    [Fact]
    public async Task RunAsync_ReplayOfRetrieveToolCall_GetsTheWholeRecordedChunksNotTheCutResult()
    {
        var first = await RunAsync(Forced);
        var recorded = first.Steps.Single().ToolCallsSnapshot()[0];
        // As if the result had been longer than the record keeps: only a prefix survives, the chunks are whole.
        var cut = new ToolCallRecord { Name = recorded.Name, Tool = recorded.Tool, Arguments = recorded.Arguments, Started = recorded.Started, Status = recorded.Status, Retrieval = recorded.Retrieval };
        cut.SetResult(recorded.Result!);
        cut.Result = cut.Result![..10];
        cut.ResultTruncated = true;

        var replay = await RunAsync(Forced, new RunReplay(first.RunId, new Dictionary<ReplayKey, RecordedOutput>())
        {
            ToolCalls = new Dictionary<ReplayKey, IReadOnlyList<ToolCallRecord>> { [new ReplayKey("answer", null)] = [cut] },
        });

        var call = replay.Steps.Single().ToolCallsSnapshot()[0];
        Assert.Equal(first.RunId, call.ReplayedFrom);
        Assert.Same(recorded.Retrieval, call.Retrieval);
        Assert.Equal(recorded.Result, call.Result);
    }

    [Fact]
    public async Task RunAsync_StepForcedToCallRetrieveTool_RecordsTheCallWithItsChunks()
    {
        var record = await RunAsync("""
            name: help
            version: 1
            models: { writer: tiny }
            tools:
              search_kb: { retrieve: { collection: kb, top_k: 2 } }
            steps:
              - id: answer
                agent: { model: writer, prompt: "Can I get a refund?", tools: [search_kb], tool_choice: search_kb, max_tool_calls: 2, max_tokens: 96, temperature: 0 }
            """);

        Assert.True(record.Status == RunStatus.Succeeded, record.Error?.Message);
        var call = Assert.Single(record.Steps).ToolCallsSnapshot()[0];
        Assert.Equal(("search_kb", "succeeded"), (call.Tool, call.Status));
        var query = JsonNode.Parse(call.Arguments)!["query"]!.GetValue<string>();
        var retrieval = Assert.IsType<RetrievalRecord>(call.Retrieval);
        Assert.Equal(("kb", query.Trim(), 2), (retrieval.Collection, retrieval.Query, retrieval.TopK));
        Assert.Equal(2, retrieval.Chunks.Count);
        Assert.All(retrieval.Chunks, c => Assert.Contains(c.Source, Sources));
        Assert.True(retrieval.Chunks[0].Score >= retrieval.Chunks[1].Score);

        // What the model read: the ranked chunks as JSON, the same ids in the same order.
        var result = JsonNode.Parse(call.Result!)!.AsArray();
        Assert.Equal(retrieval.Chunks.Select(c => c.Id), result.Select(c => c!["id"]!.GetValue<string>()));
        Assert.Equal(retrieval.Chunks[0].Text, result[0]!["text"]!.GetValue<string>());

        // The transcript (audit chain, MLflow artifact) keeps the search beside the call.
        var recorded = RunTranscript.Build(record)["steps"]![0]!["tool_calls"]![0]!["retrieval"]!;
        Assert.Equal("kb", recorded["collection"]!.GetValue<string>());
        Assert.Equal(retrieval.Chunks.Select(c => c.Source), recorded["chunks"]!.AsArray().Select(c => c!["source"]!.GetValue<string>()));
    }

    [Fact]
    public async Task RunAsync_RetrieveToolOnUnknownCollection_FailsBeforeAnyStepAtTheCollection()
    {
        var ex = await Assert.ThrowsAsync<DefinitionException>(() => RunAsync("""
            name: help
            version: 1
            models: { writer: tiny }
            tools:
              search_kb:
                retrieve: { collection: nope }
            steps:
              - { id: answer, agent: { model: writer, prompt: hi, tools: [search_kb] } }
            """));

        var error = Assert.Single(ex.Diagnostics);
        Assert.Equal(("AF0503", 6, 29), (error.Code, error.Location.Line, error.Location.Column));
        Assert.Contains("retrieve tool 'search_kb'", error.Message, StringComparison.Ordinal);
    }
}
