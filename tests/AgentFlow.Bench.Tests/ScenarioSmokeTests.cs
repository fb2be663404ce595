using AgentFlow.Bench;

namespace AgentFlow.Bench.Tests;

/// <summary>
/// Each scenario once at tiny size, so the benchmark cannot rot. Asserts the shape of the result (figures positive,
/// ratio = figure / baseline), never a timing threshold. RabbitMQ scenarios use AGENTFLOW_RABBITMQ when set and report
/// "skipped" otherwise.
/// </summary>
public sealed class ScenarioSmokeTests
{
    private static BenchOptions Tiny() => new()
    {
        Size = BenchSize.Tiny,
        // The test script's broker (AGENTFLOW_TEST_RABBITMQ) when it runs, so the RabbitMQ scenario really runs there.
        RabbitMqUri = (Environment.GetEnvironmentVariable("AGENTFLOW_TEST_RABBITMQ") ?? Environment.GetEnvironmentVariable(BenchOptions.RabbitMqVariable)) is { Length: > 0 } uri ? new Uri(uri) : null,
        AgentflowProgram = Path.Combine(AppContext.BaseDirectory, "agentflow.dll"),
    };

    [Theory]
    [InlineData("step-overhead")]
    [InlineData("tracing-overhead")]
    [InlineData("throughput")]
    [InlineData("inference")]
    [InlineData("peer")]
    [InlineData("scale")]
    [InlineData("durable-scale")]
    [InlineData("cold-start")]
    public async Task RunAsync_TinyScenario_ReportsPositiveFiguresAndConsistentRatios(string scenario)
    {
        var report = await BenchSuite.RunAsync([scenario], Tiny(), CancellationToken.None);

        var result = Assert.Single(report.Scenarios);
        Assert.Equal(scenario, result.Name);
        Assert.Null(result.Skipped);
        AssertShape(result);
    }

    [Fact]
    public async Task RunAsync_TracingOverhead_TracedRunsReallyExportOverOtlp()
    {
        var report = await BenchSuite.RunAsync(["tracing-overhead"], Tiny(), CancellationToken.None);

        var row = Assert.Single(Assert.Single(report.Scenarios).Rows);
        Assert.True(row.Details!["exported_requests"] > 0);
        Assert.True(row.Details["exported_bytes"] > 0);
        Assert.Equal(row.Ratio, row.Details["ratio"], 6);
    }

    [Fact]
    public async Task RunAsync_TinyRetrieval_MeasuresIndexingEmbedderAndEachStore()
    {
        var options = Tiny();
        // The test script's Chroma server when it runs, so the server store is measured there too.
        options.ChromaUri = (Environment.GetEnvironmentVariable("AGENTFLOW_TEST_CHROMA") ?? Environment.GetEnvironmentVariable(BenchOptions.ChromaVariable)) is { Length: > 0 } chroma ? new Uri(chroma) : null;

        var report = await BenchSuite.RunAsync(["retrieval"], options, CancellationToken.None);

        var result = Assert.Single(report.Scenarios);
        Assert.Null(result.Skipped);
        AssertShape(result);
        Assert.StartsWith("agentflow index: 4 pages", result.Rows[0].Label, StringComparison.Ordinal);
        Assert.StartsWith("minilm through IEmbeddingGenerator", result.Rows[1].Label, StringComparison.Ordinal);
        Assert.Equal("embedded store (SQLite, exact), 200 vectors: search", result.Rows[2].Label);
        Assert.Equal(options.ChromaUri is null ? 3 : 4, result.Rows.Count);
        Assert.All(result.Rows.Skip(2), r => Assert.True(r.Details["p99_ms"] >= r.Figure));
    }

    [Fact]
    public async Task RunAsync_RabbitMqScenario_RunsOrSaysWhySkipped()
    {
        var report = await BenchSuite.RunAsync(["step-overhead-rabbitmq"], Tiny(), CancellationToken.None);

        var result = Assert.Single(report.Scenarios);
        if (result.Skipped is not null)
        {
            Assert.Empty(result.Rows);
            Assert.Null(Tiny().RabbitMqUri); // skipped only when no broker was given
            Assert.Contains(BenchOptions.RabbitMqVariable, result.Skipped, StringComparison.Ordinal);
            return;
        }

        AssertShape(result);
        Assert.All(result.Rows, row => Assert.NotNull(row.Met));
    }

    [Fact]
    public async Task RunAsync_NoBroker_SkipsRabbitMqScenarioWithReason()
    {
        var options = Tiny();
        options.RabbitMqUri = null;

        var report = await BenchSuite.RunAsync(["step-overhead-rabbitmq"], options, CancellationToken.None);

        var result = Assert.Single(report.Scenarios);
        Assert.Contains(BenchOptions.RabbitMqVariable, result.Skipped, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_UnknownScenario_ThrowsNamingTheScenarios()
    {
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => BenchSuite.RunAsync(["nope"], Tiny(), CancellationToken.None));

        Assert.Contains("step-overhead", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ToJson_Report_HasFiguresBaselinesRatiosAndGoals()
    {
        var row = new BenchRow("a", 10, "µs", 4, "b") { Goal = "≤ 5", Met = false };
        var report = new BenchReport("m", BenchSize.Tiny, [new ScenarioResult("s", [row]), ScenarioResult.Skip("r", "why")]);

        var json = System.Text.Json.JsonDocument.Parse(report.ToJson()).RootElement;

        var first = json.GetProperty("scenarios")[0].GetProperty("rows")[0];
        Assert.Equal(2.5, first.GetProperty("ratio").GetDouble());
        Assert.False(first.GetProperty("met").GetBoolean());
        Assert.Equal("why", json.GetProperty("scenarios")[1].GetProperty("skipped").GetString());
    }

    private static void AssertShape(ScenarioResult result)
    {
        Assert.NotEmpty(result.Rows);
        Assert.All(result.Rows, row =>
        {
            Assert.True(row.Figure > 0, $"{row.Label}: figure {row.Figure}");
            Assert.True(row.Baseline > 0, $"{row.Label}: baseline {row.Baseline}");
            if (row.Details.TryGetValue("ratio_of_medians", out var ofMedians))
            {
                // A paired scenario: its ratio is the median of the pairs' ratios, between their p10 and p90.
                Assert.Equal(row.Figure / row.Baseline, ofMedians, 4);
                Assert.InRange(row.Ratio, row.Details["paired_ratio_p10"] - 1e-4, row.Details["paired_ratio_p90"] + 1e-4);
            }
            else
            {
                Assert.Equal(row.Figure / row.Baseline, row.Ratio, 9);
            }

            Assert.Equal(row.Goal is null, row.Met is null);
            Assert.All(row.Details.Values, v => Assert.True(double.IsFinite(v)));
        });
    }
}
