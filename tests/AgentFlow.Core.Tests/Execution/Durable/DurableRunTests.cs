using System.Text.Json;
using AgentFlow.Definitions;
using AgentFlow.Execution;
using AgentFlow.Execution.Durable;
using AgentFlow.Models;
using AgentFlow.Models.Llama.Builtin;
using AgentFlow.Models.Llama.Providers;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentFlow.Core.Tests.Execution.Durable;

/// <summary>Runs that park at approvals and continue in a fresh runner (as another process would), on the real tiny model.</summary>
public sealed class DurableRunTests : IAsyncLifetime
{
    private const string Workflow = """
        name: approve-test
        version: 1
        inputs: { ticket: { required: true } }
        models: { w: tiny }
        steps:
          - id: draft
            agent: { model: w, prompt: "Reply to: {{ inputs.ticket }}", max_tokens: 8, temperature: 0 }
          - id: review
            approval:
              message: "Send the reply to {{ inputs.ticket }}?"
              show: "{{ steps.draft.output }}"
              timeout: TIMEOUT
              on_timeout: WHEN_LATE
          - id: route
            switch:
              cases:
                - when: "steps.review.approved"
                  steps:
                    - id: send
                      agent: { model: w, prompt: "Polish: {{ steps.draft.output }}", max_tokens: 8, temperature: 0 }
              default:
                steps:
                  - id: hold
                    agent: { model: w, prompt: "Hold: {{ steps.review.comment }}", max_tokens: 8, temperature: 0 }
        outputs:
          decision: "{{ steps.review.output }}/{{ steps.review.approved }}/{{ steps.review.decided_by }}/{{ steps.review.comment }}"
          path: "{{ steps.route.output }}"
        """;

    private readonly string _home = Directory.CreateTempSubdirectory("agentflow-durable-tests-").FullName;
    private ModelHost _models = null!;

    public Task InitializeAsync()
    {
        var registry = ModelRegistry.Load(configPath: null, new Dictionary<string, string>(), _home);
        _models = new ModelHost(registry, [new BuiltinModelProvider(new BuiltinModelStore(Path.Combine(_home, "models")))]);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _models.DisposeAsync();
        Directory.Delete(_home, recursive: true);
    }

    private static WorkflowDefinition Definition(string timeout = "24h", string onTimeout = "reject", string text = Workflow) =>
        WorkflowLoader.Parse(text.Replace("WHEN_LATE", onTimeout, StringComparison.Ordinal).Replace("TIMEOUT", timeout, StringComparison.Ordinal), "approve.yaml").GetDefinitionOrThrow();

    // A new runner (and context, and compiled workflow) per call: nothing carries over in memory between them.
    private WorkflowRunner Runner(IRunStore store) =>
        new(_models, new LocalModelGateway(_models), TimeProvider.System, NullLogger<WorkflowRunner>.Instance, memory: null, store);

    private async Task<(FileRunStore Store, RunRecord Parked)> ParkAsync(WorkflowDefinition definition)
    {
        var store = new FileRunStore(Path.Combine(_home, "runs", Guid.NewGuid().ToString("N")));
        var parked = await Runner(store).RunAsync(
            new RunRequest(definition) { Inputs = new Dictionary<string, string> { ["ticket"] = "refund" } }, null, CancellationToken.None);
        return (store, parked);
    }

    [Fact]
    public async Task RunAsync_ApprovalStep_ParksWaitingWithRenderedQuestionAndCheckpoint()
    {
        var (store, parked) = await ParkAsync(Definition());

        Assert.Equal(RunStatus.Waiting, parked.Status);
        Assert.Null(parked.Ended);
        Assert.Equal("review", parked.Waiting!.StepId);
        Assert.Equal("Send the reply to refund?", parked.Waiting.Message);
        Assert.Equal(parked.Steps.Single(s => s.Id == "draft").Output, parked.Waiting.Show);
        Assert.Equal(TimeSpan.FromHours(24), parked.Waiting.Deadline - parked.Waiting.RequestedAt);
        var stored = await store.LoadAsync(parked.RunId, CancellationToken.None);
        Assert.NotNull(stored!.CheckpointId);
        Assert.Equal(RunStatus.Waiting, stored.Record.Status);
        Assert.Equal([parked.RunId], (await store.ListActiveAsync(CancellationToken.None)).Select(r => r.RunId));
    }

