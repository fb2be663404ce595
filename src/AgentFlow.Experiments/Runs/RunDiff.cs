using System.Text.Json.Nodes;

namespace AgentFlow.Experiments.Runs;

/// <summary>One step execution of two runs side by side.</summary>
/// <param name="Label">Step id with its iteration, e.g. <c>draft#2</c>.</param>
/// <param name="A">The execution in the first run (its last succeeded attempt), or null.</param>
/// <param name="B">The execution in the second run, or null.</param>
public sealed record StepDiff(string Label, RecordedStep? A, RecordedStep? B)
{
    /// <summary>Whether both ran and produced the same output.</summary>
    public bool SameOutput => A is not null && B is not null && string.Equals(A.Output, B.Output, StringComparison.Ordinal);

    /// <summary>The word diff of the outputs.</summary>
    public string OutputDiff => WordDiff.Build(A?.Output, B?.Output);
}

/// <summary>Step-by-step difference of two recorded runs (<c>agentflow runs diff</c>).</summary>
public static class RunDiff
{
    /// <summary>The steps of both runs, matched by step id and iteration, in the order of the first run, then steps only the second ran.</summary>
    public static IReadOnlyList<StepDiff> Build(RecordedRun a, RecordedRun b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var stepsA = a.FinalSteps();
        var stepsB = b.FinalSteps().ToDictionary(s => s.Label, StringComparer.Ordinal);
        var diffs = stepsA.Select(s => new StepDiff(s.Label, s, stepsB.GetValueOrDefault(s.Label))).ToList();
        var seen = stepsA.Select(s => s.Label).ToHashSet(StringComparer.Ordinal);
        diffs.AddRange(b.FinalSteps().Where(s => !seen.Contains(s.Label)).Select(s => new StepDiff(s.Label, null, s)));
        return diffs;
    }

    /// <summary>The diff as JSON: <c>{a, b, steps:[{step, same_output, diff, a:{model, output, …}, b:{…}}]}</c>.</summary>
    public static JsonObject ToJson(RecordedRun a, RecordedRun b, IReadOnlyList<StepDiff> steps)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(steps);
        var array = new JsonArray();
        foreach (var s in steps)
        {
            array.Add(new JsonObject
            {
                ["step"] = s.Label,
                ["same_output"] = s.SameOutput,
                ["diff"] = s.OutputDiff,
                ["a"] = Step(s.A),
                ["b"] = Step(s.B),
            });
        }

        return new JsonObject { ["a"] = Run(a), ["b"] = Run(b), ["steps"] = array };
    }

    /// <summary>A run's summary as JSON (id, status, bindings, totals, outputs).</summary>
    public static JsonObject Run(RecordedRun run)
    {
        ArgumentNullException.ThrowIfNull(run);
        return new JsonObject
        {
            ["run_id"] = run.RunId,
            ["workflow"] = run.Workflow,
            ["status"] = run.Status,
            ["bindings"] = new JsonObject(run.Bindings.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value))),
            ["latency_ms"] = Math.Round(run.LatencyMs, 3),
            ["input_tokens"] = run.InputTokens,
            ["output_tokens"] = run.OutputTokens,
            ["cost_usd"] = run.CostUsd,
            ["outputs"] = new JsonObject(run.Outputs.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value))),
            ["error"] = run.Error,
        };
    }

    /// <summary>A step execution as JSON, or null.</summary>
    public static JsonObject? Step(RecordedStep? step) => step is null ? null : new JsonObject
    {
        ["kind"] = step.Kind,
        ["model"] = step.Model,
        ["status"] = step.Status,
        ["latency_ms"] = Math.Round(step.LatencyMs, 3),
        ["input_tokens"] = step.InputTokens,
        ["output_tokens"] = step.OutputTokens,
        ["cost_usd"] = step.CostUsd,
        ["replayed_from"] = step.ReplayedFrom,
        ["output"] = step.Output,
    };
}
