using AgentFlow.Definitions;
using AgentFlow.Execution;

namespace AgentFlow.Core.Tests.Execution;

public sealed class SplitAssignmentTests
{
    private const string Workflow = """
        name: split
        version: 1
        inputs:
          customer_id: { required: true }
        models:
          writer: { tiny: 80, tiny2: 20 }
          editor: tiny
        split_key: "{{ inputs.customer_id }}"
        steps:
          - id: a
            agent: { model: writer, prompt: hi }
          - id: b
            agent: { model: editor, prompt: hi }
        """;

    private static WorkflowDefinition Definition(string yaml = Workflow) => WorkflowLoader.Parse(yaml, "split.yaml").GetDefinitionOrThrow();

    private static Task<IReadOnlyList<SplitChoice>> ChooseAsync(WorkflowDefinition definition, string customer, IReadOnlyDictionary<string, string>? bindings = null) =>
        SplitAssignment.ChooseAsync(definition, new Dictionary<string, object?> { ["customer_id"] = customer }, bindings ?? new Dictionary<string, string>(), new Random(1), CancellationToken.None);

    [Fact]
    public void Parse_WeightedBinding_KeepsWeightsInOrderAndDefaultsToTheHeaviest()
    {
        var writer = Definition().Models.Single(m => m.Alias == "writer");
        Assert.Equal([new ModelWeight("tiny", 80), new ModelWeight("tiny2", 20)], writer.Split);
        Assert.Equal("tiny", writer.Model);
        Assert.Empty(Definition().Models.Single(m => m.Alias == "editor").Split);
    }

    [Fact]
    public async Task ChooseAsync_SameKey_SameModelEveryTime()
    {
        var definition = Definition();
        var first = await ChooseAsync(definition, "customer-42");
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(first, await ChooseAsync(definition, "customer-42"));
        }

        var choice = Assert.Single(first);
        Assert.Equal(("writer", true), (choice.Alias, choice.Sticky));
        Assert.Equal(SplitAssignment.Pick([new("tiny", 80), new("tiny2", 20)], "writer", "customer-42"), choice.Model);
    }

    [Fact]
    public async Task ChooseAsync_ManyKeys_FollowsTheWeights()
    {
        var definition = Definition();
        var tiny2 = 0;
        const int Keys = 10_000;
        for (var i = 0; i < Keys; i++)
        {
            if ((await ChooseAsync(definition, $"customer-{i}"))[0].Model == "tiny2")
            {
                tiny2++;
            }
        }

        // 20 % expected; the binomial standard deviation is 0.4 % at 10 000 keys.
        Assert.InRange(tiny2 / (double)Keys, 0.185, 0.215);
    }

    [Fact]
    public async Task ChooseAsync_AliasBoundExplicitly_IsNotSplit()
    {
        Assert.Empty(await ChooseAsync(Definition(), "c1", new Dictionary<string, string> { ["writer"] = "tiny2" }));
    }

    [Fact]
    public async Task ChooseAsync_NoSplitKey_DrawsByWeightNotSticky()
    {
        var definition = Definition(Workflow.Replace("split_key: \"{{ inputs.customer_id }}\"\n", string.Empty, StringComparison.Ordinal));
        var choices = new List<string>();
        var random = new Random(7);
        for (var i = 0; i < 2000; i++)
        {
            var choice = Assert.Single(await SplitAssignment.ChooseAsync(definition, new Dictionary<string, object?> { ["customer_id"] = "same" }, new Dictionary<string, string>(), random, CancellationToken.None));
            Assert.False(choice.Sticky);
            choices.Add(choice.Model);
        }

        Assert.InRange(choices.Count(c => c == "tiny2") / 2000.0, 0.16, 0.24);
    }

    [Fact]
    public void Parse_ZeroWeightsAndSplitKeyReadingAStep_AreLocatedErrors()
    {
        var result = WorkflowLoader.Parse("""
            name: bad
            version: 1
            models:
              w: { tiny: 0, tiny2: 0 }
            split_key: "{{ steps.a.output }}"
            steps:
              - id: a
                agent: { model: w, prompt: hi }
            """, "bad.yaml");

        Assert.Null(result.Definition);
        Assert.Equal(
        [
            "bad.yaml:4:6: error AF0125: the split of model alias 'w' has no weight above 0",
            "bad.yaml:5:16: error AF0210: the split key reads 'steps.a.output', but no step has run when it is rendered",
        ], result.Diagnostics.Where(d => d.Severity == Diagnostics.DiagnosticSeverity.Error).Select(d => $"{d.Location}: error {d.Code}: {d.Message}"));
    }

    [Fact]
    public void Parse_SplitKeyWithoutSplit_Warns()
    {
        var result = WorkflowLoader.Parse("""
            name: nosplit
            version: 1
            inputs: { id: {} }
            models: { w: tiny }
            split_key: "{{ inputs.id }}"
            steps:
              - id: a
                agent: { model: w, prompt: hi }
            """, "nosplit.yaml");

        Assert.NotNull(result.Definition);
        Assert.Equal("AF0212", Assert.Single(result.Diagnostics).Code);
    }
}
