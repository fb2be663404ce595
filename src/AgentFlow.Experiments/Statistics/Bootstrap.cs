namespace AgentFlow.Experiments.Statistics;

/// <summary>A statistic of a sample with its confidence interval.</summary>
/// <param name="Value">The statistic on the whole sample (for a difference: B − A on the paired sample).</param>
/// <param name="Low">Lower end of the interval.</param>
/// <param name="High">Upper end of the interval.</param>
/// <param name="Count">Observations (pairs for a difference).</param>
public sealed record Estimate(double Value, double Low, double High, int Count);

/// <summary>What a statistic is computed as.</summary>
public enum StatisticKind
{
    /// <summary>Arithmetic mean (rates are means of 0/1).</summary>
    Mean,

    /// <summary>Median (50th percentile).</summary>
    P50,

    /// <summary>95th percentile.</summary>
    P95,
}

/// <summary>Settings of a bootstrap.</summary>
/// <param name="Resamples">Number of resamples (default 2000).</param>
/// <param name="Confidence">Coverage of the interval (default 0.95).</param>
/// <param name="Seed">Seed of the <see cref="SplitMix64"/> generator (default 42): the same seed gives the same interval.</param>
public sealed record BootstrapOptions(int Resamples = 2000, double Confidence = 0.95, ulong Seed = 42);

/// <summary>
/// Percentile bootstrap: draw the sample with replacement <see cref="BootstrapOptions.Resamples"/> times (indices from
/// a seeded <see cref="SplitMix64"/>, one <c>NextIndex(n)</c> per drawn observation, resample after resample),
/// compute the statistic on each, and take the (1 − c)/2 and (1 + c)/2 percentiles (type 7) of those values.
/// </summary>
public static class Bootstrap
{
    /// <summary>Computes <paramref name="kind"/> of a sample.</summary>
    public static double Compute(StatisticKind kind, IReadOnlyList<double> values) => kind switch
    {
        StatisticKind.Mean => Descriptive.Mean(values),
        StatisticKind.P50 => Descriptive.Percentile(values, 50),
        StatisticKind.P95 => Descriptive.Percentile(values, 95),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>The statistic of <paramref name="values"/> with its bootstrap interval; null for an empty sample.</summary>
    public static Estimate? Interval(IReadOnlyList<double> values, StatisticKind kind, BootstrapOptions options)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(options);
        Check(options);
        if (values.Count == 0)
        {
            return null;
        }

        var random = new SplitMix64(options.Seed);
        var n = values.Count;
        var sample = new double[n];
        var stats = new double[options.Resamples];
        for (var b = 0; b < options.Resamples; b++)
        {
            for (var i = 0; i < n; i++)
            {
                sample[i] = values[random.NextIndex(n)];
            }

            stats[b] = Compute(kind, sample);
        }

        return Finish(Compute(kind, values), stats, n, options);
    }

    /// <summary>
    /// The paired difference statistic(B) − statistic(A), where <paramref name="a"/>[i] and <paramref name="b"/>[i] are
    /// the same case under the two variants; pairs are resampled together. Null when there are no pairs.
    /// </summary>
    public static Estimate? PairedDifference(IReadOnlyList<double> a, IReadOnlyList<double> b, StatisticKind kind, BootstrapOptions options)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(options);
        Check(options);
        if (a.Count != b.Count)
        {
            throw new ArgumentException($"paired samples differ in size ({a.Count} and {b.Count})", nameof(b));
        }

        if (a.Count == 0)
        {
            return null;
        }

        var random = new SplitMix64(options.Seed);
        var n = a.Count;
        var sampleA = new double[n];
        var sampleB = new double[n];
        var stats = new double[options.Resamples];
        for (var r = 0; r < options.Resamples; r++)
        {
            for (var i = 0; i < n; i++)
            {
                var pick = random.NextIndex(n);
                sampleA[i] = a[pick];
                sampleB[i] = b[pick];
            }

            stats[r] = Compute(kind, sampleB) - Compute(kind, sampleA);
        }

        return Finish(Compute(kind, b) - Compute(kind, a), stats, n, options);
    }

    /// <summary>
    /// The unpaired difference statistic(B) − statistic(A) for independent samples (live traffic, where no case ran
    /// under both variants): each resample draws |A| from A, then |B| from B. Null when either sample is empty.
    /// </summary>
    public static Estimate? UnpairedDifference(IReadOnlyList<double> a, IReadOnlyList<double> b, StatisticKind kind, BootstrapOptions options)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(options);
        Check(options);
        if (a.Count == 0 || b.Count == 0)
        {
            return null;
        }

        var random = new SplitMix64(options.Seed);
        var sampleA = new double[a.Count];
        var sampleB = new double[b.Count];
        var stats = new double[options.Resamples];
        for (var r = 0; r < options.Resamples; r++)
        {
            for (var i = 0; i < sampleA.Length; i++)
            {
                sampleA[i] = a[random.NextIndex(a.Count)];
            }

            for (var i = 0; i < sampleB.Length; i++)
            {
                sampleB[i] = b[random.NextIndex(b.Count)];
            }

            stats[r] = Compute(kind, sampleB) - Compute(kind, sampleA);
        }

        return Finish(Compute(kind, b) - Compute(kind, a), stats, Math.Min(a.Count, b.Count), options);
    }

    private static Estimate Finish(double value, double[] stats, int count, BootstrapOptions options)
    {
        Array.Sort(stats);
        var tail = (1 - options.Confidence) / 2 * 100;
        return new Estimate(value, Descriptive.PercentileOfSorted(stats, tail), Descriptive.PercentileOfSorted(stats, 100 - tail), count);
    }

    private static void Check(BootstrapOptions options)
    {
        if (options.Resamples < 1)
        {
            throw new ArgumentException($"resamples must be at least 1 (was {options.Resamples})", nameof(options));
        }

        if (options.Confidence is <= 0 or >= 1)
        {
            throw new ArgumentException($"confidence must be between 0 and 1 (was {options.Confidence})", nameof(options));
        }
    }
}
