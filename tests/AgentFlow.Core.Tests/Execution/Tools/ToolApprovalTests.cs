using AgentFlow.Definitions;
using AgentFlow.Execution;
using AgentFlow.Execution.Durable;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentFlow.Core.Tests.Execution.Tools;

/// <summary>
/// Tools with <c>approve: true</c> on the real built-in tiny model (<c>tool_choice</c> forces the call): the run parks
/// before the call, and a fresh runner (as another process would) continues it with the decision.
/// </summary>
public sealed class ToolApprovalTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>, IDisposable
{
    private readonly string _runs = Directory.CreateTempSubdirectory("agentflow-tool-approval-").FullName;

    private static WorkflowDefinition Definition(string url) => WorkflowLoader.Parse($$$"""
        name: order-help
        version: 1
        models: { writer: tiny }
        tools:
          lookup_order:
            description: Look up an order by its id.
            parameters: { type: object, properties: { order_id: { type: string, pattern: "^[A-Z0-9-]{1,20}$" } }, required: [order_id] }
            http: { url: "{{{url}}}/orders/{{ args.order_id }}", timeout: 5s }
            approve: true
        steps:
          - id: resolve
            agent: { model: writer, prompt: "Where is order A-1?", tools: [lookup_order], tool_choice: lookup_order, max_tool_calls: 1, max_tokens: 96, temperature: 0, seed: 7 }
        outputs:
          answer: "{{ steps.resolve.output }}"
        """, "order-help.yaml").GetDefinitionOrThrow();

    // The tiny model's order ids are random (schema-valid): every id is an order here.
    private static LoopbackServer AnyOrder() => new(request =>
        (200, $$"""{"order_id":"{{Uri.UnescapeDataString(request.Url!.AbsolutePath["/orders/".Length..])}}","status":"shipped"}""", null));

    // A new runner per call: nothing carries over in memory between parking and deciding.
    private WorkflowRunner Runner(IRunStore store) =>
        new(tiny.Models, new AgentFlow.Models.LocalModelGateway(tiny.Models), TimeProvider.System, NullLogger<WorkflowRunner>.Instance, memory: null, store);

    private async Task<(FileRunStore Store, RunRecord Parked)> ParkAsync(WorkflowDefinition definition)
    {
        var store = new FileRunStore(_runs);
        var parked = await Runner(store).RunAsync(new RunRequest(definition), null, CancellationToken.None);
        return (store, parked);
    }

    private async Task<RunRecord> DecideAsync(string url, RunRecord parked, bool approve, string? comment)
    {
        await using var store = new FileRunStore(_runs);
        var stored = (await store.LoadAsync(parked.RunId, CancellationToken.None))!;
        return await Runner(store).ResumeAsync(
            new ResumeRequest(stored, Definition(url)) { Answer = new ApprovalAnswer("resolve", approve, "alice", comment) }, null, CancellationToken.None);
    }

    [Fact]
    public async Task RunAsync_ToolWithApprove_ParksBeforeTheCallWithToolAndCheckedArguments()
    {
        await using var server = AnyOrder();
        var (store, parked) = await ParkAsync(Definition(server.Url));
        await using var _ = store;

        Assert.True(parked.Status == RunStatus.Waiting, $"{parked.Status}: {parked.Error}; {string.Join(" | ", parked.Steps.Select(s => s.Error))}");
        Assert.Empty(server.Requests);
        var waiting = parked.Waiting!;
        Assert.Equal(("resolve", "lookup_order"), (waiting.StepId, waiting.Tool));
        Assert.Null(waiting.Deadline);
        var arguments = System.Text.Json.Nodes.JsonNode.Parse(waiting.Arguments!)!.AsObject();
        Assert.Matches("^[A-Z0-9-]{1,20}$", arguments["order_id"]!.GetValue<string>());
        var call = Assert.Single(Assert.Single(parked.Steps).ToolCallsSnapshot());
        Assert.Equal(("lookup_order", "waiting", waiting.Arguments), (call.Name, call.Status, call.Arguments));
        Assert.Null(call.Approval!.Decision);
        var stored = await store.LoadAsync(parked.RunId, CancellationToken.None);
        Assert.Equal(("lookup_order", RunStatus.Waiting), (stored!.Record.Waiting!.Tool, stored.Record.Status));
    }

