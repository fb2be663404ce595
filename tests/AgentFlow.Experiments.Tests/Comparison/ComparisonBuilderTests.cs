using System.Globalization;
using AgentFlow.Experiments.Comparison;
using AgentFlow.Experiments.Statistics;

namespace AgentFlow.Experiments.Tests.Comparison;

public sealed class ComparisonBuilderTests
{
    private static readonly double[] LatencyA = [12, 15, 9, 20, 11, 14, 30, 8, 13, 16];
    private static readonly double[] LatencyB = [14, 15, 12, 25, 10, 18, 33, 9, 15, 20];

    private static List<Observation> Observations()
    {
        var list = new List<Observation>();
        for (var i = 0; i < 10; i++)
        {
            var key = string.Create(CultureInfo.InvariantCulture, $"c{i}#1");
            list.Add(new Observation("A", key, new Dictionary<string, double>
            {
                ["success"] = i < 8 ? 1 : 0, ["latency_ms"] = LatencyA[i], ["input_tokens"] = 100, ["output_tokens"] = 20,
                ["score.exact"] = i % 2, ["step.draft.latency_ms"] = LatencyA[i] / 2, ["step.draft.input_tokens"] = 60, ["step.draft.output_tokens"] = 10,
            }));
            list.Add(new Observation("B", key, new Dictionary<string, double>
            {
                ["success"] = 1, ["latency_ms"] = LatencyB[i], ["input_tokens"] = 100, ["output_tokens"] = 24,
                ["score.exact"] = 1, ["step.draft.latency_ms"] = LatencyB[i] / 2, ["step.draft.input_tokens"] = 60, ["step.draft.output_tokens"] = 14,
            }));
        }

        return list;
    }

    [Fact]
    public void Build_TwoVariants_RowsInOrderWithPointEstimatesOfTheData()
    {
        var table = ComparisonBuilder.Build(Observations(), ["A", "B"], new BootstrapOptions(500));

        Assert.Equal(
            ["success_rate", "latency_p50_ms", "latency_p95_ms", "tokens_in", "tokens_out", "score.exact", "draft:latency_p50_ms", "draft:latency_p95_ms", "draft:tokens_in", "draft:tokens_out"],
            table.Rows.Select(r => r.Step is null ? r.Name : $"{r.Step}:{r.Name}"));
        var success = table.Rows[0];
        Assert.Equal(0.8, success.Variants["A"]!.Value, 12);
        Assert.Equal(1.0, success.Variants["B"]!.Value, 12);
        Assert.Equal(0.2, success.Differences["B"]!.Value, 12);
        var p50 = table.Rows[1];
        Assert.Equal(13.5, p50.Variants["A"]!.Value, 12);
        Assert.Equal(15.0, p50.Variants["B"]!.Value, 12);
        Assert.Equal(1.5, p50.Differences["B"]!.Value, 12);
        Assert.Equal(10, p50.Differences["B"]!.Count);
        Assert.Equal(4.0, table.Rows[4].Differences["B"]!.Value, 12);
        Assert.Equal(0.5, table.Rows[5].Differences["B"]!.Value, 12);
        foreach (var estimate in table.Rows.SelectMany(r => r.Variants.Values.Concat(r.Differences.Values)))
        {
            Assert.InRange(estimate!.Value, estimate.Low, estimate.High);
        }
    }

    [Fact]
    public void Build_RowInterval_IsTheBootstrapSeededByRowName()
    {
        var options = new BootstrapOptions(500, 0.95, 42);
        var table = ComparisonBuilder.Build(Observations(), ["A", "B"], options);
        var rowOptions = options with { Seed = 42UL ^ ComparisonBuilder.Fnv1a("/latency_p95_ms") };
        Assert.Equal(Bootstrap.Interval(LatencyA, StatisticKind.P95, rowOptions), table.Rows[2].Variants["A"]);
        Assert.Equal(Bootstrap.PairedDifference(LatencyA, LatencyB, StatisticKind.P95, rowOptions), table.Rows[2].Differences["B"]);
    }

    [Fact]
    public void Build_SameInputs_SameJson()
    {
        var first = ComparisonBuilder.Build(Observations(), ["A", "B"], new BootstrapOptions(300)).ToJson().ToJsonString();
        var second = ComparisonBuilder.Build(Observations(), ["A", "B"], new BootstrapOptions(300)).ToJson().ToJsonString();
        Assert.Equal(first, second);
    }

    [Fact]
    public void Build_NoSharedCases_ComparesUnpaired()
    {
        var observations = new List<Observation>
        {
            new("A", "run1", new Dictionary<string, double> { ["success"] = 1 }),
            new("A", "run2", new Dictionary<string, double> { ["success"] = 0 }),
            new("B", "run3", new Dictionary<string, double> { ["success"] = 1 }),
        };
        var row = Assert.Single(ComparisonBuilder.Build(observations, ["A", "B"], new BootstrapOptions(200)).Rows);
        Assert.Equal(0.5, row.Differences["B"]!.Value, 12);
    }

    [Fact]
    public void ToText_TwoVariants_HasADifferenceColumnAndIntervals()
    {
        var text = ComparisonBuilder.Build(Observations(), ["A", "B"], new BootstrapOptions(200)).ToText();
        var header = text.Split('\n')[0];
        Assert.Matches(@"^metric\s+A\s+B\s+B−A$", header);
        Assert.Matches(@"success_rate\s+0\.8 \[[\d.]+, [\d.]+\]\s+1 \[1, 1\]\s+\+0\.2 \[", text);
        Assert.EndsWith("[low, high]: 95% bootstrap interval (200 resamples, seed 42); differences are paired by case.", text, StringComparison.Ordinal);
    }
}
