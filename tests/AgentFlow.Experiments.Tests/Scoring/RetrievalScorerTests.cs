using AgentFlow.Definitions;
using AgentFlow.Execution;
using AgentFlow.Experiments.Cases;
using AgentFlow.Experiments.Running;
using AgentFlow.Experiments.Scoring;
using AgentFlow.Experiments.Statistics;
using AgentFlow.Models;
using AgentFlow.Models.MiniLM;
using AgentFlow.Retrieval;
using AgentFlow.Retrieval.Embedding;
using AgentFlow.Retrieval.Indexing;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentFlow.Experiments.Tests.Scoring;

/// <summary>recall@k and MRR: the arithmetic, then an A/B of top_k on the project's own knowledge base with MiniLM.</summary>
public sealed class RetrievalScorerTests(KnowledgeBaseFixture kb) : IClassFixture<KnowledgeBaseFixture>
{
    // Customer-style questions with the page that answers each (none repeats the page's title).
    private const string Cases = """
        {"id": "refund", "question": "My blender arrived broken, can I get my money back?", "expected_sources": ["refunds.md"]}
        {"id": "return", "question": "How do I send an item back to you?", "expected_sources": ["returns.md"]}
        {"id": "abroad", "question": "Do you deliver to Norway and do I pay customs?", "expected_sources": ["international-shipping.md"]}
        {"id": "lost", "question": "The parcel says delivered but nothing is at my door", "expected_sources": ["lost-parcels.md"]}
        {"id": "paypal", "question": "Can I pay with PayPal?", "expected_sources": ["payment-methods.md"]}
        {"id": "warranty", "question": "My laptop stopped working after a year, is it covered?", "expected_sources": ["warranty.md"]}
        {"id": "password", "question": "I forgot my login password", "expected_sources": ["account-password.md"]}
        {"id": "phishing", "question": "I got an email asking for my card number, is it really you?", "expected_sources": ["security.md"]}
        """;

    private const string Workflow = """
        name: kb-search
        version: 1
        inputs:
          question: { required: true }
        steps:
          - id: context
            retrieve: { collection: kb, query: "{{ inputs.question }}", top_k: 3 }
        outputs:
          sources: "{% for c in steps.context.chunks %}{{ c.source }} {% endfor %}"
        """;

    private readonly ModelHost _models = kb.Models;
    private readonly CollectionHost _collections = kb.Collections;

    private static RetrievedChunk Chunk(string source, int n = 0) => new($"{source}#{n}", "text", source, null, 0.5);

    [Fact]
    public void Measure_ExpectedAtRankTwo_RecallCountsEachSourceOnceAndMrrIsAHalf()
    {
        var (recall, reciprocal, rank) = RetrievalScorer.Measure([Chunk("faq.md"), Chunk("refunds.md"), Chunk("refunds.md", 1)], ["refunds.md", "returns.md"]);

        Assert.Equal((0.5, 0.5, (int?)2), (recall, reciprocal, rank));
    }

    [Fact]
    public void Measure_NothingExpectedFound_IsZeroWithoutARank()
    {
        Assert.Equal((0.0, 0.0, (int?)null), RetrievalScorer.Measure([Chunk("faq.md")], ["refunds.md"]));
    }

    [Fact]
    public async Task RunAsync_TopKThreeAgainstOne_ProjectKnowledgeBase_GivesRecallAndMrrWithIntervals()
    {
        var runner = new WorkflowRunner(_models, TimeProvider.System, NullLogger<WorkflowRunner>.Instance) { Retriever = _collections };
        var plan = new ExperimentPlan
        {
            Name = "kb-top-k",
            Definition = WorkflowLoader.Parse(Workflow, "kb-search.yaml").GetDefinitionOrThrow(),
            Cases = CaseFile.Parse(Cases, "cases.jsonl"),
            Variants = Variant.ParseAll(["top3:", "top1:retrieve.top_k=1"]),
            Scorers = RetrievalScorer.Create(null),
            Bootstrap = new BootstrapOptions(500),
        };

        var result = await new ExperimentRunner(runner, null, TimeProvider.System, NullLoggerFactory.Instance).RunAsync(plan, "cases.jsonl", null, CancellationToken.None);

        Assert.All(result.Trials, t => Assert.True(t.Run.Succeeded));
        var recall = Assert.Single(result.Comparison.Rows, r => r.Name == "score.recall_at_k");
        var mrr = Assert.Single(result.Comparison.Rows, r => r.Name == "score.mrr");
        var top3 = recall.Variants["top3"]!;
        var top1 = recall.Variants["top1"]!;
        Assert.True(top3.Value >= 0.85, $"recall@3 = {top3.Value}");
        Assert.InRange(top3.Value, top3.Low, top3.High);
        Assert.True(top1.Value <= top3.Value);
        Assert.Equal(8, top1.Count);
        // With one chunk, recall@1 and the reciprocal rank are the same hit-or-miss.
        Assert.Equal(top1.Value, mrr.Variants["top1"]!.Value);
        Assert.True(mrr.Variants["top3"]!.Value >= mrr.Variants["top1"]!.Value);
        Assert.NotNull(recall.Differences["top1"]);
        Assert.All(result.Trials.Where(t => t.Variant == "top1"), t => Assert.Single(t.Run.Steps.Single().Retrieved!));
    }