    [Fact]
    public async Task ResumeAsync_Approved_ContinuesInFreshRunnerWithoutRerunningFinishedSteps()
    {
        var definition = Definition();
        var (store, parked) = await ParkAsync(definition);
        var draft = parked.Steps.Single(s => s.Id == "draft").Output;
        var stored = (await store.LoadAsync(parked.RunId, CancellationToken.None))!;

        var done = await Runner(store).ResumeAsync(
            new ResumeRequest(stored, Definition()) { Answer = new ApprovalAnswer("review", Approved: true, "alice", "ship it") }, null, CancellationToken.None);

        Assert.Equal(RunStatus.Succeeded, done.Status);
        Assert.Null(done.Waiting);
        Assert.Equal("approved/true/alice/ship it", done.Outputs["decision"]);
        Assert.Equal(["draft", "review", "route", "send"], done.Steps.Select(s => s.Id));
        Assert.Equal(draft, done.Steps[0].Output);
        var review = done.Steps[1];
        Assert.Equal((StepStatus.Succeeded, "approved", "alice", "ship it"), (review.Status, review.Approval!.Decision, review.Approval.DecidedBy, review.Approval.Comment));
        Assert.Equal("Send the reply to refund?", review.Approval.Message);
        Assert.Empty(await store.ListActiveAsync(CancellationToken.None));
        Assert.Equal(RunStatus.Succeeded, (await store.LoadAsync(parked.RunId, CancellationToken.None))!.Record.Status);
    }

    [Fact]
    public async Task ResumeAsync_RunParkedByABuildBeforeTheCheckpointLog_ResumesFromTheCheckpointFolder()
    {
        var (store, parked) = await ParkAsync(Definition());
        await store.DisposeAsync();
        // Rewrite the parked run in the layout earlier builds wrote: run.json whole, and checkpoints/<id>.json, each
        // followed by its "id parent" line in checkpoints/index.
        var dir = Path.Combine(store.Description, parked.RunId);
        var stored = (await new FileRunStore(store.Description).LoadAsync(parked.RunId, CancellationToken.None))!;
        await File.WriteAllTextAsync(Path.Combine(dir, "run.json"), stored.ToJson());
        File.Delete(Path.Combine(dir, "run.log"));
        var legacy = Directory.CreateDirectory(Path.Combine(dir, "checkpoints")).FullName;
        var ids = new List<string>();
        foreach (var line in await File.ReadAllLinesAsync(Path.Combine(dir, "checkpoints.log")))
        {
            var parts = line.Split(' ', 3);
            await File.WriteAllTextAsync(Path.Combine(legacy, parts[0] + ".json"), parts[2]);
            await File.AppendAllTextAsync(Path.Combine(legacy, "index"), $"{parts[0]} {parts[1]}\n");
            ids.Add(parts[0]);
        }

        File.Delete(Path.Combine(dir, "checkpoints.log"));
        Assert.Contains(stored.CheckpointId, ids);

        var reopened = new FileRunStore(store.Description);
        var done = await Runner(reopened).ResumeAsync(
            new ResumeRequest((await reopened.LoadAsync(parked.RunId, CancellationToken.None))!, Definition())
            {
                Answer = new ApprovalAnswer("review", Approved: true, "alice", "ok"),
            }, null, CancellationToken.None);

        Assert.Equal(RunStatus.Succeeded, done.Status);
        Assert.Equal(["draft", "review", "route", "send"], done.Steps.Select(s => s.Id));
        Assert.Equal(parked.Steps[0].Output, done.Steps[0].Output);
        // The old checkpoints stay where they were; the resumed run's go to the log, continuing them.
        var index = (await reopened.Checkpoints(parked.RunId).RetrieveIndexAsync(parked.RunId)).Select(c => c.CheckpointId).ToList();
        Assert.Equal(ids, index.Take(ids.Count));
        Assert.True(index.Count > ids.Count);
    }

    [Fact]
    public async Task ResumeAsync_Rejected_TakesTheOtherBranchWithTheComment()
    {
        var (store, parked) = await ParkAsync(Definition());
        var stored = (await store.LoadAsync(parked.RunId, CancellationToken.None))!;

        var done = await Runner(store).ResumeAsync(
            new ResumeRequest(stored, Definition()) { Answer = new ApprovalAnswer("review", Approved: false, "bob", "too curt") }, null, CancellationToken.None);

        Assert.Equal(RunStatus.Succeeded, done.Status);
        Assert.Equal("rejected/false/bob/too curt", done.Outputs["decision"]);
        Assert.Equal("Hold: too curt", done.Steps.Single(s => s.Id == "hold").Prompt);
        Assert.DoesNotContain(done.Steps, s => s.Id == "send");
    }

