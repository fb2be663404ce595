using AgentFlow.Definitions;
using AgentFlow.Execution;
using AgentFlow.Execution.Durable;
using AgentFlow.Models;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentFlow.Core.Tests.Execution;

/// <summary>Workflow steps run child runs on the real tiny model: linked records, outputs read later, retries, resume and replay.</summary>
public sealed class SubWorkflowRunTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>, IDisposable
{
    private const string Child = """
        name: child
        version: 1
        inputs:
          text: { type: string, required: true }
          audience: { type: string, default: agent }
        models: { w: tiny }
        steps:
          - id: s
            agent: { model: w, prompt: "Summarise for {{ inputs.audience }}: {{ inputs.text }}", max_tokens: 8, temperature: 0 }
        outputs:
          summary: "{{ steps.s.output }}"
          audience: "{{ inputs.audience }}"
        """;

    private const string Parent = """
        name: parent
        version: 1
        inputs: { ticket: { required: true } }
        models: { w: tiny }
        steps:
          - id: summarize
            workflow: { file: child.yaml, inputs: { text: "{{ inputs.ticket }}", audience: billing } }
          - id: route
            switch:
              cases:
                - when: "steps.summarize.output.audience == 'billing'"
                  steps:
                    - id: billing
                      agent: { model: w, prompt: "Reply: {{ steps.summarize.output.summary }}", max_tokens: 4, temperature: 0 }
              default:
                steps:
                  - id: other
                    agent: { model: w, prompt: "Other", max_tokens: 4, temperature: 0 }
        outputs:
          summary: "{{ steps.summarize.output.summary }}"
          path: "{{ steps.route.output }}"
          whole: "{{ steps.summarize.output }}"
        """;

