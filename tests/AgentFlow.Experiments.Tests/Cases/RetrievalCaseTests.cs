using AgentFlow.Definitions;
using AgentFlow.Experiments.Cases;

namespace AgentFlow.Experiments.Tests.Cases;

/// <summary>The retrieval parts of cases and variants: expected_sources, collection swaps and top_k.</summary>
public sealed class RetrievalCaseTests
{
    [Fact]
    public void Parse_ExpectedSources_ListOrOnePathAndNotAnInput()
    {
        var cases = CaseFile.Parse("""
            {"id": "a", "ticket": "broken blender", "expected_sources": ["refunds.md", "returns.md", "refunds.md"]}
            {"id": "b", "ticket": "late parcel", "expected_sources": "shipping.md"}
            {"id": "c", "ticket": "hello"}
            """, "cases.jsonl");

        Assert.Equal(["refunds.md", "returns.md"], cases[0].ExpectedSources);
        Assert.Equal(["shipping.md"], cases[1].ExpectedSources);
        Assert.Null(cases[2].ExpectedSources);
        Assert.Equal(["ticket"], cases[0].Inputs.Keys);
    }

    [Fact]
    public void Parse_BadExpectedSources_ReportsFileAndLine()
    {
        var ex = Assert.Throws<ExperimentInputException>(() => CaseFile.Parse("""
            {"ticket": "x", "expected_sources": []}
            {"ticket": "y", "expected_sources": [1]}
            """, "cases.jsonl"));

        Assert.Equal(
        [
            "cases.jsonl:1: field 'expected_sources' must be a non-empty list of source paths (as indexed, e.g. [\"refunds.md\"]), got an array",
            "cases.jsonl:2: field 'expected_sources' must be a non-empty list of source paths (as indexed, e.g. [\"refunds.md\"]), got an array",
        ], ex.Message.Split(Environment.NewLine));
    }

    [Fact]
    public void ParseAll_CollectionSwapAndTopK_AreRetrievalOverridesNotBindings()
    {
        var variants = Variant.ParseAll(["A:", "B:writer=tiny,collection.kb=kb-128,retrieve.top_k=8"]);

        Assert.True(variants[0].Retrieval.IsEmpty);
        Assert.Equal(["writer"], variants[1].Bindings.Keys);
        Assert.Equal("kb-128", variants[1].Retrieval.Collections["kb"]);
        Assert.Equal(8, variants[1].Retrieval.TopK);
        Assert.Equal("writer=tiny,collection.kb=kb-128,retrieve.top_k=8", variants[1].BindingsText);
    }

    [Fact]
    public void ParseAll_BadRetrievalSettings_ListsEachProblem()
    {
        var ex = Assert.Throws<ExperimentInputException>(() => Variant.ParseAll(["A:retrieve.top_k=0", "B:collection.kb=-x", "C:retrieve.min=1", "D:collection.kb=a,collection.kb=b"]));

        Assert.Equal(
        [
            "--variant 'A:retrieve.top_k=0': retrieve.top_k must be an integer from 1 to 100, got '0'",
            "--variant 'B:collection.kb=-x': 'collection.kb=-x' must name two collections (collection.kb=kb-128; up to 48 letters, digits, '-', '_' and '.')",
            "--variant 'C:retrieve.min=1': unknown setting 'retrieve.min' (aliases have no '.'; settings are collection.NAME and retrieve.top_k)",
            "--variant 'D:collection.kb=a,collection.kb=b': collection 'kb' is swapped twice",
        ], ex.Message.Split(Environment.NewLine));
    }

    [Fact]
    public void Apply_SwapAndTopK_ChangesStepsInsideLoopsAndRetrieveToolsOnly()
    {
        var definition = WorkflowLoader.Parse("""
            name: a
            version: 1
            models: { w: tiny }
            tools:
              search_kb: { retrieve: { collection: kb, top_k: 2 } }
              search_faq: { retrieve: { collection: faq } }
            steps:
              - id: loop
                loop:
                  max_iterations: 2
                  until: "true"
                  steps:
                    - { id: context, retrieve: { collection: kb, query: "x", top_k: 3 } }
              - { id: answer, agent: { model: w, prompt: hi, tools: [search_kb, search_faq] } }
            """, "a.yaml").GetDefinitionOrThrow();
        var overrides = new RetrievalOverrides(new Dictionary<string, string> { ["kb"] = "kb-64" }, TopK: 5);

        var applied = overrides.Apply(definition);

        var step = Assert.Single(applied.AllSteps().OfType<RetrieveStepDefinition>());
        Assert.Equal(("kb-64", 5), (step.Collection, step.TopK));
        Assert.Equal(
            [("kb-64", 5), ("faq", 5)],
            applied.Tools.Select(t => (RetrieveToolSource)t.Source).Select(r => (r.Collection, r.TopK)));
        Assert.Equal(["kb-64", "faq"], overrides.SearchedBy(definition));
        Assert.Equal("kb", definition.AllSteps().OfType<RetrieveStepDefinition>().Single().Collection);
        Assert.Same(definition, RetrievalOverrides.None.Apply(definition));
    }
}
