using AgentFlow.Definitions;
using AgentFlow.Execution;
using AgentFlow.Experiments.Cases;
using AgentFlow.Experiments.Running;
using AgentFlow.Experiments.Scoring;
using AgentFlow.Experiments.Statistics;
using AgentFlow.Models;
using AgentFlow.Models.Llama.Builtin;
using AgentFlow.Models.Llama.Providers;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentFlow.Experiments.Tests.Running;

/// <summary>Experiments in process on two priced built-in models (no MLflow store).</summary>
public sealed class ExperimentRunnerTests : IAsyncLifetime
{
    private const string Workflow = """
        name: greet
        version: 1
        inputs:
          name: { required: true }
        models: { writer: cheap }
        steps:
          - id: greet
            agent: { model: writer, prompt: "Greet {{ inputs.name }}.", max_tokens: 6, temperature: 0 }
        outputs:
          text: "{{ steps.greet.output }}"
        """;

    private readonly string _home = Directory.CreateTempSubdirectory("agentflow-experiment-tests-").FullName;
    private ModelHost _models = null!;

    public Task InitializeAsync()
    {
        var registry = ModelRegistry.Parse("""
            models:
              cheap: { provider: builtin, seed: 1, price_input_per_mtok: 1, price_output_per_mtok: 2 }
              pricey: { provider: builtin, seed: 2, price_input_per_mtok: 10, price_output_per_mtok: 20 }
            """, "agentflow.yaml");
        _models = new ModelHost(registry, [new BuiltinModelProvider(new BuiltinModelStore(Path.Combine(_home, "models")))]);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _models.DisposeAsync();
        Directory.Delete(_home, recursive: true);
    }

    private static ExperimentPlan Plan(IReadOnlyList<ExperimentCase> cases) => new()
    {
        Name = "greet-ab",
        Definition = WorkflowLoader.Parse(Workflow, "greet.yaml").GetDefinitionOrThrow(),
        Cases = cases,
        Variants = Variant.ParseAll(["A:writer=cheap", "B:writer=pricey"]),
        Repeat = 2,
        Concurrency = 3,
        Scorers = [new MatchScorer(MatchKind.Contains)],
        Bootstrap = new BootstrapOptions(500),
    };

    private static ExperimentCase Case(int i, string? expected = "x") => new($"c{i}", i, new Dictionary<string, string> { ["name"] = $"Person{i}" }, expected);

    [Fact]
    public async Task RunAsync_PricedVariants_CostRowsAreTheTokenPricesAndBIsDearer()
    {
        var runner = new ExperimentRunner(new WorkflowRunner(_models, TimeProvider.System, NullLogger<WorkflowRunner>.Instance), null, TimeProvider.System, NullLoggerFactory.Instance);
        var progress = new Recorder();

        var result = await runner.RunAsync(Plan([.. Enumerable.Range(1, 5).Select(i => Case(i))]), "cases.jsonl", progress, CancellationToken.None);

        Assert.Equal(20, result.Trials.Count); // 5 cases x 2 variants x 2 repeats
        Assert.Equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], progress.Done["A"].Order());
        Assert.All(result.Trials, t => Assert.Equal("succeeded", t.Run.Status));
        Assert.All(result.Trials, t => Assert.Equal(t.Variant == "A" ? "cheap" : "pricey", t.Run.Steps[0].Model));
        var cost = result.Comparison.Rows.Single(r => r is { Name: "cost_usd", Step: null });
        var expectedA = result.Trials.Where(t => t.Variant == "A").Average(t => (t.Run.InputTokens * 1e-6) + (t.Run.OutputTokens * 2e-6));
        Assert.Equal(expectedA, cost.Variants["A"]!.Value, 12);
        Assert.True(cost.Differences["B"]!.Low > 0, "ten times the price costs more, with the whole interval above 0");
        Assert.Contains(result.Comparison.Rows, r => r is { Name: "cost_usd", Step: "greet" });
        Assert.Equal(20, result.ToJson()["trials"]!.AsArray().Count);
    }

    [Fact]
    public async Task RunAsync_CaseWithoutExpectedForContains_FailsBeforeAnyRunNamingTheLine()
    {
        var runner = new ExperimentRunner(new WorkflowRunner(_models, TimeProvider.System, NullLogger<WorkflowRunner>.Instance), null, TimeProvider.System, NullLoggerFactory.Instance);

        var ex = await Assert.ThrowsAsync<ExperimentInputException>(() => runner.RunAsync(Plan([Case(1), Case(2, expected: null)]), "cases.jsonl", null, CancellationToken.None));

        Assert.Equal("cases.jsonl:2: case 'c2' has no 'expected' field, which scorer 'contains' needs", ex.Message);
    }

    private sealed class Recorder : IExperimentProgress
    {
        public Dictionary<string, List<int>> Done { get; } = new() { ["A"] = [], ["B"] = [] };

        public void TrialFinished(TrialResult trial, int done, int total)
        {
            lock (Done)
            {
                Done[trial.Variant].Add(done);
                Assert.Equal(10, total);
            }
        }
    }
}