    private readonly string _folder = Directory.CreateTempSubdirectory("agentflow-subwf-tests-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private WorkflowDefinition Write(string name, string yaml)
    {
        var path = Path.Combine(_folder, name);
        File.WriteAllText(path, yaml);
        return WorkflowLoader.Load(path).GetDefinitionOrThrow();
    }

    private FileRunStore NewStore() => new(Path.Combine(_folder, "runs", Guid.NewGuid().ToString("N")));

    private WorkflowRunner Runner(IRunStore store) =>
        new(tiny.Models, new LocalModelGateway(tiny.Models), TimeProvider.System, NullLogger<WorkflowRunner>.Instance, memory: null, store);

    private static RunRequest Request(WorkflowDefinition definition) => new(definition) { Inputs = new Dictionary<string, string> { ["ticket"] = "charged twice" } };

    private static async Task<List<DurableRun>> ChildrenOf(FileRunStore store, string parent) =>
        [.. (await store.ListRecentAsync(100, CancellationToken.None)).Where(r => r.Record.ParentRunId == parent)];

    [Fact]
    public async Task RunAsync_WorkflowStep_RunsALinkedChildRunWhoseOutputsLaterStepsAndSwitchesRead()
    {
        Write("child.yaml", Child);
        var parent = Write("parent.yaml", Parent);
        var store = NewStore();

        var record = await Runner(store).RunAsync(Request(parent), null, CancellationToken.None);

        Assert.True(record.Status == RunStatus.Succeeded, record.Error?.Message);
        var step = record.Steps.Single(s => s.Id == "summarize");
        Assert.Equal("workflow", step.Kind);
        Assert.Equal("""{"text":"charged twice","audience":"billing"}""", step.Prompt);
        var child = Assert.Single(await ChildrenOf(store, record.RunId));
        Assert.Equal(step.ChildRunId, child.RunId);
        Assert.Equal(RunStatus.Succeeded, child.Record.Status);
        Assert.Equal("child", child.Record.Workflow);
        Assert.Equal(child.Record.Outputs["summary"], record.Outputs["summary"]);
        Assert.Contains("\"audience\":\"billing\"", record.Outputs["whole"], StringComparison.Ordinal);
        // The switch read the child's output field and took the billing case.
        Assert.Contains(record.Steps, s => s.Id == "billing");
        Assert.DoesNotContain(record.Steps, s => s.Id == "other");
    }

    [Fact]
    public async Task RunAsync_ChildRecording_GetsTheChildsEventsUnderItsOwnRunId()
    {
        Write("child.yaml", Child);
        var parent = Write("parent.yaml", Parent);
        var events = new List<RunEvent>();
        var observer = new Collect(events);
        var runner = new WorkflowRunner(tiny.Models, new LocalModelGateway(tiny.Models), TimeProvider.System, NullLogger<WorkflowRunner>.Instance)
        {
            RecordChildRun = (start, _) => Task.FromResult(new ChildRunRecording("child-" + start.ParentRunId, observer, _ => ValueTask.CompletedTask)),
        };

        var record = await runner.RunAsync(Request(parent), null, CancellationToken.None);

        Assert.Equal(RunStatus.Succeeded, record.Status);
        Assert.Equal("child-" + record.RunId, record.Steps.Single(s => s.Id == "summarize").ChildRunId);
        var finished = Assert.Single(events.OfType<RunFinishedEvent>());
        Assert.Equal("child-" + record.RunId, finished.RunId);
        Assert.Equal(record.RunId, finished.Record.ParentRunId);
        Assert.Contains(events, e => e is StepFinishedEvent { Step.Id: "s" });
    }

    [Fact]
    public async Task RunAsync_ChildFailsOnEveryAttempt_StepFailsNamingTheChildRunAfterEachAttemptRanItsOwnChild()
    {
        Write("failing.yaml", """
            name: failing
            version: 1
            models: { w: tiny }
            steps:
              - id: spin
                loop:
                  max_iterations: 1
                  until: "steps.draft.output == 'NEVER'"
                  steps:
                    - id: draft
                      agent: { model: w, prompt: hi, max_tokens: 2, temperature: 0 }
            """);
        var parent = Write("retrying.yaml", """
            name: retrying
            version: 1
            steps:
              - id: call
                retry: { attempts: 2, backoff: 10ms }
                workflow: { file: failing.yaml }
            """);
        var store = NewStore();

        var record = await Runner(store).RunAsync(new RunRequest(parent), null, CancellationToken.None);

        Assert.Equal(RunStatus.Failed, record.Status);
        Assert.Equal("call", record.Error!.StepId);
        Assert.Contains("workflow 'failing.yaml' failed after 2 attempts: child run ", record.Error.Message, StringComparison.Ordinal);
        Assert.Contains("failed at step 'spin': loop stopped after max_iterations (1)", record.Error.Message, StringComparison.Ordinal);
        var attempts = record.Steps.Where(s => s.Id == "call").ToList();
        Assert.Equal([1, 2], attempts.Select(a => a.Attempt));
        var children = await ChildrenOf(store, record.RunId);
        Assert.Equal(attempts.Select(a => a.ChildRunId).Order(StringComparer.Ordinal), children.Select(c => c.RunId).Order(StringComparer.Ordinal));
        Assert.All(children, c => Assert.Equal(RunStatus.Failed, c.Record.Status));
    }

    [Fact]
    public async Task ResumeAsync_ParentCrashedAfterItsChildSucceeded_ReusesTheChildWithoutRunningItAgain()
    {
        Write("child.yaml", Child);
        var parent = Write("parent.yaml", Parent);
        var store = NewStore();
        var first = await Runner(store).RunAsync(Request(parent), null, CancellationToken.None);
        Assert.Equal(RunStatus.Succeeded, first.Status);
        var childId = first.Steps.Single(s => s.Id == "summarize").ChildRunId;

        // As the store holds it when the process died just after the child ended: the step still running, no checkpoint.
        var stored = (await store.LoadAsync(first.RunId, CancellationToken.None))!;
        stored.Record.Status = RunStatus.Running;
        stored.Record.Ended = null;
        stored.Record.Outputs.Clear();
        stored.CheckpointId = null;
        stored.CheckpointSteps = 0;
        var inFlight = stored.Record.Steps.Single(s => s.Id == "summarize");
        inFlight.Status = StepStatus.Running;
        inFlight.Output = null;
        stored.Record.Steps.RemoveAll(s => s.Id != "summarize");

        var resumed = await Runner(store).ResumeAsync(new ResumeRequest(stored, parent), null, CancellationToken.None);

        Assert.True(resumed.Status == RunStatus.Succeeded, resumed.Error?.Message);
        var attempts = resumed.Steps.Where(s => s.Id == "summarize").ToList();
        Assert.Equal(StepStatus.Failed, attempts[0].Status);
        Assert.StartsWith("interrupted", attempts[0].Error, StringComparison.Ordinal);
        Assert.Equal(2, attempts[1].Attempt);
        Assert.Equal(childId, attempts[1].ChildRunId);
        Assert.Contains("reused after the resume", attempts[1].Detail, StringComparison.Ordinal);
        Assert.Single(await ChildrenOf(store, first.RunId));
        Assert.Equal(first.Outputs["summary"], resumed.Outputs["summary"]);
    }

    [Fact]
    public async Task ResumeAsync_ParentCrashedMidChild_ContinuesTheSameChildRunFromItsOwnRecord()
    {
        Write("child.yaml", Child);
        var parent = Write("parent.yaml", Parent);
        var store = NewStore();
        var first = await Runner(store).RunAsync(Request(parent), null, CancellationToken.None);
        Assert.Equal(RunStatus.Succeeded, first.Status);
        var childId = first.Steps.Single(s => s.Id == "summarize").ChildRunId!;

        // Both processes died while the child's step ran: the child is interrupted too, with no checkpoint.
        var child = (await store.LoadAsync(childId, CancellationToken.None))!;
        child.Record.Status = RunStatus.Running;
        child.Record.Ended = null;
        child.Record.Outputs.Clear();
        child.CheckpointId = null;
        child.CheckpointSteps = 0;
        child.Record.Steps.Single().Status = StepStatus.Running;
        await store.SaveAsync(child, CancellationToken.None);
        var stored = (await store.LoadAsync(first.RunId, CancellationToken.None))!;
        stored.Record.Status = RunStatus.Running;
        stored.Record.Ended = null;
        stored.Record.Outputs.Clear();
        stored.CheckpointId = null;
        stored.CheckpointSteps = 0;
        stored.Record.Steps.RemoveAll(s => s.Id != "summarize");
        stored.Record.Steps.Single().Status = StepStatus.Running;
        stored.Record.Steps.Single().Output = null;

        var resumed = await Runner(store).ResumeAsync(new ResumeRequest(stored, parent), null, CancellationToken.None);

        Assert.True(resumed.Status == RunStatus.Succeeded, resumed.Error?.Message);
        Assert.Equal(childId, resumed.Steps.Where(s => s.Id == "summarize").Last().ChildRunId);
        Assert.Single(await ChildrenOf(store, first.RunId));
        var continued = (await store.LoadAsync(childId, CancellationToken.None))!.Record;
        Assert.Equal(RunStatus.Succeeded, continued.Status);
        Assert.Equal([(1, StepStatus.Failed), (2, StepStatus.Succeeded)], continued.Steps.Select(s => (s.Attempt, s.Status)));
        Assert.Equal(continued.Outputs["summary"], resumed.Outputs["summary"]);
    }

    [Fact]
    public async Task RunAsync_Replay_ReusesTheRecordedOutputsAndStartsNoChildRun()
    {
        Write("child.yaml", Child);
        var parent = Write("parent.yaml", Parent);
        var store = NewStore();
        var replay = new RunReplay("recorded-run", new Dictionary<ReplayKey, RecordedOutput>
        {
            [new ReplayKey("summarize", null)] = new("""{"summary":"from the record","audience":"billing"}""", null),
        });

        var record = await Runner(store).RunAsync(Request(parent) with { Replay = replay }, null, CancellationToken.None);

        Assert.Equal(RunStatus.Succeeded, record.Status);
        Assert.Equal("from the record", record.Outputs["summary"]);
        Assert.Equal("recorded-run", record.Steps.Single(s => s.Id == "summarize").ReplayedFrom);
        Assert.Empty(await ChildrenOf(store, record.RunId));
    }

    private sealed class Collect(List<RunEvent> events) : IRunObserver
    {
        public void OnEvent(RunEvent runEvent)
        {
            lock (events)
            {
                events.Add(runEvent);
            }
        }
    }
}
