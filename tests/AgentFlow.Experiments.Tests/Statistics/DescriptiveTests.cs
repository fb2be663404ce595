using AgentFlow.Experiments.Statistics;

namespace AgentFlow.Experiments.Tests.Statistics;

public sealed class DescriptiveTests
{
    [Theory]
    [InlineData(50, 2.5)]
    [InlineData(95, 3.85)] // rank 0.95 * 3 = 2.85: 3 + 0.85 * (4 - 3)
    [InlineData(0, 1)]
    [InlineData(100, 4)]
    [InlineData(25, 1.75)]
    public void Percentile_FourValues_InterpolatesLinearlyBetweenRanks(double percent, double expected)
    {
        Assert.Equal(expected, Descriptive.Percentile([4, 1, 3, 2], percent), 12);
    }

    [Fact]
    public void Percentile_TwentyLatencies_MatchesNumpyDefault()
    {
        // numpy.percentile(range(10, 210, 10), [50, 95]) == [105.0, 190.5]
        double[] values = [.. Enumerable.Range(1, 20).Select(i => i * 10.0).Reverse()];
        Assert.Equal(105.0, Descriptive.Percentile(values, 50), 12);
        Assert.Equal(190.5, Descriptive.Percentile(values, 95), 12);
    }

    [Fact]
    public void Percentile_SingleValue_IsThatValue()
    {
        Assert.Equal(7.0, Descriptive.Percentile([7], 95));
    }

    [Fact]
    public void Percentile_Empty_IsNaN()
    {
        Assert.True(double.IsNaN(Descriptive.Percentile([], 50)));
        Assert.True(double.IsNaN(Descriptive.Mean([])));
    }

    [Fact]
    public void Percentile_OutOfRangePercent_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Descriptive.Percentile([1], 101));
    }

    [Fact]
    public void Mean_FixedData_IsExact()
    {
        Assert.Equal(14.8, Descriptive.Mean([12, 15, 9, 20, 11, 14, 30, 8, 13, 16]), 12);
    }
}
