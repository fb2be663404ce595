using AgentFlow.Definitions;
using AgentFlow.Diagnostics;
using AgentFlow.Templates;

namespace AgentFlow.Validation;

/// <summary>What a template may read where it is used.</summary>
/// <param name="Subject">Who reads, for messages: "step 'a'", "output 'reply'", "switch 'route'".</param>
/// <param name="Reader">The step whose template it is; null for workflow outputs and the memory conversation.</param>
/// <param name="Defined">Steps certainly run before it on every path.</param>
/// <param name="LoopVisible">Steps of the enclosing loop bodies (the previous iteration's output, empty in the first).</param>
/// <param name="InLoop">Whether <c>loop.iteration</c> exists.</param>
/// <param name="StepsAllowed">False where no step has run yet (the memory conversation is rendered when the run starts).</param>
internal sealed record ReadScope(
    string Subject, StepDefinition? Reader, IReadOnlySet<string> Defined, IReadOnlySet<string> LoopVisible, bool InLoop, bool StepsAllowed = true);

/// <summary>
/// Checks one template or condition: Liquid syntax (by Fluid), then every variable it reads, filter it calls and
/// tag it uses, against a <see cref="ReadScope"/>.
/// </summary>
internal sealed class TemplateChecker(IReadOnlySet<string> inputs, StepGraph graph, SuggestionBudget suggestions, List<Diagnostic> diagnostics)
{
    private static readonly string[] Roots = ["inputs", "steps", "loop"];

    /// <summary>Fields an approval step offers besides its output (see <see cref="Execution.StepOutput.Fields"/>).</summary>
    internal static readonly string[] ApprovalFields = ["approved", "comment", "decided_by"];

    /// <summary>Fields a retrieve step offers besides its output: the ranked chunks, for Liquid loops.</summary>
    internal static readonly string[] RetrieveFields = ["chunks"];
    private static readonly string[] TextProperties = ["size", "first", "last"];

    public void CheckTemplate(TemplateText text, ReadScope scope)
    {
        if (LiquidEngine.TryParse(text.Text, text, "template", prefixLength: 0, out var template, out var diagnostic))
        {
            CheckReferences(text, TemplateReferences.Collect(template!), scope);
        }
        else
        {
            diagnostics.Add(diagnostic!);
        }
    }

    public void CheckCondition(TemplateText condition, ReadScope scope)
    {
        if (LiquidCondition.CheckDelimiters(condition, scope.Subject) is { } delimiters)
        {
            diagnostics.Add(delimiters);
        }
        else if (LiquidEngine.TryParse(LiquidCondition.AsTemplate(condition.Text), condition, "condition", LiquidCondition.Prefix.Length, out var template, out var diagnostic))
        {
            CheckReferences(condition, TemplateReferences.Collect(template!), scope);
        }
        else
        {
            diagnostics.Add(diagnostic!);
        }
    }

    private void CheckReferences(TemplateText text, TemplateReferences references, ReadScope scope)
    {
        var finder = new Finder(text);
        foreach (var path in references.Paths)
        {
            var root = path[0];
            if (references.Locals.Contains(root))
            {
                continue;
            }

            var at = finder.Find(string.Join('.', path), root);
            switch (root)
            {
                case "inputs" when path.Count >= 2 && !inputs.Contains(path[1]):
                    Add(at, "AF0204", $"{scope.Subject} uses unknown input '{path[1]}'" + suggestions.DidYouMean(path[1], inputs),
                        inputs.Count == 0 ? $"declare it under inputs:, e.g. inputs: {{ {path[1]}: {{ type: string }} }}" : $"declared inputs: {NameSuggestion.List(inputs)}");
                    break;

                case "steps":
                    CheckStep(at, path, scope);
                    break;

                case "loop" when !scope.InLoop:
                    Add(at, "AF0208", $"{scope.Subject} uses '{string.Join('.', path)}' outside a loop", "loop.iteration exists only in the steps of a loop and in its until");
                    break;

                case "loop" when path.Count >= 2 && path[1] != "iteration":
                    Add(at, "AF0207", $"{scope.Subject} uses unknown field 'loop.{path[1]}'" + NameSuggestion.DidYouMean(path[1], ["iteration"]), "a loop offers loop.iteration (1, 2, …)");
                    break;

                case "inputs" or "loop":
                    break;

                default:
                    Add(at, "AF0209", $"{scope.Subject} uses unknown variable '{root}'" + NameSuggestion.DidYouMean(root, Roots),
                        "templates read inputs.NAME, steps.ID.output and, in a loop, loop.iteration");
                    break;
            }
        }

        foreach (var filter in references.Filters.Where(f => !LiquidEngine.HasFilter(f)).Distinct(StringComparer.Ordinal))
        {
            Add(finder.Find(filter, filter), "AF0303", $"{scope.Subject} uses unknown filter '{filter}'" + NameSuggestion.DidYouMean(filter, LiquidEngine.FilterNames),
                "see the Liquid filters: upcase, downcase, strip, truncate, replace, split, join, default, …");
        }

        foreach (var tag in references.UnsupportedTags.Distinct(StringComparer.Ordinal))
        {
            Add(finder.Find(tag, tag), "AF0304", $"{scope.Subject} uses '{{% {tag} %}}', which workflow templates do not support",
                "templates cannot read files or define functions; write the text in the template itself");
        }
    }

