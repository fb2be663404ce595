namespace AgentFlow.Bench;

/// <summary>Percentiles over samples.</summary>
internal static class Stats
{
    /// <summary>The <paramref name="percentile"/> (0–100) of <paramref name="samples"/> by nearest rank.</summary>
    public static double Percentile(IReadOnlyCollection<double> samples, double percentile)
    {
        if (samples.Count == 0)
        {
            return double.NaN;
        }

        var sorted = samples.Order().ToArray();
        var rank = (int)Math.Ceiling(percentile / 100.0 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    public static double Median(IReadOnlyCollection<double> samples) => Percentile(samples, 50);

    /// <summary>Microseconds since <paramref name="start"/> (a <see cref="TimeProvider.GetTimestamp"/> value).</summary>
    public static double MicrosecondsSince(TimeProvider time, long start) => time.GetElapsedTime(start).TotalMicroseconds;
}