    [Fact]
    public async Task RunAsync_VariantSwapsToMissingCollection_FailsBeforeAnyRunNamingIt()
    {
        var runner = new WorkflowRunner(_models, TimeProvider.System, NullLogger<WorkflowRunner>.Instance) { Retriever = _collections };
        var plan = new ExperimentPlan
        {
            Name = "kb-swap",
            Definition = WorkflowLoader.Parse(Workflow, "kb-search.yaml").GetDefinitionOrThrow(),
            Cases = CaseFile.Parse(Cases, "cases.jsonl"),
            Variants = Variant.ParseAll(["A:", "B:collection.kb=kb-missing"]),
            Scorers = RetrievalScorer.Create(null),
        };

        var ex = await Assert.ThrowsAsync<ExperimentInputException>(() => new ExperimentRunner(runner, null, TimeProvider.System, NullLoggerFactory.Instance).RunAsync(plan, "cases.jsonl", null, CancellationToken.None));

        Assert.StartsWith("--variant B: collection 'kb-missing':", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_CaseWithoutExpectedSourcesOrUnknownTarget_ReportsBothBeforeAnyRun()
    {
        var runner = new WorkflowRunner(_models, TimeProvider.System, NullLogger<WorkflowRunner>.Instance) { Retriever = _collections };
        var plan = new ExperimentPlan
        {
            Name = "kb-bad",
            Definition = WorkflowLoader.Parse(Workflow, "kb-search.yaml").GetDefinitionOrThrow(),
            Cases = CaseFile.Parse("{\"question\": \"hi\"}", "cases.jsonl"),
            Variants = Variant.ParseAll(["A:"]),
            Scorers = RetrievalScorer.Create("contex"),
        };

        var ex = await Assert.ThrowsAsync<ExperimentInputException>(() => new ExperimentRunner(runner, null, TimeProvider.System, NullLoggerFactory.Instance).RunAsync(plan, "cases.jsonl", null, CancellationToken.None));

        Assert.Equal(
        [
            "--score retrieval=contex: workflow 'kb-search' has no retrieve step or retrieve tool 'contex' (it has: context)",
            "cases.jsonl:1: case '1' has no 'expected_sources' field, which --score retrieval needs (e.g. \"expected_sources\": [\"refunds.md\"])",
        ], ex.Message.Split(Environment.NewLine));
    }
}

/// <summary>examples/kb indexed once per test class into collection kb with the real MiniLM embedder.</summary>
public sealed class KnowledgeBaseFixture : IAsyncLifetime
{
    private readonly string _home = Directory.CreateTempSubdirectory("agentflow-retrieval-scorer-tests-").FullName;

    public ModelHost Models { get; private set; } = null!;

    public CollectionHost Collections { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var registry = ModelRegistry.Parse("", "agentflow.yaml");
        Models = new ModelHost(registry, []);
        Collections = new CollectionHost(registry, new EmbedderHost(registry, [new MiniLmEmbeddingProvider()]), new RetrievalOptions { WorkingDirectory = _home });
        var target = await Collections.OpenAsync("kb", mustExist: false, CancellationToken.None);
        await DocumentIndexer.IndexAsync(target, new IndexRequest { Directory = Path.Combine(RepositoryRoot(), "examples", "kb") }, null, TimeProvider.System, CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await Collections.DisposeAsync();
        await Models.DisposeAsync();
        Directory.Delete(_home, recursive: true);
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "AgentFlow.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("AgentFlow.slnx not found above the test binaries");
    }
}
