using AgentFlow.Definitions;
using AgentFlow.Diagnostics;

namespace AgentFlow.Validation;

/// <summary>
/// The steps of a workflow as a tree: ids (duplicates reported), parents, and what each step's output looks like.
/// </summary>
internal sealed class StepGraph
{
    private readonly Dictionary<string, StepDefinition> _byId = new(StringComparer.Ordinal);
    private readonly Dictionary<StepDefinition, StepDefinition> _parents = new(ReferenceEqualityComparer.Instance);

    private StepGraph()
    {
    }

    /// <summary>Every step id, first declaration kept.</summary>
    public IReadOnlyCollection<string> Ids => _byId.Keys;

    /// <summary>Indexes <paramref name="definition"/>; a step id used twice is reported at the second (AF0201).</summary>
    public static StepGraph Build(WorkflowDefinition definition, List<Diagnostic> diagnostics)
    {
        var graph = new StepGraph();
        graph.Index(definition.Steps, parent: null, diagnostics);
        return graph;
    }

    public bool TryGet(string id, out StepDefinition step) => _byId.TryGetValue(id, out step!);

    /// <summary>Composites around <paramref name="step"/>, outermost first.</summary>
    public List<StepDefinition> Ancestors(StepDefinition step)
    {
        var chain = new List<StepDefinition>();
        for (var current = step; _parents.TryGetValue(current, out var parent); current = parent)
        {
            chain.Add(parent);
        }

        chain.Reverse();
        return chain;
    }

    /// <summary>
    /// The branch ids <c>steps.ID.output.BRANCH</c> may name: those of a parallel step, or of any parallel step that
    /// can end a switch path or a loop body; null when the output is always text.
    /// </summary>
    public static IReadOnlySet<string>? OutputFields(StepDefinition step)
    {
        switch (step)
        {
            case ParallelStepDefinition parallel:
                return parallel.Branches.Select(b => b.Id).ToHashSet(StringComparer.Ordinal);
            case SwitchStepDefinition @switch:
                var fields = @switch.Cases.Select(c => c.Steps).Append(@switch.Default ?? [])
                    .Where(path => path.Count > 0)
                    .Select(path => OutputFields(path[^1]))
                    .OfType<IReadOnlySet<string>>()
                    .SelectMany(f => f)
                    .ToHashSet(StringComparer.Ordinal);
                return fields.Count == 0 ? null : fields;
            case LoopStepDefinition { Steps.Count: > 0 } loop:
                return OutputFields(loop.Steps[^1]);
            case AgentStepDefinition { Output: { } output }:
                return output.Fields.ToHashSet(StringComparer.Ordinal);
            case WorkflowStepDefinition { ChildOutputs: { } outputs }:
                return outputs.ToHashSet(StringComparer.Ordinal);
            default:
                return null;
        }
    }

    /// <summary>
    /// Why <paramref name="target"/> may not have run when <paramref name="reader"/> reads it, and what to read instead;
    /// called once flow analysis found it not certainly run. A null reader is a workflow output.
    /// </summary>
    public (string Why, string Remedy) WhyNotRun(StepDefinition target, StepDefinition? reader)
    {
        var readerChain = reader is null ? [] : Ancestors(reader).Append(reader).ToList();
        if (reader is not null && readerChain.Contains(target))
        {
            return ($"'{reader.Id}' runs inside it, and its output is set only when it ends", $"read the steps inside '{target.Id}' that ran before '{reader.Id}'");
        }

        var targetChain = Ancestors(target);
        foreach (var @switch in targetChain.OfType<SwitchStepDefinition>())
        {
            if (!readerChain.Contains(@switch) || !SamePath(@switch, target, reader!))
            {
                return ($"it runs only on one path of switch '{@switch.Id}'", $"use steps.{@switch.Id}.output instead: it holds the output of the path taken");
            }
        }

        foreach (var parallel in targetChain.OfType<ParallelStepDefinition>().Reverse())
        {
            if (readerChain.Contains(parallel))
            {
                var branch = targetChain.Append(target).First(s => parallel.Branches.Contains(s));
                return ($"it runs at the same time, in another branch of parallel '{parallel.Id}'",
                    $"branches never see each other; read it after '{parallel.Id}' ends, as steps.{parallel.Id}.output.{branch.Id}");
            }
        }

        return reader is null
            ? ("it does not run on every path", "read a step that always runs")
            : ("it comes later in the workflow", $"move '{reader.Id}' after '{target.Id}', or read a step that runs before it");
    }

    private static bool SamePath(SwitchStepDefinition @switch, StepDefinition target, StepDefinition reader) =>
        @switch.Cases.Select(c => c.Steps).Append(@switch.Default ?? [])
            .Any(path => StepDefinition.Flatten(path).Contains(target) && StepDefinition.Flatten(path).Contains(reader));

    private void Index(IEnumerable<StepDefinition> steps, StepDefinition? parent, List<Diagnostic> diagnostics)
    {
        foreach (var step in steps)
        {
            if (parent is not null)
            {
                _parents[step] = parent;
            }

            if (step.Id.Length == 0)
            {
                // A missing id was reported by the loader.
            }
            else if (_byId.TryGetValue(step.Id, out var first))
            {
                diagnostics.Add(new Diagnostic(step.Location, "AF0201", $"duplicate step id '{step.Id}' (first used at line {first.Location.Line})",
                    "step ids must be unique across the whole workflow, nested steps included: rename one"));
            }
            else
            {
                _byId[step.Id] = step;
            }

            Index(step.Children, step, diagnostics);
        }
    }
}
