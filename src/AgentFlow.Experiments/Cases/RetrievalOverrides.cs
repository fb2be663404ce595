using AgentFlow.Definitions;

namespace AgentFlow.Experiments.Cases;

/// <summary>
/// What a variant changes in a workflow's searches: collections swapped for others (the same documents indexed with
/// another embedder or chunk size) and one <c>top_k</c> for every retrieve step and retrieve tool.
/// </summary>
/// <param name="Collections">Collection the workflow names → collection the variant searches instead.</param>
/// <param name="TopK">top_k of every search; null keeps each one's own.</param>
public sealed record RetrievalOverrides(IReadOnlyDictionary<string, string> Collections, int? TopK)
{
    /// <summary>No change.</summary>
    public static RetrievalOverrides None { get; } = new(new Dictionary<string, string>(), null);

    /// <summary>Whether anything changes.</summary>
    public bool IsEmpty => Collections.Count == 0 && TopK is null;

    /// <summary>
    /// <paramref name="definition"/> with its retrieve steps (at any depth of switches, parallels and loops) and
    /// retrieve tools changed; the same definition when nothing changes.
    /// </summary>
    public WorkflowDefinition Apply(WorkflowDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        if (IsEmpty)
        {
            return definition;
        }

        return definition with
        {
            Steps = Steps(definition.Steps),
            Tools = [.. definition.Tools.Select(t => t.Source is RetrieveToolSource r
                ? t with { Source = r with { Collection = Collection(r.Collection), TopK = TopK ?? r.TopK } }
                : t)],
        };
    }

    /// <summary>The collections the workflow's searches use under this variant (steps and tools), for checking before runs.</summary>
    public IReadOnlyList<string> SearchedBy(WorkflowDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var applied = Apply(definition);
        return [.. applied.AllSteps().OfType<RetrieveStepDefinition>().Select(s => s.Collection)
            .Concat(applied.Tools.Select(t => t.Source).OfType<RetrieveToolSource>().Select(r => r.Collection))
            .Distinct(StringComparer.Ordinal)];
    }

    private string Collection(string name) => Collections.GetValueOrDefault(name, name);

    private List<StepDefinition> Steps(IReadOnlyList<StepDefinition> steps) => [.. steps.Select(Step)];

    // Containers are rebuilt around changed children; kinds that hold no searches are kept as they are.
    private StepDefinition Step(StepDefinition step) => step switch
    {
        RetrieveStepDefinition r => r with { Collection = Collection(r.Collection), TopK = TopK ?? r.TopK },
        SwitchStepDefinition s => s with { Cases = [.. s.Cases.Select(c => c with { Steps = Steps(c.Steps) })], Default = s.Default is null ? null : Steps(s.Default) },
        ParallelStepDefinition p => p with { Branches = Steps(p.Branches) },
        LoopStepDefinition l => l with { Steps = Steps(l.Steps) },
        _ => step,
    };
}
