using AgentFlow.Experiments.Runs;

namespace AgentFlow.Experiments.Comparison;

/// <summary>
/// The measured values of one run in an experiment: <c>success</c> (0/1), <c>latency_ms</c>, <c>input_tokens</c>,
/// <c>output_tokens</c>, <c>cost_usd</c> (priced models), <c>score.NAME</c>, and per step <c>step.ID.latency_ms</c>,
/// <c>.input_tokens</c>, <c>.output_tokens</c>, <c>.cost_usd</c> (summed over the step's executions in the run).
/// </summary>
/// <param name="Variant">Variant name.</param>
/// <param name="PairKey">What pairs runs across variants: the case id and repeat.</param>
/// <param name="Values">Metric → value; a metric the run has no value for is absent.</param>
public sealed record Observation(string Variant, string PairKey, IReadOnlyDictionary<string, double> Values)
{
    /// <summary>The observation of <paramref name="run"/> with <paramref name="scores"/> (name → value).</summary>
    public static Observation FromRun(string variant, string pairKey, RecordedRun run, IReadOnlyDictionary<string, double>? scores = null)
    {
        ArgumentNullException.ThrowIfNull(run);
        var values = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["success"] = run.Succeeded ? 1 : 0,
            ["latency_ms"] = run.LatencyMs,
            ["input_tokens"] = run.InputTokens,
            ["output_tokens"] = run.OutputTokens,
        };
        if (run.CostUsd is { } cost)
        {
            values["cost_usd"] = cost;
        }

        foreach (var (name, value) in scores ?? new Dictionary<string, double>())
        {
            values[$"score.{name}"] = value;
        }

        foreach (var step in run.Steps.Where(s => s.Kind == "agent").GroupBy(s => s.Id))
        {
            values[$"step.{step.Key}.latency_ms"] = step.Sum(s => s.LatencyMs);
            values[$"step.{step.Key}.input_tokens"] = step.Sum(s => s.InputTokens ?? 0);
            values[$"step.{step.Key}.output_tokens"] = step.Sum(s => s.OutputTokens ?? 0);
            if (step.Any(s => s.CostUsd is not null))
            {
                values[$"step.{step.Key}.cost_usd"] = step.Sum(s => s.CostUsd ?? 0);
            }
        }

        return new Observation(variant, pairKey, values);
    }
}
