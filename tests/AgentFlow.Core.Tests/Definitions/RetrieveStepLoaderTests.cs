using AgentFlow.Definitions;
using AgentFlow.Models;

namespace AgentFlow.Core.Tests.Definitions;

public sealed class RetrieveStepLoaderTests
{
    private static WorkflowLoadResult Parse(string steps, string outputs = "") => WorkflowLoader.Parse(
        "name: a\nversion: 1\ninputs: { ticket: { default: x } }\nmodels: { w: tiny }\nsteps:\n" + steps + "\n" + outputs, "a.yaml");

    [Fact]
    public void Parse_RetrieveWithEveryKey_ReadsCollectionQueryTopKAndMinScore()
    {
        var result = Parse("""
              - id: context
                retrieve: { collection: kb, query: "{{ inputs.ticket }}", top_k: 3, min_score: 0.3 }
              - id: answer
                agent: { model: w, prompt: "{% for c in steps.context.chunks %}{{ c.source }} {{ c.text }}{% endfor %} {{ steps.context.output }}" }
            """);

        Assert.Empty(result.Diagnostics);
        var step = Assert.IsType<RetrieveStepDefinition>(result.Definition!.Steps[0]);
        Assert.Equal(("kb", "{{ inputs.ticket }}", 3, 0.3), (step.Collection, step.Query.Text, step.TopK, step.MinScore));
        Assert.Equal(7, step.CollectionLocation.Line);
    }

    [Fact]
    public void Parse_RetrieveWithoutQueryOrCollection_ReportsEachAtTheStep()
    {
        var result = Parse("""
              - id: one
                retrieve: { collection: kb }
              - id: two
                retrieve: { query: "x", top_k: 500 }
            """);

        Assert.Equal(
            [(7, "AF0501"), (9, "AF0105"), (9, "AF0500")],
            result.Diagnostics.Where(d => d.Code != "AF0203").Select(d => (d.Location.Line, d.Code)).OrderBy(d => d.Line).ThenBy(d => d.Code, StringComparer.Ordinal));
    }

    [Fact]
    public void Parse_TemplateReadsUnknownFieldOfRetrieveStep_ReportsIt()
    {
        var result = Parse("""
              - id: context
                retrieve: { collection: kb, query: "{{ inputs.ticket }}" }
              - id: answer
                agent: { model: w, prompt: "{{ steps.context.chunkz }}" }
            """);

        var error = Assert.Single(result.Diagnostics, d => d.Code != "AF0203");
        Assert.Equal("AF0207", error.Code);
        Assert.Contains("did you mean 'chunks'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RegistryParse_CollectionsAndEmbedders_ReadsThemAndReportsUnknownEmbedder()
    {
        var registry = ModelRegistry.Parse("""
            embedders:
              bge: { provider: openai, endpoint: http://127.0.0.1:8000/v1, model: bge-small, api_key_env: none }
            collections:
              kb: { store: embedded, embedder: minilm, dimensions: 384 }
              docs: { store: chroma, url: http://127.0.0.1:8000, embedder: bge }
            """, "agentflow.yaml");

        Assert.Equal(["minilm", "bge"], registry.Embedders.Keys);
        Assert.Equal(("embedded", "minilm", (int?)384), (registry.Collections["kb"].Store, registry.Collections["kb"].Embedder, registry.Collections["kb"].Dimensions));
        Assert.Equal("http://127.0.0.1:8000", registry.Collections["docs"].GetString("url"));
        Assert.Equal(CollectionSpec.EmbeddedStore, registry.CollectionOrImplicit("other").Store);

        var bad = Assert.Throws<DefinitionException>(() => ModelRegistry.Parse("collections:\n  kb: { embedder: nope, store: qdrant, dimensions: -1 }\n", "agentflow.yaml"));
        Assert.Equal(["AF0925", "AF0926", "AF0928"], bad.Diagnostics.Select(d => d.Code).Order(StringComparer.Ordinal));
    }
}
