using System.Text;
using AgentFlow.Experiments.Statistics;

namespace AgentFlow.Experiments.Comparison;

/// <summary>Builds the comparison table of an experiment's observations.</summary>
public static class ComparisonBuilder
{
    /// <summary>
    /// Rows: <c>success_rate</c>, <c>latency_p50_ms</c>, <c>latency_p95_ms</c>, <c>tokens_in</c>, <c>tokens_out</c>,
    /// <c>cost_usd</c> (when priced), one <c>score.NAME</c> per scorer, then the same latency/token/cost rows per agent
    /// step. Each has every variant's estimate and the paired difference of every other variant to the first, over the
    /// cases both have a value for (unpaired when no case has both, as in live traffic). Each row's bootstrap is seeded from <see cref="BootstrapOptions.Seed"/> and the
    /// row's name, so a row's interval does not depend on which other rows exist.
    /// </summary>
    public static ComparisonTable Build(IReadOnlyList<Observation> observations, IReadOnlyList<string> variants, BootstrapOptions options)
    {
        ArgumentNullException.ThrowIfNull(observations);
        ArgumentNullException.ThrowIfNull(variants);
        ArgumentNullException.ThrowIfNull(options);
        if (variants.Count == 0)
        {
            throw new ArgumentException("at least one variant is needed", nameof(variants));
        }

        var keys = observations.SelectMany(o => o.Values.Keys).ToHashSet(StringComparer.Ordinal);
        var rows = new List<ComparisonRow>();
        void Add(string name, string? step, string metric, StatisticKind kind)
        {
            if (keys.Contains(metric))
            {
                rows.Add(Row(name, step, metric, kind, observations, variants, options));
            }
        }

        Add("success_rate", null, "success", StatisticKind.Mean);
        Add("latency_p50_ms", null, "latency_ms", StatisticKind.P50);
        Add("latency_p95_ms", null, "latency_ms", StatisticKind.P95);
        Add("tokens_in", null, "input_tokens", StatisticKind.Mean);
        Add("tokens_out", null, "output_tokens", StatisticKind.Mean);
        Add("cost_usd", null, "cost_usd", StatisticKind.Mean);
        foreach (var score in keys.Where(k => k.StartsWith("score.", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            Add(score, null, score, StatisticKind.Mean);
        }

        var steps = observations.SelectMany(o => o.Values.Keys)
            .Where(k => k.StartsWith("step.", StringComparison.Ordinal) && k.EndsWith(".latency_ms", StringComparison.Ordinal))
            .Select(k => k["step.".Length..^".latency_ms".Length])
            .Distinct(StringComparer.Ordinal)
            .ToList();
        foreach (var step in steps)
        {
            Add("latency_p50_ms", step, $"step.{step}.latency_ms", StatisticKind.P50);
            Add("latency_p95_ms", step, $"step.{step}.latency_ms", StatisticKind.P95);
            Add("tokens_in", step, $"step.{step}.input_tokens", StatisticKind.Mean);
            Add("tokens_out", step, $"step.{step}.output_tokens", StatisticKind.Mean);
            Add("cost_usd", step, $"step.{step}.cost_usd", StatisticKind.Mean);
        }

        var baselineKeys = observations.Where(o => o.Variant == variants[0]).Select(o => o.PairKey).ToHashSet(StringComparer.Ordinal);
        var paired = variants.Count < 2 || observations.Any(o => o.Variant != variants[0] && baselineKeys.Contains(o.PairKey));
        return new ComparisonTable(variants[0], variants, rows, options, paired);
    }

    private static ComparisonRow Row(
        string name, string? step, string metric, StatisticKind kind, IReadOnlyList<Observation> observations, IReadOnlyList<string> variants, BootstrapOptions options)
    {
        var rowOptions = options with { Seed = options.Seed ^ Fnv1a($"{step}/{name}") };
        var byVariant = new Dictionary<string, Estimate?>(StringComparer.Ordinal);
        var values = variants.ToDictionary(
            v => v,
            // Ordered by pair key: the table does not depend on the order runs finished in.
            v => observations.Where(o => o.Variant == v && o.Values.ContainsKey(metric)).OrderBy(o => o.PairKey, StringComparer.Ordinal)
                .ToDictionary(o => o.PairKey, o => o.Values[metric], StringComparer.Ordinal),
            StringComparer.Ordinal);
        foreach (var variant in variants)
        {
            byVariant[variant] = Bootstrap.Interval([.. values[variant].Values], kind, rowOptions);
        }

        var differences = new Dictionary<string, Estimate?>(StringComparer.Ordinal);
        var baseline = values[variants[0]];
        foreach (var variant in variants.Skip(1))
        {
            var pairs = values[variant].Where(p => baseline.ContainsKey(p.Key)).OrderBy(p => p.Key, StringComparer.Ordinal).ToList();
            // Paired by case when cases ran under both variants; live traffic has no pairs, so its samples are compared unpaired.
            differences[variant] = pairs.Count > 0
                ? Bootstrap.PairedDifference([.. pairs.Select(p => baseline[p.Key])], [.. pairs.Select(p => p.Value)], kind, rowOptions)
                : Bootstrap.UnpairedDifference([.. baseline.Values], [.. values[variant].Values], kind, rowOptions);
        }

        return new ComparisonRow(name, step, metric, kind, byVariant, differences);
    }

    /// <summary>FNV-1a 64-bit of the UTF-8 text (stable across processes, unlike string.GetHashCode).</summary>
    internal static ulong Fnv1a(string text)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        return hash;
    }
}