    [Fact]
    public async Task ResumeAsync_TimeoutPassed_OnTimeoutDecidesEvenWhenSomeoneAnswersLate()
    {
        var (store, parked) = await ParkAsync(Definition(timeout: "1s", onTimeout: "approve"));
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        var stored = (await store.LoadAsync(parked.RunId, CancellationToken.None))!;

        var done = await Runner(store).ResumeAsync(
            new ResumeRequest(stored, Definition(timeout: "1s", onTimeout: "approve")) { Answer = new ApprovalAnswer("review", Approved: false, "late", null) }, null, CancellationToken.None);

        Assert.Equal(RunStatus.Succeeded, done.Status);
        Assert.StartsWith("approved/true/timeout/", done.Outputs["decision"], StringComparison.Ordinal);
        Assert.Contains(done.Steps, s => s.Id == "send");
    }

    [Fact]
    public async Task ResumeAsync_TimeoutWithOnTimeoutFail_FailsAtTheApproval()
    {
        var (store, parked) = await ParkAsync(Definition(timeout: "1s", onTimeout: "fail"));
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        var stored = (await store.LoadAsync(parked.RunId, CancellationToken.None))!;

        var done = await Runner(store).ResumeAsync(new ResumeRequest(stored, Definition(timeout: "1s", onTimeout: "fail")), null, CancellationToken.None);

        Assert.Equal(RunStatus.Failed, done.Status);
        Assert.Equal("review", done.Error!.StepId);
        Assert.Contains("timed out", done.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ResumeAsync_NoAnswerBeforeDeadline_ParksAgain()
    {
        var (store, parked) = await ParkAsync(Definition());
        var stored = (await store.LoadAsync(parked.RunId, CancellationToken.None))!;

        var again = await Runner(store).ResumeAsync(new ResumeRequest(stored, Definition()), null, CancellationToken.None);

        Assert.Equal(RunStatus.Waiting, again.Status);
        Assert.Equal("review", again.Waiting!.StepId);
        Assert.Single(again.Steps, s => s.Id == "draft");
    }

    [Fact]
    public async Task ResumeAsync_DefinitionChanged_RefusesAndSaysWhy()
    {
        var (store, parked) = await ParkAsync(Definition());
        var stored = (await store.LoadAsync(parked.RunId, CancellationToken.None))!;
        var changed = Definition(text: Workflow.Replace("Polish:", "Polish now:", StringComparison.Ordinal));

        var error = await Assert.ThrowsAsync<RunStoreException>(() => Runner(store).ResumeAsync(
            new ResumeRequest(stored, changed) { Answer = new ApprovalAnswer("review", true, "a", null) }, null, CancellationToken.None));

        Assert.Contains("changed since run", error.Message, StringComparison.Ordinal);
        Assert.Contains("restore that file", error.Message, StringComparison.Ordinal);
        Assert.Equal(RunStatus.Waiting, (await store.LoadAsync(parked.RunId, CancellationToken.None))!.Record.Status);
    }

    [Fact]
    public async Task ResumeAsync_AnswerForAnotherStep_RefusesNamingTheWaitingStep()
    {
        var (store, parked) = await ParkAsync(Definition());
        var stored = (await store.LoadAsync(parked.RunId, CancellationToken.None))!;

        var error = await Assert.ThrowsAsync<RunStoreException>(() => Runner(store).ResumeAsync(
            new ResumeRequest(stored, Definition()) { Answer = new ApprovalAnswer("draft", true, "a", null) }, null, CancellationToken.None));

        Assert.Equal($"run {parked.RunId} waits at approval 'review', not 'draft'", error.Message);
    }

    [Fact]
    public async Task ResumeAsync_RunHeldByAnotherProcess_Refuses()
    {
        var (store, parked) = await ParkAsync(Definition());
        var stored = (await store.LoadAsync(parked.RunId, CancellationToken.None))!;
        await using var held = await store.TryAcquireLeaseAsync(parked.RunId, "other", CancellationToken.None);

        var error = await Assert.ThrowsAsync<RunStoreException>(() => Runner(store).ResumeAsync(
            new ResumeRequest(stored, Definition()) { Answer = new ApprovalAnswer("review", true, "a", null) }, null, CancellationToken.None));

        Assert.Contains("another process", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ResumeAsync_StepsSucceededAfterTheCheckpoint_AnswerFromTheRecordWithoutNewRows()
    {
        // A crash after steps finished but before the engine committed their superstep: the engine runs them again,
        // and their recorded answers stand (the model is not called twice, the record gets no duplicate rows).
        const string Chain = """
            name: chain
            version: 1
            models: { w: tiny }
            steps:
              - id: a
                agent: { model: w, prompt: "one", max_tokens: 6, temperature: 0 }
              - id: pick
                switch:
                  cases:
                    - when: "steps.a.output != ''"
                      steps:
                        - id: b
                          agent: { model: w, prompt: "two {{ steps.a.output }}", max_tokens: 6, temperature: 0 }
            outputs: { out: "{{ steps.pick.output }}" }
            """;
        var store = new FileRunStore(Path.Combine(_home, "runs", Guid.NewGuid().ToString("N")));
        var first = await Runner(store).RunAsync(new RunRequest(WorkflowLoader.Parse(Chain, "chain.yaml").GetDefinitionOrThrow()), null, CancellationToken.None);
        Assert.Equal(RunStatus.Succeeded, first.Status);
        var stored = (await store.LoadAsync(first.RunId, CancellationToken.None))!;
        var rows = first.Steps.Select(s => (s.Id, s.Attempt, s.Output)).ToList();
        stored.Record.Status = RunStatus.Running;
        stored.Record.Ended = null;
        stored.Record.Outputs.Clear();
        stored.CheckpointId = null; // as if no superstep had been committed when the process died
        stored.CheckpointSteps = 0;
        stored.Record.Steps.Single(s => s.Id == "pick").Status = StepStatus.Running;

        var resumed = await Runner(store).ResumeAsync(new ResumeRequest(stored, WorkflowLoader.Parse(Chain, "chain.yaml").GetDefinitionOrThrow()), null, CancellationToken.None);

        Assert.Equal(RunStatus.Succeeded, resumed.Status);
        Assert.Equal(rows, resumed.Steps.Select(s => (s.Id, s.Attempt, s.Output)));
        Assert.Equal(first.Outputs["out"], resumed.Outputs["out"]);
        Assert.All(resumed.Steps, s => Assert.Equal(StepStatus.Succeeded, s.Status));
    }

    [Fact]
    public async Task RunAsync_ApprovalWithoutRunStore_RefusesBeforeAnyStep()
    {
        var runner = new WorkflowRunner(_models, new LocalModelGateway(_models), TimeProvider.System, NullLogger<WorkflowRunner>.Instance);

        var error = await Assert.ThrowsAsync<AgentFlowException>(() => runner.RunAsync(
            new RunRequest(Definition()) { Inputs = new Dictionary<string, string> { ["ticket"] = "x" } }, null, CancellationToken.None));

        Assert.Contains("approval step 'review'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TryAcquireLeaseAsync_HeldLease_SecondCallerGetsNullUntilReleased()
    {
        var store = new FileRunStore(Path.Combine(_home, "leases"));
        var first = await store.TryAcquireLeaseAsync("run1", "a", CancellationToken.None);

        Assert.NotNull(first);
        Assert.Null(await store.TryAcquireLeaseAsync("run1", "b", CancellationToken.None));
        await first!.DisposeAsync();
        await using var second = await store.TryAcquireLeaseAsync("run1", "b", CancellationToken.None);
        Assert.NotNull(second);
    }

    [Theory]
    [InlineData("../etc")]
    [InlineData("")]
    [InlineData("a/b")]
    public async Task LoadAsync_RunIdThatCouldEscapeTheFolder_Throws(string runId)
    {
        var store = new FileRunStore(Path.Combine(_home, "ids"));

        await Assert.ThrowsAsync<RunStoreException>(() => store.LoadAsync(runId, CancellationToken.None));
    }

    [Fact]
    public void StepOutputJson_BranchesAndFields_RoundTripExactly()
    {
        var output = StepOutput.OfBranches([new("b", StepOutput.OfText("2")), new("a", StepOutput.OfText("1"))]) with
        {
            Fields = new Dictionary<string, object?> { ["approved"] = true, ["comment"] = null, ["decided_by"] = "ann" },
        };

        var back = JsonSerializer.Deserialize<StepOutput>(JsonSerializer.Serialize(output))!;

        Assert.Equal(["b", "a"], back.Branches!.Keys);
        Assert.Equal("{\"b\":\"2\",\"a\":\"1\"}", back.ToString());
        Assert.Equal(output.Fields, back.Fields);
    }
}
