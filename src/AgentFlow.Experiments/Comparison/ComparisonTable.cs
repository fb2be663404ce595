using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using AgentFlow.Experiments.Statistics;

namespace AgentFlow.Experiments.Comparison;

/// <summary>One row of a comparison: a statistic of one metric, per variant and as paired differences to the baseline.</summary>
/// <param name="Name">Row name, e.g. <c>success_rate</c>, <c>latency_p95_ms</c>, <c>score.exact</c>.</param>
/// <param name="Step">The step, for per-step rows; null for run rows.</param>
/// <param name="Metric">The observation metric it is computed from.</param>
/// <param name="Kind">The statistic.</param>
/// <param name="Variants">Variant → estimate (null when the variant has no value for the metric).</param>
/// <param name="Differences">Non-baseline variant → paired difference variant − baseline.</param>
public sealed record ComparisonRow(
    string Name, string? Step, string Metric, StatisticKind Kind,
    IReadOnlyDictionary<string, Estimate?> Variants, IReadOnlyDictionary<string, Estimate?> Differences);

/// <summary>The comparison of an experiment's variants: every row with 95 % bootstrap intervals.</summary>
/// <param name="Baseline">The variant differences are taken against (the first).</param>
/// <param name="VariantNames">Variants in order.</param>
/// <param name="Rows">Run rows first, then per-step rows.</param>
/// <param name="Options">The bootstrap settings used.</param>
/// <param name="Paired">Whether differences are paired by case (experiments) or unpaired (live traffic, no case ran under two variants).</param>
public sealed record ComparisonTable(string Baseline, IReadOnlyList<string> VariantNames, IReadOnlyList<ComparisonRow> Rows, BootstrapOptions Options, bool Paired = true)
{
    /// <summary>The table as JSON: <c>{baseline, confidence, resamples, seed, rows:[{name, step, statistic, variants:{V:{value,low,high,n}}, differences:{V:{…}}}]}</c>.</summary>
    public JsonObject ToJson()
    {
        var rows = new JsonArray();
        foreach (var row in Rows)
        {
            rows.Add(new JsonObject
            {
                ["name"] = row.Name,
                ["step"] = row.Step,
                ["statistic"] = row.Kind.ToString().ToLowerInvariant(),
                ["variants"] = Map(row.Variants),
                ["differences"] = Map(row.Differences),
            });
        }

        return new JsonObject
        {
            ["baseline"] = Baseline,
            ["confidence"] = Options.Confidence,
            ["resamples"] = Options.Resamples,
            ["seed"] = Options.Seed,
            ["paired"] = Paired,
            ["rows"] = rows,
        };
    }

    /// <summary>The table as aligned text: one column per variant and one per difference to the baseline.</summary>
    public string ToText()
    {
        var header = new List<string> { "metric" };
        header.AddRange(VariantNames);
        header.AddRange(VariantNames.Skip(1).Select(v => $"{v}−{Baseline}"));
        var lines = new List<List<string>> { header };
        foreach (var row in Rows)
        {
            var cells = new List<string> { row.Step is null ? row.Name : $"{row.Step}: {row.Name}" };
            cells.AddRange(VariantNames.Select(v => Format(row.Variants.GetValueOrDefault(v), signed: false)));
            cells.AddRange(VariantNames.Skip(1).Select(v => Format(row.Differences.GetValueOrDefault(v), signed: true)));
            lines.Add(cells);
        }

        var widths = Enumerable.Range(0, header.Count).Select(i => lines.Max(l => l[i].Length)).ToArray();
        var text = new StringBuilder();
        foreach (var line in lines)
        {
            text.AppendLine(string.Join("  ", line.Select((cell, i) => i == 0 ? cell.PadRight(widths[i]) : cell.PadLeft(widths[i]))).TrimEnd());
        }

        text.Append(CultureInfo.InvariantCulture, $"[low, high]: {Options.Confidence * 100:0.#}% bootstrap interval ({Options.Resamples} resamples, seed {Options.Seed}); {(Paired ? "differences are paired by case." : "differences are unpaired (no case ran under both variants).")}");
        return text.ToString();
    }

    private static string Format(Estimate? estimate, bool signed)
    {
        if (estimate is null)
        {
            return "-";
        }

        var format = signed ? "+0.###;-0.###;0" : "0.###";
        string F(double v) => Math.Abs(v) >= 1000 ? v.ToString(signed ? "+0;-0;0" : "0", CultureInfo.InvariantCulture) : v.ToString(format, CultureInfo.InvariantCulture);
        return $"{F(estimate.Value)} [{F(estimate.Low)}, {F(estimate.High)}]";
    }

    private static JsonObject Map(IReadOnlyDictionary<string, Estimate?> estimates)
    {
        var obj = new JsonObject();
        foreach (var (name, e) in estimates)
        {
            obj[name] = e is null ? null : new JsonObject { ["value"] = Round(e.Value), ["low"] = Round(e.Low), ["high"] = Round(e.High), ["n"] = e.Count };
        }

        return obj;
    }

    private static double Round(double value) => Math.Round(value, 6);
}
