namespace AgentFlow.Experiments.Statistics;

/// <summary>Point statistics of a sample.</summary>
public static class Descriptive
{
    /// <summary>The arithmetic mean; NaN for an empty sample.</summary>
    public static double Mean(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sum = 0.0;
        for (var i = 0; i < values.Count; i++)
        {
            sum += values[i];
        }

        return sum / values.Count;
    }

    /// <summary>
    /// The <paramref name="percent"/>-th percentile with linear interpolation between closest ranks (Hyndman–Fan type 7,
    /// the default of numpy, R and Excel's PERCENTILE.INC): rank h = (n − 1)·p/100, value x[⌊h⌋] + (h − ⌊h⌋)(x[⌊h⌋+1] − x[⌊h⌋]).
    /// NaN for an empty sample. The input need not be sorted.
    /// </summary>
    public static double Percentile(IReadOnlyList<double> values, double percent)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentOutOfRangeException.ThrowIfLessThan(percent, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(percent, 100);
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.ToArray();
        Array.Sort(sorted);
        return PercentileOfSorted(sorted, percent);
    }

    /// <summary><see cref="Percentile"/> of an already sorted array.</summary>
    internal static double PercentileOfSorted(double[] sorted, double percent)
    {
        var rank = (sorted.Length - 1) * percent / 100.0;
        var low = (int)Math.Floor(rank);
        var high = Math.Min(low + 1, sorted.Length - 1);
        return sorted[low] + ((rank - low) * (sorted[high] - sorted[low]));
    }
}