    private void CheckStep(SourceLocation at, IReadOnlyList<string> path, ReadScope scope)
    {
        if (!scope.StepsAllowed)
        {
            Add(at, "AF0210", $"{scope.Subject} reads '{string.Join('.', path)}', but no step has run when it is rendered", "it may read inputs only");
            return;
        }

        if (path.Count < 2)
        {
            Add(at, "AF0207", $"{scope.Subject} uses 'steps' without a step id", "write steps.ID.output");
            return;
        }

        var id = path[1];
        if (!graph.TryGet(id, out var target))
        {
            Add(at, "AF0205", $"{scope.Subject} uses unknown step '{id}'" + suggestions.DidYouMean(id, graph.Ids), "steps.ID.output reads the output of a step of this workflow");
            return;
        }

        string[] stepFields = target switch
        {
            ApprovalStepDefinition => [.. ApprovalFields, "output"],
            RetrieveStepDefinition => [.. RetrieveFields, "output"],
            _ => ["output"],
        };
        if (path.Count == 2 || !stepFields.Contains(path[2], StringComparer.Ordinal))
        {
            var field = path.Count == 2 ? null : path[2];
            Add(at, "AF0207", field is null ? $"{scope.Subject} uses 'steps.{id}' without a field" : $"{scope.Subject} uses unknown field 'steps.{id}.{field}'" + NameSuggestion.DidYouMean(field, stepFields),
                target is ApprovalStepDefinition or RetrieveStepDefinition ? $"{(target is ApprovalStepDefinition ? "approval" : "retrieve")} '{id}' offers {string.Join(", ", stepFields.Select(f => $"steps.{id}.{f}"))}" : $"use steps.{id}.output");
            return;
        }

        if (path[2] is not ("output" or "chunks") && path.Count > 3)
        {
            Add(at, "AF0207", $"{scope.Subject} uses 'steps.{id}.{path[2]}.{path[3]}', but steps.{id}.{path[2]} is a plain value", $"use steps.{id}.{path[2]}");
            return;
        }

        // A child file that cannot be read is reported once, at the workflow step (AF0600); its fields are unknown.
        if (path.Count >= 4 && target is not WorkflowStepDefinition { ChildOutputs: null } && StepGraph.OutputFields(target) is var fields && !(fields?.Contains(path[3]) ?? false) && !TextProperties.Contains(path[3], StringComparer.Ordinal))
        {
            Add(at, "AF0207", fields is null
                    ? $"{scope.Subject} uses 'steps.{id}.output.{path[3]}', but the output of '{id}' is text, with no fields"
                    : target is WorkflowStepDefinition sub
                        ? $"{scope.Subject} uses 'steps.{id}.output.{path[3]}', but workflow '{sub.File}' has no output '{path[3]}'" + suggestions.DidYouMean(path[3], fields)
                        : $"{scope.Subject} uses 'steps.{id}.output.{path[3]}', but '{id}' has no branch '{path[3]}'" + suggestions.DidYouMean(path[3], fields),
                fields is null ? $"use steps.{id}.output" : target is WorkflowStepDefinition ? $"its outputs: {NameSuggestion.List(fields)}" : $"branches: {NameSuggestion.List(fields)}");
            return;
        }

        if (scope.Defined.Contains(id) || scope.LoopVisible.Contains(id))
        {
            return;
        }

        if (ReferenceEquals(target, scope.Reader))
        {
            Add(at, "AF0206", $"{scope.Subject} reads its own output", "a step sees only steps that ran before it (inside a loop, also the previous iteration of its body)");
            return;
        }

        var (why, remedy) = graph.WhyNotRun(target, scope.Reader);
        var when = scope.Reader is null ? $"{scope.Subject} is rendered" : $"'{scope.Reader.Id}' runs";
        Add(at, "AF0206", $"step '{id}' may not have run when {when}: {why}", remedy);
    }

    private void Add(SourceLocation at, string code, string message, string hint) =>
        diagnostics.Add(new Diagnostic(at, code, message, hint));

    /// <summary>Finds each reference in the text, left to right, so repeated names point at successive places.</summary>
    private sealed class Finder(TemplateText text)
    {
        private int _next;

        public SourceLocation Find(string needle, string fallback)
        {
            var index = IndexOf(needle);
            if (index < 0 && fallback != needle)
            {
                index = IndexOf(fallback);
            }

            if (index < 0)
            {
                return text.Location;
            }

            _next = index + 1;
            return text.LocationOf(index);
        }

        private int IndexOf(string needle)
        {
            var index = text.Text.IndexOf(needle, Math.Min(_next, text.Text.Length), StringComparison.Ordinal);
            return index >= 0 ? index : text.Text.IndexOf(needle, StringComparison.Ordinal);
        }
    }
}