    [Fact]
    public async Task ResumeAsync_ApprovedInFreshRunner_CallsTheServerOnceAndSucceeds()
    {
        await using var server = AnyOrder();
        var (store, parked) = await ParkAsync(Definition(server.Url));
        await store.DisposeAsync();
        var orderId = System.Text.Json.Nodes.JsonNode.Parse(parked.Waiting!.Arguments!)!["order_id"]!.GetValue<string>();

        var done = await DecideAsync(server.Url, parked, approve: true, "fine");

        Assert.Equal(RunStatus.Succeeded, done.Status);
        Assert.Null(done.Waiting);
        var request = Assert.Single(server.Requests);
        Assert.Equal($"/orders/{Uri.EscapeDataString(orderId)}", request.PathAndQuery);
        var step = Assert.Single(done.Steps);
        Assert.Equal((StepStatus.Succeeded, 1), (step.Status, step.Attempt));
        var call = step.ToolCallsSnapshot()[0];
        Assert.Equal("succeeded", call.Status);
        Assert.Equal(("approved", "alice", "fine"), (call.Approval!.Decision, call.Approval.DecidedBy, call.Approval.Comment));
        Assert.NotNull(call.Approval.DecidedAt);
        Assert.NotNull(call.ResultSha256);
        Assert.Contains(orderId, call.Result, StringComparison.Ordinal);
        Assert.Equal(step.Output, done.Outputs["answer"]);
    }

    [Fact]
    public async Task ResumeAsync_Rejected_NeverCallsTheServerAndTheModelIsToldAndGoesOn()
    {
        await using var server = AnyOrder();
        var (store, parked) = await ParkAsync(Definition(server.Url));
        await store.DisposeAsync();

        var done = await DecideAsync(server.Url, parked, approve: false, "not this one");

        Assert.Equal(RunStatus.Succeeded, done.Status);
        Assert.Empty(server.Requests);
        var call = Assert.Single(done.Steps).ToolCallsSnapshot()[0];
        Assert.Equal("refused", call.Status);
        Assert.Equal(("rejected", "alice", "not this one"), (call.Approval!.Decision, call.Approval.DecidedBy, call.Approval.Comment));
        Assert.Contains("refused", call.Error, StringComparison.Ordinal);
        // What the model was told is the call's recorded result.
        Assert.Contains("not this one", call.Result, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_ReplayOfAnApprovedRun_ReusesTheRecordedResultAndDecisionWithoutAsking()
    {
        await using var server = AnyOrder();
        var (store, parked) = await ParkAsync(Definition(server.Url));
        await store.DisposeAsync();
        var done = await DecideAsync(server.Url, parked, approve: true, "fine");
        var recorded = done.Steps[0].ToolCallsSnapshot();
        var replay = new RunReplay(done.RunId, new Dictionary<ReplayKey, RecordedOutput>())
        {
            ToolCalls = new Dictionary<ReplayKey, IReadOnlyList<ToolCallRecord>> { [new ReplayKey("resolve", null)] = recorded },
        };

        // No run store: a replay never parks, so it needs none.
        var runner = new WorkflowRunner(tiny.Models, new AgentFlow.Models.LocalModelGateway(tiny.Models), TimeProvider.System, NullLogger<WorkflowRunner>.Instance);
        var again = await runner.RunAsync(new RunRequest(Definition(server.Url)) { Replay = replay }, null, CancellationToken.None);

        Assert.Equal(RunStatus.Succeeded, again.Status);
        Assert.Single(server.Requests); // the approved run's call only
        var call = again.Steps[0].ToolCallsSnapshot()[0];
        Assert.Equal((done.RunId, "approved", "alice"), (call.ReplayedFrom, call.Approval?.Decision, call.Approval?.DecidedBy));
        Assert.Equal(recorded[0].ResultSha256, call.ResultSha256);
    }

    [Fact]
    public async Task RunAsync_ToolWithApproveWithoutRunStore_FailsBeforeAnyStep()
    {
        var ex = await Assert.ThrowsAsync<AgentFlowException>(() => tiny.RunAsync("""
            name: help
            version: 1
            models: { writer: tiny }
            tools:
              refund: { parameters: { type: object }, http: { method: POST, url: "http://127.0.0.1:1/refund" }, approve: true }
            steps:
              - { id: resolve, agent: { model: writer, prompt: hi, tools: [refund] } }
            """));

        Assert.Contains("tool 'refund' with approve: true", ex.Message, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_runs, recursive: true);
}
