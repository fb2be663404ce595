using AgentFlow.Definitions;
using AgentFlow.Diagnostics;

namespace AgentFlow.Core.Tests.Definitions;

public sealed class WorkflowLoaderTests
{
    private const string Full = """
        name: support-triage
        version: 2
        description: Classify a ticket and draft a reply.
        inputs:
          ticket: { type: string, required: true }
          tone: { type: string, default: friendly }
          retries: { type: integer, default: 2 }
        models:
          classifier: tiny
          writer: tiny2
        steps:
          - id: classify
            agent:
              model: classifier
              system: You label support tickets.
              prompt: "Label as billing, bug or other: {{ inputs.ticket }}"
              max_tokens: 16
              temperature: 0
              top_p: 0.9
              seed: 7
              stop: ["\n", "END"]
          - id: route
            switch:
              cases:
                - when: "steps.classify.output contains 'billing'"
                  steps: [ { id: billing_reply, agent: { model: writer, prompt: "Billing: {{ inputs.ticket }}" } } ]
              default:
                steps: [ { id: general_reply, agent: { model: writer, prompt: "General" } } ]
          - id: research
            parallel:
              - { id: pros, agent: { model: writer, prompt: "pros of {{ steps.route.output }}" } }
              - { id: cons, agent: { model: writer, prompt: "cons" } }
          - id: refine
            loop:
              max_iterations: 3
              until: "steps.critique.output contains 'APPROVED'"
              on_exhausted: continue
              steps:
                - { id: draft, agent: { model: writer, prompt: "Draft {{ loop.iteration }} {{ steps.critique.output }} {{ steps.research.output.pros }}" } }
                - { id: critique, agent: { model: writer, prompt: "Critique {{ steps.draft.output }}" } }
        outputs:
          reply: "{{ steps.route.output }}"
          final: "{{ steps.refine.output }}"
        """;

    [Fact]
    public void Parse_FullExample_ReadsEveryFieldWithLocations()
    {
        var result = WorkflowLoader.Parse(Full, "triage.yaml");

        Assert.Empty(result.Diagnostics);
        var definition = result.GetDefinitionOrThrow();
        Assert.Equal("support-triage", definition.Name);
        Assert.Equal(2, definition.Version);
        Assert.Equal(["ticket", "tone", "retries"], definition.Inputs.Select(i => i.Name));
        Assert.True(definition.Inputs[0].Required);
        Assert.Equal("friendly", definition.Inputs[1].Default);
        Assert.Equal(InputType.Integer, definition.Inputs[2].Type);
        Assert.Equal([("classifier", "tiny"), ("writer", "tiny2")], definition.Models.Select(m => (m.Alias, m.Model)));

        var classify = Assert.IsType<AgentStepDefinition>(definition.Steps[0]);
        Assert.Equal(new SourceLocation("triage.yaml", 12, 5), classify.Location);
        Assert.Equal("classifier", classify.ModelAlias);
        Assert.Equal("You label support tickets.", classify.System!.Text);
        Assert.Equal(16, classify.MaxTokens);
        Assert.Equal(0f, classify.Temperature);
        Assert.Equal(0.9f, classify.TopP);
        Assert.Equal(7, classify.Seed);
        Assert.Equal(["\n", "END"], classify.Stop);
        Assert.Equal(new SourceLocation("triage.yaml", 16, 16), classify.Prompt.Location);

        var route = Assert.IsType<SwitchStepDefinition>(definition.Steps[1]);
        Assert.Single(route.Cases);
        Assert.Equal("general_reply", Assert.Single(route.Default!).Id);
        var research = Assert.IsType<ParallelStepDefinition>(definition.Steps[2]);
        Assert.Equal(["pros", "cons"], research.Branches.Select(b => b.Id));
        var refine = Assert.IsType<LoopStepDefinition>(definition.Steps[3]);
        Assert.Equal(3, refine.MaxIterations);
        Assert.Equal(LoopExhaustedBehavior.Continue, refine.OnExhausted);
        Assert.Equal(["reply", "final"], definition.Outputs.Select(o => o.Name));
        Assert.Equal(10, definition.AllSteps().Count());
        Assert.Equal(64, definition.Sha256.Length);
    }

    [Fact]
    public void Parse_SameText_GivesSameHash_AndChangedTextAnother()
    {
        var a = WorkflowLoader.Parse(Full, "a.yaml").GetDefinitionOrThrow();
        var b = WorkflowLoader.Parse(Full, "b.yaml").GetDefinitionOrThrow();
        var c = WorkflowLoader.Parse(Full.Replace("version: 2", "version: 3", StringComparison.Ordinal), "c.yaml").GetDefinitionOrThrow();

        Assert.Equal(a.Sha256, b.Sha256);
        Assert.NotEqual(a.Sha256, c.Sha256);
    }

    [Fact]
    public void Load_MissingFile_IsADiagnosticNotAnException()
    {
        var result = WorkflowLoader.Load("/nowhere/flow.yaml");

        var diagnostic = Assert.Single(result.Diagnostics);
        Assert.Equal("AF0100", diagnostic.Code);
        Assert.Contains("file not found", diagnostic.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_LoopBodyReadsLaterStepAndUntilReadsBody_IsValid()
    {
        var result = WorkflowLoader.Parse("""
            name: loop-refs
            version: 1
            models: { w: tiny }
            steps:
              - id: refine
                loop:
                  max_iterations: 2
                  until: "steps.critique.output contains 'OK' or loop.iteration > 1"
                  steps:
                    - { id: draft, agent: { model: w, prompt: "{{ steps.critique.output }}" } }
                    - { id: critique, agent: { model: w, prompt: "{{ steps.draft.output }}" } }
              - { id: after, agent: { model: w, prompt: "{{ steps.draft.output }} {{ steps.refine.output }}" } }
            """, "loop.yaml");

        Assert.True(result.Succeeded, string.Join('\n', result.Diagnostics));
    }
}
