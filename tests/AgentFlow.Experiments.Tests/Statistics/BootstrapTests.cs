using AgentFlow.Experiments.Statistics;

namespace AgentFlow.Experiments.Tests.Statistics;

/// <summary>Expected values come from Reference/bootstrap_reference.py, an independent Python implementation.</summary>
public sealed class BootstrapTests
{
    private static readonly double[] Data = [12, 15, 9, 20, 11, 14, 30, 8, 13, 16];
    private static readonly double[] Other = [14, 15, 12, 25, 10, 18, 33, 9, 15, 20];

    [Fact]
    public void SplitMix64_Seed1234567_MatchesPublishedTestVector()
    {
        var random = new SplitMix64(1234567);
        Assert.Equal(6457827717110365317UL, random.Next());
        Assert.Equal(3203168211198807973UL, random.Next());
        Assert.Equal(9817491932198370423UL, random.Next());
    }

    [Theory]
    [InlineData(StatisticKind.Mean, 14.8, 11.5, 18.5025)]
    [InlineData(StatisticKind.P50, 13.5, 11.0, 17.0125)]
    [InlineData(StatisticKind.P95, 25.5, 14.99125, 30.0)]
    public void Interval_FixedDataSeed42_MatchesReferenceImplementation(StatisticKind kind, double value, double low, double high)
    {
        var estimate = Bootstrap.Interval(Data, kind, new BootstrapOptions(1000, 0.95, 42))!;
        Assert.Equal(value, estimate.Value, 9);
        Assert.Equal(low, estimate.Low, 9);
        Assert.Equal(high, estimate.High, 9);
        Assert.Equal(10, estimate.Count);
    }

    [Theory]
    [InlineData(StatisticKind.Mean, 2.3, 1.0975, 3.4)]
    [InlineData(StatisticKind.P50, 1.5, 0.0, 4.0)]
    public void PairedDifference_FixedDataSeed7_MatchesReferenceImplementation(StatisticKind kind, double value, double low, double high)
    {
        var estimate = Bootstrap.PairedDifference(Data, Other, kind, new BootstrapOptions(1000, 0.95, 7))!;
        Assert.Equal(value, estimate.Value, 9);
        Assert.Equal(low, estimate.Low, 9);
        Assert.Equal(high, estimate.High, 9);
    }

    [Fact]
    public void Interval_SameSeed_SameInterval_OtherSeed_OtherInterval()
    {
        var a = Bootstrap.Interval(Data, StatisticKind.Mean, new BootstrapOptions(Seed: 1));
        var b = Bootstrap.Interval(Data, StatisticKind.Mean, new BootstrapOptions(Seed: 1));
        var c = Bootstrap.Interval(Data, StatisticKind.Mean, new BootstrapOptions(Seed: 2));
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void Interval_ConstantSample_CollapsesToTheValue()
    {
        var estimate = Bootstrap.Interval([5, 5, 5, 5], StatisticKind.P95, new BootstrapOptions())!;
        Assert.Equal(new Estimate(5, 5, 5, 4), estimate);
    }

    [Fact]
    public void PairedDifference_ConstantShift_IsExactlyTheShiftWithZeroWidth()
    {
        double[] b = [.. Data.Select(v => v + 3)];
        var estimate = Bootstrap.PairedDifference(Data, b, StatisticKind.Mean, new BootstrapOptions())!;
        Assert.Equal(3, estimate.Value, 9);
        Assert.Equal(3, estimate.Low, 9);
        Assert.Equal(3, estimate.High, 9);
    }

    [Fact]
    public void Interval_LargeSample_ApproximatesTheNormalTheoryInterval()
    {
        // 400 values of a fixed sequence: the bootstrap 95 % interval of the mean ≈ mean ± 1.96 s / √n.
        var random = new SplitMix64(99);
        double[] values = [.. Enumerable.Range(0, 400).Select(_ => random.NextIndex(1000) / 10.0)];
        var mean = values.Average();
        var sd = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Length - 1));
        var half = 1.96 * sd / Math.Sqrt(values.Length);
        var estimate = Bootstrap.Interval(values, StatisticKind.Mean, new BootstrapOptions(4000, 0.95, 3))!;
        Assert.InRange(estimate.Low, mean - half - (0.1 * half), mean - half + (0.1 * half));
        Assert.InRange(estimate.High, mean + half - (0.1 * half), mean + half + (0.1 * half));
    }

    [Fact]
    public void Interval_Empty_IsNull()
    {
        Assert.Null(Bootstrap.Interval([], StatisticKind.Mean, new BootstrapOptions()));
        Assert.Null(Bootstrap.PairedDifference([], [], StatisticKind.Mean, new BootstrapOptions()));
    }

    [Fact]
    public void PairedDifference_DifferentSizes_Throws()
    {
        Assert.Throws<ArgumentException>(() => Bootstrap.PairedDifference([1, 2], [1], StatisticKind.Mean, new BootstrapOptions()));
    }

    [Fact]
    public void UnpairedDifference_ConstantGroups_IsTheDifference()
    {
        var estimate = Bootstrap.UnpairedDifference([2, 2, 2], [5, 5], StatisticKind.Mean, new BootstrapOptions())!;
        Assert.Equal(new Estimate(3, 3, 3, 2), estimate);
    }
}
