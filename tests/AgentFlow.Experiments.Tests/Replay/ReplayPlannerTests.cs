using AgentFlow.Definitions;
using AgentFlow.Execution;
using AgentFlow.Experiments.Cases;
using AgentFlow.Experiments.Replay;
using AgentFlow.Experiments.Runs;

namespace AgentFlow.Experiments.Tests.Replay;

public sealed class ReplayPlannerTests
{
    public const string LoopWorkflow = """
        name: loopy
        version: 1
        models: { writer: tiny, critic: tiny }
        steps:
          - id: outline
            agent: { model: writer, prompt: "Outline a poem.", max_tokens: 4, temperature: 0 }
          - id: refine
            loop:
              max_iterations: 2
              until: "false"
              on_exhausted: continue
              steps:
                - id: draft
                  agent: { model: writer, prompt: "Draft from {{ steps.outline.output }}", max_tokens: 4, temperature: 0 }
                - id: critique
                  agent: { model: critic, prompt: "Critique {{ steps.draft.output }}", max_tokens: 4, temperature: 0 }
          - id: final
            agent: { model: writer, prompt: "Polish {{ steps.outline.output }}", max_tokens: 4, temperature: 0 }
        outputs:
          text: "{{ steps.final.output }}"
        """;

    private static WorkflowDefinition Definition() => WorkflowLoader.Parse(LoopWorkflow, "loopy.yaml").GetDefinitionOrThrow();

    private static RecordedStep Step(string id, int? iteration, string output, string status = "succeeded", int attempt = 1) =>
        new(id, "agent", iteration, attempt, "tiny", status, 10, 5, 4, null, output, null);

    private static RecordedRun Original() => new()
    {
        RunId = "orig",
        Workflow = "loopy",
        Status = "succeeded",
        LatencyMs = 100,
        Inputs = [],
        Bindings = new Dictionary<string, string> { ["writer"] = "tiny", ["critic"] = "tiny" },
        Outputs = new Dictionary<string, string>(),
        Steps =
        [
            Step("outline", null, "o"),
            Step("draft", 1, "broken", "failed"),
            Step("draft", 1, "d1", attempt: 2),
            Step("critique", 1, "c1"),
            Step("draft", 2, "d2"),
            Step("critique", 2, "c2"),
            Step("final", null, "f"),
        ],
    };

    [Fact]
    public void Plan_RebindStepInLoop_ReusesStepsBeforeItAndOnlyFirstIterationInsideTheLoop()
    {
        var plan = ReplayPlanner.Plan(Definition(), Original(), new Dictionary<string, string> { ["writer"] = "tiny", ["critic"] = "tiny2" }, from: null);

        Assert.Equal("critique", plan.LiveFrom);
        Assert.Equal(["critic"], plan.Rebound);
        Assert.Equal("orig", plan.Replay.FromRunId);
        Assert.Equal(
            new Dictionary<ReplayKey, RecordedOutput> { [new("outline", null)] = new("o", "tiny"), [new("draft", 1)] = new("d1", "tiny") },
            plan.Replay.Outputs);
    }

    [Fact]
    public void Plan_From_ReusesEverythingBeforeTheStep()
    {
        var plan = ReplayPlanner.Plan(Definition(), Original(), new Dictionary<string, string> { ["writer"] = "tiny2" }, from: "final");

        Assert.Equal("final", plan.LiveFrom);
        Assert.Equal(
            ["outline", "draft#1", "draft#2", "critique#1", "critique#2"],
            plan.Replay.Outputs.Keys.Select(k => k.Iteration is { } i ? $"{k.StepId}#{i}" : k.StepId));
    }

    [Fact]
    public void Plan_UnknownFromStep_ListsTheSteps()
    {
        var ex = Assert.Throws<ExperimentInputException>(() => ReplayPlanner.Plan(Definition(), Original(), new Dictionary<string, string>(), from: "nope"));
        Assert.Equal("--from 'nope': workflow 'loopy' has no step 'nope' (steps: outline, refine, draft, critique, final)", ex.Message);
    }

    [Fact]
    public void Plan_NothingRebound_SaysWhatToPass()
    {
        var ex = Assert.Throws<ExperimentInputException>(() => ReplayPlanner.Plan(Definition(), Original(), new Dictionary<string, string> { ["writer"] = "tiny" }, from: null));
        Assert.StartsWith("nothing would run live", ex.Message, StringComparison.Ordinal);
    }
}
