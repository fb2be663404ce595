using AgentFlow.Definitions;
using AgentFlow.Execution;
using AgentFlow.Experiments.Cases;
using AgentFlow.Experiments.Runs;

namespace AgentFlow.Experiments.Replay;

/// <summary>Which recorded step executions a replay reuses, and why the others run live.</summary>
/// <param name="Replay">The recorded outputs handed to the run (<see cref="RunRequest.Replay"/>).</param>
/// <param name="LiveFrom">The first step (in file order) that runs live.</param>
/// <param name="Rebound">Aliases whose model changes.</param>
public sealed record ReplayPlan(RunReplay Replay, string? LiveFrom, IReadOnlyList<string> Rebound);

/// <summary>
/// Plans <c>agentflow runs replay</c>: agent and workflow steps that come before the first live step in file order
/// reuse their recorded output (a workflow step then runs no child run); the first live step is <c>--from</c>, else the first agent step whose alias is re-bound to another
/// model. Every step from there on runs live, and so does every later iteration of a loop that encloses the first live
/// step (iteration 1 of the steps before it in that loop is reused; later iterations read live outputs). Only
/// executions that succeeded in the recorded run are reused; anything else runs live.
/// </summary>
public static class ReplayPlanner
{
    /// <summary>Plans a replay of <paramref name="original"/> (a run of <paramref name="definition"/>).</summary>
    /// <exception cref="ExperimentInputException">--from names no step, or no step would run live.</exception>
    public static ReplayPlan Plan(WorkflowDefinition definition, RecordedRun original, IReadOnlyDictionary<string, string> bindings, string? from)
    {
        ArgumentNullException.ThrowIfNull(definition);
        ArgumentNullException.ThrowIfNull(original);
        ArgumentNullException.ThrowIfNull(bindings);
        var order = definition.AllSteps().ToList();
        var rebound = bindings.Where(b => !string.Equals(original.Bindings.GetValueOrDefault(b.Key), b.Value, StringComparison.Ordinal)).Select(b => b.Key).ToList();
        int liveIndex;
        if (from is not null)
        {
            liveIndex = order.FindIndex(s => s.Id == from);
            if (liveIndex < 0)
            {
                throw new ExperimentInputException($"--from '{from}': workflow '{definition.Name}' has no step '{from}' (steps: {string.Join(", ", order.Select(s => s.Id))})");
            }
        }
        else
        {
            liveIndex = order.FindIndex(s => s is AgentStepDefinition agent && rebound.Contains(agent.ModelAlias));
            if (liveIndex < 0)
            {
                throw new ExperimentInputException(rebound.Count == 0
                    ? "nothing would run live: --bind re-binds no alias to a different model; pass --bind ALIAS=MODEL or --from STEP"
                    : $"no agent step uses the re-bound alias{(rebound.Count == 1 ? string.Empty : "es")} {string.Join(", ", rebound)}; pass --from STEP");
            }
        }

        var live = order[liveIndex];
        var loopsAroundLive = EnclosingLoops(definition.Steps, live.Id) ?? [];
        var outputs = new Dictionary<ReplayKey, RecordedOutput>();
        // Workflow steps before the live one reuse their recorded outputs too: no child run, no side effects.
        foreach (var step in order.Take(liveIndex).Where(s => s is AgentStepDefinition or WorkflowStepDefinition))
        {
            var sharesLoop = (EnclosingLoops(definition.Steps, step.Id) ?? []).Intersect(loopsAroundLive, StringComparer.Ordinal).Any();
            foreach (var recorded in original.FinalSteps().Where(s => s.Id == step.Id && s.Status == "succeeded" && s.Output is not null))
            {
                if (!sharesLoop || recorded.Iteration is null or 1)
                {
                    outputs[new ReplayKey(recorded.Id, recorded.Iteration)] = new RecordedOutput(recorded.Output!, recorded.Model);
                }
            }
        }

        // Steps that run live reuse the recorded tool results of the same step execution: a replay has no side effects.
        var toolCalls = original.FinalSteps().Where(s => s.ToolCalls.Count > 0)
            .ToDictionary(s => new ReplayKey(s.Id, s.Iteration), s => s.ToolCalls);
        // Every retrieval is reused: the collection may have changed since, and a replay must see what the run saw.
        var retrievals = original.FinalSteps()
            .Where(s => s.Kind == "retrieve" && s.Status == "succeeded" && s.Retrieved is not null)
            .ToDictionary(s => new ReplayKey(s.Id, s.Iteration), s => s.Retrieved!);
        return new ReplayPlan(new RunReplay(original.RunId, outputs) { ToolCalls = toolCalls, Retrievals = retrievals }, live.Id, rebound);
    }

    // The ids of the loops enclosing step `id`, outermost first; null when the step is not under `steps`.
    private static List<string>? EnclosingLoops(IEnumerable<StepDefinition> steps, string id)
    {
        foreach (var step in steps)
        {
            if (step.Id == id)
            {
                return [];
            }

            if (EnclosingLoops(step.Children, id) is { } inner)
            {
                if (step is LoopStepDefinition)
                {
                    inner.Insert(0, step.Id);
                }

                return inner;
            }
        }

        return null;
    }
}
