using AgentFlow.Definitions;
using AgentFlow.Diagnostics;

namespace AgentFlow.Validation;

/// <summary>
/// Checks workflow steps (<c>workflow: { file, inputs }</c>): the file exists, does not reach this workflow again
/// (through workflow steps or workflow tools), is itself a valid workflow that never waits for a person, and takes
/// exactly the inputs given: none it does not declare, every required one.
/// </summary>
/// <remarks>Codes: AF0600 file missing, AF0601 recursion, AF0602 the child is invalid, AF0603 unknown input, AF0604
/// missing required input, AF0605 the child can wait for an approval.</remarks>
internal static class SubWorkflowValidator
{
    public static void Validate(WorkflowDefinition definition, List<Diagnostic> diagnostics)
    {
        foreach (var step in definition.AllSteps().OfType<WorkflowStepDefinition>())
        {
            Check(definition, step, diagnostics);
        }
    }

    private static void Check(WorkflowDefinition definition, WorkflowStepDefinition step, List<Diagnostic> diagnostics)
    {
        if (WorkflowStepDefinition.TryResolve(definition.FilePath, step.File) is not { } path)
        {
            diagnostics.Add(new Diagnostic(step.FileLocation, "AF0600", $"workflow '{step.File}' of step '{step.Id}' is not a usable path", "write a file name relative to this workflow's folder, e.g. file: other.yaml"));
            return;
        }

        if (!File.Exists(path))
        {
            diagnostics.Add(new Diagnostic(step.FileLocation, "AF0600", $"workflow '{step.File}' of step '{step.Id}' does not exist",
                $"the path is relative to this workflow's folder (looked for {path})"));
            return;
        }

        var self = Path.GetFullPath(definition.FilePath);
        if (ToolValidator.FindCycle(path, [self], depth: 0) is { } cycle)
        {
            diagnostics.Add(new Diagnostic(step.FileLocation, "AF0601", $"step '{step.Id}' runs a workflow that leads back to one already running: {string.Join(" -> ", cycle.Select(Path.GetFileName))}",
                "a workflow may not (directly, or through workflow steps and workflow tools) run itself; move the shared steps into a third file"));
            return;
        }

        // Fully validated here, so `agentflow validate` of the parent reports a broken child before anything runs.
        var loaded = WorkflowLoader.Load(path);
        if (loaded.Definition is not { } child)
        {
            var errors = loaded.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
            var first = errors.FirstOrDefault() is { } e ? $"; first: {step.File}:{e.Location.Line}:{e.Location.Column}: {e.Code} {e.Message}" : string.Empty;
            diagnostics.Add(new Diagnostic(step.FileLocation, "AF0602",
                $"workflow '{step.File}' of step '{step.Id}' is invalid ({errors.Count} error(s)){first}",
                $"run: agentflow validate {path}"));
            return;
        }

        var declared = child.Inputs.ToDictionary(i => i.Name, StringComparer.Ordinal);
        foreach (var input in step.Inputs.Where(i => !declared.ContainsKey(i.Name)))
        {
            diagnostics.Add(new Diagnostic(input.NameLocation, "AF0603", $"step '{step.Id}' passes '{input.Name}', which is not an input of workflow '{step.File}'" + NameSuggestion.DidYouMean(input.Name, declared.Keys),
                declared.Count == 0 ? $"'{step.File}' takes no inputs" : $"its inputs: {string.Join(", ", declared.Keys)}"));
        }

        var given = step.Inputs.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var missing in child.Inputs.Where(i => i.Required && i.Default is null && !given.Contains(i.Name)))
        {
            diagnostics.Add(new Diagnostic(step.FileLocation, "AF0604", $"step '{step.Id}' does not pass required input '{missing.Name}' of workflow '{step.File}'",
                $"add it: inputs: {{ {missing.Name}: \"{{{{ inputs.{missing.Name} }}}}\" }}"));
        }

        // A child run ends before its parent's step does: it has no way to park the parent (documented limit).
        var approval = child.AllSteps().OfType<ApprovalStepDefinition>().FirstOrDefault()?.Id
            ?? child.Tools.FirstOrDefault(t => t.Approve)?.Name;
        if (approval is not null)
        {
            var what = child.AllSteps().OfType<ApprovalStepDefinition>().Any() ? $"approval step '{approval}'" : $"tool '{approval}' with approve: true";
            diagnostics.Add(new Diagnostic(step.FileLocation, "AF0605", $"workflow '{step.File}' of step '{step.Id}' has {what}, and a child run cannot wait for a decision",
                "move the approval into this workflow, before or after the workflow step"));
        }
    }
}
