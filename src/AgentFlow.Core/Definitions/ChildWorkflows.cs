namespace AgentFlow.Definitions;

/// <summary>The workflows a run may start as child runs: through workflow steps and workflow tools, transitively.</summary>
public static class ChildWorkflows
{
    // Beyond it the validator reports recursion; the walk stops there too.
    private const int MaxDepth = 16;

    /// <summary>
    /// Every valid workflow <paramref name="definition"/> can reach through its workflow steps and workflow tools (and
    /// theirs), each once, in the order first reached. Files that are missing or invalid are left out: the validator
    /// reports them, and a run fails at the step that needs them.
    /// </summary>
    public static IReadOnlyList<WorkflowDefinition> Reachable(WorkflowDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var seen = new HashSet<string>(StringComparer.Ordinal) { Path.GetFullPath(definition.FilePath) };
        var found = new List<WorkflowDefinition>();
        Walk(definition, seen, found, depth: 0);
        return found;
    }

    /// <summary>The files <paramref name="definition"/> starts child runs of directly, resolved against its folder.</summary>
    public static IEnumerable<string> Files(WorkflowDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        return definition.AllSteps().OfType<WorkflowStepDefinition>().Select(s => s.File)
            .Concat(definition.Tools.Select(t => t.Source).OfType<WorkflowToolSource>().Select(t => t.File))
            .Select(file => WorkflowStepDefinition.TryResolve(definition.FilePath, file)).OfType<string>();
    }

    private static void Walk(WorkflowDefinition definition, HashSet<string> seen, List<WorkflowDefinition> found, int depth)
    {
        if (depth >= MaxDepth)
        {
            return;
        }

        foreach (var path in Files(definition))
        {
            if (seen.Add(path) && WorkflowLoader.Load(path).Definition is { } child)
            {
                found.Add(child);
                Walk(child, seen, found, depth + 1);
            }
        }
    }
}
