using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AgentFlow.Bench;

/// <summary>How much work each scenario does.</summary>
public enum BenchSize
{
    /// <summary>One short pass per scenario: proves it still runs (the smoke test), measures nothing meaningful.</summary>
    Tiny,

    /// <summary>Enough repetitions for stable medians and p99s (a few minutes for all scenarios on 2 cores).</summary>
    Default,
}

/// <summary>One measured figure beside the baseline measured in the same run.</summary>
/// <param name="Label">What was measured, e.g. <c>run path, recording + memory</c>.</param>
/// <param name="Figure">AgentFlow's figure.</param>
/// <param name="Unit">Unit of <paramref name="Figure"/> and <paramref name="Baseline"/>.</param>
/// <param name="Baseline">The baseline's figure, same unit.</param>
/// <param name="BaselineLabel">What the baseline is.</param>
public sealed record BenchRow(string Label, double Figure, string Unit, double Baseline, string BaselineLabel)
{
    private readonly double? _ratio;

    /// <summary>
    /// <see cref="Figure"/> / <see cref="Baseline"/>, unless the scenario sets it: a scenario that measures in pairs
    /// gives the median of the pairs' ratios, which a slow spell of the machine moves less than either median.
    /// </summary>
    public double Ratio
    {
        get => _ratio ?? (Baseline == 0 ? double.NaN : Figure / Baseline);
        init => _ratio = value;
    }

    /// <summary>The goal in words (e.g. <c>p50 ≤ 500 µs/step</c>); null when the issue sets none for this row.</summary>
    public string? Goal { get; init; }

    /// <summary>Whether the goal is met; null when there is no goal.</summary>
    public bool? Met { get; init; }

    /// <summary>Secondary figures (p99, peak memory, counts), by name.</summary>
    public IReadOnlyDictionary<string, double> Details { get; init; } = new Dictionary<string, double>();
}

/// <summary>The outcome of one scenario: its rows, or why it was skipped.</summary>
/// <param name="Name">Scenario name (<c>step-overhead</c>, …).</param>
/// <param name="Rows">The figures; empty when skipped.</param>
public sealed record ScenarioResult(string Name, IReadOnlyList<BenchRow> Rows)
{
    /// <summary>Why the scenario did not run (e.g. no broker); null when it ran.</summary>
    public string? Skipped { get; init; }

    /// <summary>A note on how it was measured.</summary>
    public string? Note { get; init; }

    /// <summary>Wall time of the whole scenario, setup included.</summary>
    public double ElapsedSeconds { get; init; }

    /// <summary>A skipped scenario.</summary>
    public static ScenarioResult Skip(string name, string why) => new(name, []) { Skipped = why };
}

/// <summary>Every scenario's result plus the machine it ran on.</summary>
/// <param name="Machine">OS, CPU count, runtime.</param>
/// <param name="Size">The size it ran at.</param>
/// <param name="Scenarios">Results in run order.</param>
public sealed record BenchReport(string Machine, BenchSize Size, IReadOnlyList<ScenarioResult> Scenarios)
{
    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    /// <summary>The report as JSON (snake_case): <c>{machine, size, scenarios:[{name, skipped, rows:[{label, figure, unit, baseline, ratio, goal, met, details}]}]}</c>.</summary>
    public string ToJson()
    {
        var scenarios = new JsonArray();
        foreach (var scenario in Scenarios)
        {
            var rows = new JsonArray();
            foreach (var row in scenario.Rows)
            {
                var details = new JsonObject();
                foreach (var (key, value) in row.Details)
                {
                    details[key] = Round(value);
                }

                rows.Add(new JsonObject
                {
                    ["label"] = row.Label,
                    ["figure"] = Round(row.Figure),
                    ["unit"] = row.Unit,
                    ["baseline"] = Round(row.Baseline),
                    ["baseline_label"] = row.BaselineLabel,
                    ["ratio"] = Round(row.Ratio),
                    ["goal"] = row.Goal,
                    ["met"] = row.Met,
                    ["details"] = details,
                });
            }

            scenarios.Add(new JsonObject
            {
                ["name"] = scenario.Name,
                ["skipped"] = scenario.Skipped,
                ["note"] = scenario.Note,
                ["elapsed_s"] = Round(scenario.ElapsedSeconds),
                ["rows"] = rows,
            });
        }

        var root = new JsonObject
        {
            ["machine"] = Machine,
            ["size"] = Size.ToString().ToLowerInvariant(),
            ["scenarios"] = scenarios,
        };
        return root.ToJsonString(JsonOptions);
    }

    private static JsonValue? Round(double value) =>
        double.IsFinite(value) ? JsonValue.Create(Math.Round(value, 4)) : null;

    /// <summary>A short description of this machine (OS, logical CPUs, .NET).</summary>
    public static string DescribeMachine() => string.Create(
        CultureInfo.InvariantCulture,
        $"{System.Runtime.InteropServices.RuntimeInformation.OSDescription.Trim()}, {Environment.ProcessorCount} logical CPUs, {System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription}, {System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture}");
}
