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

    // The example of docs/workflow-format.md, as written there.
    private const string Brief = """
        name: support-triage          # required
        version: 1
        description: Classify a ticket and draft a reply.
        inputs:
          ticket: { type: string, required: true }
          tone: { type: string, default: friendly }
        models:
          classifier: tiny
          writer: tiny
        steps:
          - id: classify
            agent:
              model: classifier
              system: You label support tickets.
              prompt: "Label as billing, bug or other: {{ inputs.ticket }}"
              max_tokens: 16
              temperature: 0
              top_p: 0.9
              seed: 42
              stop: ["\n"]
          - id: route
            switch:
              cases:
                - when: "steps.classify.output contains 'billing'"
                  steps: [ { id: billing_reply, agent: { model: writer, prompt: "..." } } ]
              default:
                steps: [ { id: general_reply, agent: { model: writer, prompt: "..." } } ]
          - id: research
            parallel:
              - { id: pros, agent: { model: writer, prompt: "..." } }
              - { id: cons, agent: { model: writer, prompt: "..." } }
          - id: refine
            loop:
              max_iterations: 3
              until: "steps.critique.output contains 'APPROVED'"
              on_exhausted: fail
              steps:
                - { id: draft, agent: { model: writer, prompt: "..." } }
                - { id: critique, agent: { model: writer, prompt: "..." } }
        outputs:
          reply: "{{ steps.route.output }}"
        """;

    [Fact]
    public void Parse_BriefExample_ReadsEveryStepWithItsLocation()
    {
        var result = WorkflowLoader.Parse(Brief, "brief.yaml");

        Assert.Empty(result.Diagnostics);
        var definition = result.GetDefinitionOrThrow();
        Assert.Equal("Classify a ticket and draft a reply.", definition.Description);
        Assert.Equal(new InputDefinition("ticket", InputType.String, true, null, null, new("brief.yaml", 5, 3)), definition.Inputs[0]);
        Assert.Equal(new InputDefinition("tone", InputType.String, false, "friendly", null, new("brief.yaml", 6, 3)), definition.Inputs[1]);
        Assert.Equal(new ModelAliasDefinition("writer", "tiny", new("brief.yaml", 9, 3)), definition.Models[1]);
        Assert.Equal(
            [("classify", 11), ("route", 21), ("billing_reply", 25), ("general_reply", 27), ("research", 28), ("pros", 30), ("cons", 31), ("refine", 32), ("draft", 38), ("critique", 39)],
            definition.AllSteps().Select(s => (s.Id, s.Location.Line)));

        var classify = Assert.IsType<AgentStepDefinition>(definition.Steps[0]);
        Assert.Equal(new SourceLocation("brief.yaml", 13, 14), classify.ModelAliasLocation);
        Assert.Equal(new TemplateText("You label support tickets.", new("brief.yaml", 14, 15)), classify.System);
        Assert.Equal(new TemplateText("Label as billing, bug or other: {{ inputs.ticket }}", new("brief.yaml", 15, 16)), classify.Prompt);
        Assert.Equal((16, 0f, 0.9f, 42L), (classify.MaxTokens, classify.Temperature, classify.TopP, classify.Seed));
        Assert.Equal(["\n"], classify.Stop);

        var route = Assert.IsType<SwitchStepDefinition>(definition.Steps[1]);
        var @case = Assert.Single(route.Cases);
        Assert.Equal(new TemplateText("steps.classify.output contains 'billing'", new("brief.yaml", 24, 18)), @case.When);
        Assert.Equal(new SourceLocation("brief.yaml", 24, 11), @case.Location);
        Assert.Equal("billing_reply", Assert.Single(@case.Steps).Id);
        Assert.Equal("general_reply", Assert.Single(route.Default!).Id);

        var research = Assert.IsType<ParallelStepDefinition>(definition.Steps[2]);
        Assert.Equal(new SourceLocation("brief.yaml", 30, 9), research.Branches[0].Location);

        var refine = Assert.IsType<LoopStepDefinition>(definition.Steps[3]);
        Assert.Equal((3, LoopExhaustedBehavior.Fail), (refine.MaxIterations, refine.OnExhausted));
        Assert.Equal(new TemplateText("steps.critique.output contains 'APPROVED'", new("brief.yaml", 35, 15)), refine.Until);
        Assert.Equal(["draft", "critique"], refine.Steps.Select(s => s.Id));

        var output = Assert.Single(definition.Outputs);
        Assert.Equal(new OutputDefinition("reply", new TemplateText("{{ steps.route.output }}", new("brief.yaml", 41, 11))), output);
        Assert.Equal(Brief, definition.SourceText);
        Assert.Equal("brief.yaml", definition.FilePath);
    }

    [Fact]
    public void Parse_Sha256_IsLowercaseHexOfTheUtf8Text()
    {
        var text = Brief.Replace("Classify", "Classé", StringComparison.Ordinal);

        var definition = WorkflowLoader.Parse(text, "x.yaml").GetDefinitionOrThrow();

        Assert.Equal(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text))).ToLowerInvariant(), definition.Sha256);
    }

    [Fact]
    public void Load_Directory_IsADiagnosticNotAnException()
    {
        var result = WorkflowLoader.Load(AppContext.BaseDirectory);

        Assert.Equal("AF0100", Assert.Single(result.Diagnostics).Code);
        Assert.False(result.Succeeded);
    }

    [Fact]
    public void Parse_OnlyWarnings_Succeeds()
    {
        var result = WorkflowLoader.Parse("""
            name: warn
            version: 1
            models: { w: tiny, spare: tiny }
            steps: [ { id: a, agent: { model: w, prompt: hi } } ]
            """, "warn.yaml");

        var warning = Assert.Single(result.Diagnostics);
        Assert.Equal((DiagnosticSeverity.Warning, "AF0203"), (warning.Severity, warning.Code));
        Assert.True(result.Succeeded);
        Assert.Equal("warn.yaml:3:20: warning AF0203: model alias 'spare' is not used by any step (hint: remove it, or use it in a step's model:)", warning.ToString());
    }

    [Fact]
    public void Parse_TemplateInABlockScalar_LocatesEachCharacterOnItsOwnLine()
    {
        var result = WorkflowLoader.Parse("""
            name: blocks
            version: 1
            models: { w: tiny }
            steps:
              - id: a
                agent:
                  model: w
                  prompt: |
                    first line
                      second {{ x }}
            """, "b.yaml");

        var diagnostic = Assert.Single(result.Diagnostics);
        Assert.Equal(("AF0209", 10, 21), (diagnostic.Code, diagnostic.Location.Line, diagnostic.Location.Column));
    }

    [Theory]
    [InlineData("loop body reads itself and a later step", """
        - id: refine
          loop:
            max_iterations: 3
            until: "steps.critique.output contains 'OK' or loop.iteration == 3"
            steps:
              - { id: draft, agent: { model: w, prompt: "{{ steps.draft.output }} {{ steps.critique.output }} {{ loop.iteration }}" } }
              - { id: critique, agent: { model: w, prompt: "{{ steps.draft.output }}" } }
        - { id: after, agent: { model: w, prompt: "{{ steps.refine.output }} {{ steps.draft.output }} {{ steps.critique.output }}" } }
        """)]
    [InlineData("after a parallel: the parallel, its branches and their fields", """
        - id: research
          parallel:
            - { id: pros, agent: { model: w, prompt: hi } }
            - id: deep
              loop:
                max_iterations: 2
                until: "true"
                steps: [ { id: dig, agent: { model: w, prompt: hi } } ]
        - { id: after, agent: { model: w, prompt: "{{ steps.research.output.pros }} {{ steps.research.output.deep }} {{ steps.pros.output }} {{ steps.dig.output }} {{ steps.deep.output }}" } }
        """)]
    [InlineData("inside a switch case: earlier steps of the case; after it: the switch", """
        - { id: first, agent: { model: w, prompt: hi } }
        - id: route
          switch:
            cases:
              - when: "steps.first.output == 'a'"
                steps:
                  - { id: one, agent: { model: w, prompt: "{{ steps.first.output }}" } }
                  - { id: two, agent: { model: w, prompt: "{{ steps.one.output }}" } }
            default:
              steps: [ { id: three, agent: { model: w, prompt: "{{ steps['first'].output }}" } } ]
        - { id: after, agent: { model: w, prompt: "{{ steps.route.output | upcase }}" } }
        """)]
    [InlineData("template locals and Liquid syntax", """
        - { id: a, agent: { model: w, prompt: "{% assign t = inputs.topic | downcase %}{% for w in (1..3) %}{{ forloop.index }}{{ t }}{% endfor %}{% capture c %}x{% endcapture %}{{ c }}" } }
        - { id: b, agent: { model: w, prompt: "{% if steps.a.output contains 'x' %}{{ steps.a.output.size }}{% else %}{{ inputs.topic | default: 'none' }}{% endif %}" } }
        """)]
    public void Parse_ValidReferences_AreAccepted(string what, string steps)
    {
        var text = $"""
            name: valid
            version: 1
            inputs: {"{"} topic: {"}"}
            models: {"{"} w: tiny {"}"}
            steps:
            {steps.Replace("\n", "\n", StringComparison.Ordinal)}
            """;

        var result = WorkflowLoader.Parse(text, "valid.yaml");

        Assert.True(result.Succeeded, $"{what}:\n{string.Join('\n', result.Diagnostics)}");
        Assert.Empty(result.Diagnostics);
    }

    [Fact]
    public void Parse_EveryTruncationAndEveryMissingLine_NeverThrowsAndStaysInTheFile()
    {
        var lines = Brief.Split('\n');
        var variants = Enumerable.Range(0, Brief.Length).Where(i => i % 3 == 0).Select(i => Brief[..i])
            .Concat(Enumerable.Range(0, lines.Length).Select(i => string.Join('\n', lines.Where((_, j) => j != i))))
            .Concat(Enumerable.Range(0, lines.Length).Select(i => string.Join('\n', lines.Select((l, j) => j == i ? "  " + l : l))));

        foreach (var variant in variants)
        {
            var result = WorkflowLoader.Parse(variant, "fuzz.yaml");

            var lineCount = variant.Split('\n').Length;
            Assert.All(result.Diagnostics, d =>
            {
                Assert.InRange(d.Location.Line, 1, lineCount + 1);
                Assert.InRange(d.Location.Column, 1, 500);
                Assert.Matches("^AF0[123][0-9]{2}$", d.Code);
            });
            Assert.Equal(result.Definition is null, result.Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error));
        }
    }
}
