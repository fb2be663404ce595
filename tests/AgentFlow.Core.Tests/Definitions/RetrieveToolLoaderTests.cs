using AgentFlow.Definitions;

namespace AgentFlow.Core.Tests.Definitions;

public sealed class RetrieveToolLoaderTests
{
    private static WorkflowLoadResult Parse(string tools) => WorkflowLoader.Parse(
        "name: a\nversion: 1\nmodels: { w: tiny }\ntools:\n" + tools + "\nsteps:\n  - { id: answer, agent: { model: w, prompt: hi, tools: [search_kb] } }\n", "a.yaml");

    [Fact]
    public void Parse_RetrieveToolWithEveryKey_ReadsCollectionTopKAndMinScore()
    {
        var result = Parse("""
              search_kb:
                description: Search the policies.
                retrieve: { collection: kb, top_k: 3, min_score: 0.25 }
            """);

        Assert.Empty(result.Diagnostics);
        var tool = Assert.Single(result.Definition!.Tools);
        var source = Assert.IsType<RetrieveToolSource>(tool.Source);
        Assert.Equal(("retrieve", "kb", 3, 0.25, 7), (source.Kind, source.Collection, source.TopK, source.MinScore, source.CollectionLocation.Line));
        Assert.Null(tool.Parameters);
    }

    [Fact]
    public void Parse_RetrieveToolWithDefaults_TopKIsTheStepDefault()
    {
        var result = Parse("  search_kb: { retrieve: { collection: kb } }");

        var source = Assert.IsType<RetrieveToolSource>(Assert.Single(result.Definition!.Tools).Source);
        Assert.Equal((RetrieveStepDefinition.DefaultTopK, (double?)null), (source.TopK, source.MinScore));
    }

    [Fact]
    public void Parse_RetrieveToolWithoutCollectionOrWithParameters_ReportsEachWhereWritten()
    {
        var result = Parse("""
              search_kb:
                parameters: { type: object }
                retrieve: { top_k: 0 }
              other:
                retrieve: { collection: "-bad-", mode: fast }
            """);

        Assert.Equal(
            [(6, "AF0402"), (7, "AF0105"), (7, "AF0500"), (9, "AF0102"), (9, "AF0502")],
            result.Diagnostics.Where(d => d.Code != "AF0410").Select(d => (d.Location.Line, d.Code)).OrderBy(d => d.Line).ThenBy(d => d.Code, StringComparer.Ordinal));
    }
}
