using AgentFlow.Definitions;
using AgentFlow.Diagnostics;
using AgentFlow.Templates;

namespace AgentFlow.Validation;

/// <summary>
/// Checks what the YAML structure cannot: unique step ids, declared model aliases, template and condition syntax,
/// and every reference a template makes.
/// </summary>
/// <remarks>
/// Reference rules. A template may read <c>inputs.NAME</c> (declared inputs) and <c>steps.ID.output</c> of steps that
/// have certainly run before it on every path:
/// <list type="bullet">
/// <item>earlier steps of a sequence;</item>
/// <item>after a <c>switch</c>: the switch itself (its output is that of the branch taken), not the steps inside it;</item>
/// <item>after a <c>parallel</c> or a <c>loop</c>: the composite and the steps that certainly ran inside it;</item>
/// <item>parallel branches never see each other;</item>
/// <item>inside a loop body any step of the same body may be read — one that comes later holds the previous
/// iteration's output and is empty in the first iteration — and <c>until</c> may read any body step;</item>
/// <item><c>loop.iteration</c> only inside a loop; <c>outputs</c> see what ran by the end of the workflow.</item>
/// </list>
/// </remarks>
public static class WorkflowValidator
{
    /// <summary>Every problem of <paramref name="definition"/> beyond its YAML structure.</summary>
    public static IReadOnlyList<Diagnostic> Validate(WorkflowDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        return new Pass(definition).Run();
    }

    private sealed class Pass(WorkflowDefinition definition)
    {
        private readonly List<Diagnostic> _diagnostics = [];
        private readonly Dictionary<string, StepDefinition> _steps = new(StringComparer.Ordinal);
        private readonly Dictionary<string, StepDefinition> _parents = new(StringComparer.Ordinal);
        private readonly HashSet<string> _inputs = new(definition.Inputs.Select(i => i.Name), StringComparer.Ordinal);
        private readonly HashSet<string> _usedAliases = new(StringComparer.Ordinal);

        public List<Diagnostic> Run()
        {
            IndexSteps(definition.Steps, parent: null);
            CheckAliases();
            CheckMemory();
            var defined = Analyze(definition.Steps, new HashSet<string>(StringComparer.Ordinal), loopVisible: null);
            foreach (var output in definition.Outputs)
            {
                CheckTemplate(output.Template, $"output '{output.Name}'", defined, loopVisible: null, inLoop: false, owner: null);
            }

            foreach (var alias in definition.Models.Where(m => !_usedAliases.Contains(m.Alias)))
            {
                _diagnostics.Add(new Diagnostic(alias.Location, "AF0203", $"model alias '{alias.Alias}' is not used by any step", "remove it or use it in a step", DiagnosticSeverity.Warning));
            }

            return _diagnostics;
        }

        private void IndexSteps(IEnumerable<StepDefinition> steps, StepDefinition? parent)
        {
            foreach (var step in steps)
            {
                if (step.Id.Length == 0)
                {
                    // A missing id was reported by the loader.
                }
                else if (_steps.TryGetValue(step.Id, out var first))
                {
                    _diagnostics.Add(new Diagnostic(step.Location, "AF0201", $"duplicate step id '{step.Id}' (first used at line {first.Location.Line})", "step ids must be unique across the whole workflow, including nested steps"));
                }
                else
                {
                    _steps[step.Id] = step;
                    if (parent is not null)
                    {
                        _parents[step.Id] = parent;
                    }
                }

                IndexSteps(step.Children, step);
            }
        }

        private void CheckAliases()
        {
            var aliases = definition.Models.Select(m => m.Alias).ToList();
            foreach (var agent in definition.AllSteps().OfType<AgentStepDefinition>())
            {
                _usedAliases.Add(agent.ModelAlias);
                if (agent.ModelAlias.Length > 0 && !aliases.Contains(agent.ModelAlias, StringComparer.Ordinal))
                {
                    _diagnostics.Add(new Diagnostic(agent.ModelAliasLocation, "AF0202",
                        $"step '{agent.Id}' uses unknown model alias '{agent.ModelAlias}'" + NameSuggestion.DidYouMean(agent.ModelAlias, aliases),
                        aliases.Count == 0 ? $"declare it under models:, e.g. models: {{ {agent.ModelAlias}: tiny }}" : $"declared aliases: {string.Join(", ", aliases)}; or declare it under models:"));
                }
            }
        }

        // The conversation id is rendered when the run starts: it may read inputs only.
        private void CheckMemory()
        {
            if (definition.Memory is { } memory)
            {
                CheckTemplate(memory.Conversation, "memory conversation", new HashSet<string>(StringComparer.Ordinal), loopVisible: null, inLoop: false, owner: null);
            }

            foreach (var agent in definition.AllSteps().OfType<AgentStepDefinition>().Where(a => a.Memory is not null && definition.Memory is null))
            {
                _diagnostics.Add(new Diagnostic(agent.Memory!.Location, "AF0119", $"step '{agent.Id}' uses memory, but the workflow names no conversation",
                    "add at the top level: memory: { conversation: \"{{ inputs.customer_id }}\" }"));
            }
        }

        /// <summary>Checks <paramref name="steps"/> in order; returns the ids certainly run after them.</summary>
        private HashSet<string> Analyze(IReadOnlyList<StepDefinition> steps, HashSet<string> defined, IReadOnlySet<string>? loopVisible)
        {
            defined = new HashSet<string>(defined, StringComparer.Ordinal);
            var inLoop = loopVisible is not null;
            foreach (var step in steps)
            {
                switch (step)
                {
                    case AgentStepDefinition agent:
                        if (agent.System is { } system)
                        {
                            CheckTemplate(system, $"step '{agent.Id}'", defined, loopVisible, inLoop, agent);
                        }

                        CheckTemplate(agent.Prompt, $"step '{agent.Id}'", defined, loopVisible, inLoop, agent);
                        break;

                    case SwitchStepDefinition @switch:
                        foreach (var @case in @switch.Cases)
                        {
                            CheckCondition(@case.When, $"switch '{@switch.Id}'", defined, loopVisible, inLoop, @switch);
                            Analyze(@case.Steps, defined, loopVisible);
                        }

                        if (@switch.Default is { } fallback)
                        {
                            Analyze(fallback, defined, loopVisible);
                        }

                        break;

                    case ParallelStepDefinition parallel:
                        var afterBranches = new HashSet<string>(StringComparer.Ordinal);
                        foreach (var branch in parallel.Branches)
                        {
                            afterBranches.UnionWith(Analyze([branch], defined, loopVisible));
                        }

                        defined.UnionWith(afterBranches);
                        break;

                    case LoopStepDefinition loop:
                        var body = new HashSet<string>(StepDefinition.Flatten(loop.Steps).Select(s => s.Id), StringComparer.Ordinal);
                        if (loopVisible is not null)
                        {
                            body.UnionWith(loopVisible);
                        }

                        var afterBody = Analyze(loop.Steps, defined, body);
                        CheckCondition(loop.Until, $"loop '{loop.Id}'", new HashSet<string>(afterBody.Union(body), StringComparer.Ordinal), body, inLoop: true, loop);
                        defined.UnionWith(afterBody);
                        break;
                }

                defined.Add(step.Id);
            }

            return defined;
        }

        private void CheckCondition(TemplateText condition, string user, IReadOnlySet<string> defined, IReadOnlySet<string>? loopVisible, bool inLoop, StepDefinition owner)
        {
            if (condition.Text.Contains("{{", StringComparison.Ordinal) || condition.Text.Contains("{%", StringComparison.Ordinal))
            {
                _diagnostics.Add(new Diagnostic(condition.Location, "AF0302", $"the condition of {user} contains '{{{{' or '{{%'",
                    "a condition is an expression, as in {% if … %}: write steps.a.output contains 'x' without braces"));
                return;
            }

            if (!LiquidEngine.TryParse(LiquidCondition.AsTemplate(condition.Text), condition.Location, "condition", LiquidCondition.Prefix.Length, out var template, out var diagnostic))
            {
                _diagnostics.Add(diagnostic!);
                return;
            }

            CheckReferences(condition, TemplateReferences.Collect(template!), user, defined, loopVisible, inLoop, owner);
        }

        private void CheckTemplate(TemplateText text, string user, IReadOnlySet<string> defined, IReadOnlySet<string>? loopVisible, bool inLoop, StepDefinition? owner)
        {
            if (!LiquidEngine.TryParse(text.Text, text.Location, "template", prefixLength: 0, out var template, out var diagnostic))
            {
                _diagnostics.Add(diagnostic!);
                return;
            }

            CheckReferences(text, TemplateReferences.Collect(template!), user, defined, loopVisible, inLoop, owner);
        }

        private void CheckReferences(TemplateText text, TemplateReferences references, string user, IReadOnlySet<string> defined, IReadOnlySet<string>? loopVisible, bool inLoop, StepDefinition? owner)
        {
            foreach (var path in references.Paths)
            {
                var root = path[0];
                if (references.Locals.Contains(root))
                {
                    continue;
                }

                var at = Locate(text, string.Join('.', path));
                switch (root)
                {
                    case "inputs" when path.Count >= 2 && !_inputs.Contains(path[1]):
                        Add(at, "AF0204", $"{user} uses unknown input '{path[1]}'" + NameSuggestion.DidYouMean(path[1], _inputs),
                            _inputs.Count == 0 ? "declare it under inputs:" : $"declared inputs: {string.Join(", ", _inputs)}");
                        break;

                    case "steps" when path.Count >= 2:
                        CheckStepReference(at, path, user, defined, loopVisible, owner);
                        break;

                    case "loop" when !inLoop:
                        Add(at, "AF0208", $"{user} uses 'loop.{(path.Count > 1 ? path[1] : string.Empty)}' outside a loop", "loop.iteration exists only inside a loop's steps and its until");
                        break;

                    case "loop" when path.Count >= 2 && path[1] != "iteration":
                        Add(at, "AF0207", $"{user} uses unknown field 'loop.{path[1]}'" + NameSuggestion.DidYouMean(path[1], ["iteration"]), "a loop has loop.iteration");
                        break;

                    case "inputs" or "steps" or "loop":
                        break;

                    default:
                        Add(at, "AF0209", $"{user} uses unknown variable '{root}'" + NameSuggestion.DidYouMean(root, ["inputs", "steps", "loop"]),
                            "templates can read inputs.NAME, steps.ID.output and loop.iteration");
                        break;
                }
            }
        }

        private void CheckStepReference(SourceLocation at, IReadOnlyList<string> path, string user, IReadOnlySet<string> defined, IReadOnlySet<string>? loopVisible, StepDefinition? owner)
        {
            var id = path[1];
            if (!_steps.TryGetValue(id, out var target))
            {
                Add(at, "AF0205", $"{user} uses unknown step '{id}'" + NameSuggestion.DidYouMean(id, _steps.Keys), "steps.ID.output reads the output of a step of this workflow");
                return;
            }

            if (path.Count >= 3 && path[2] != "output")
            {
                Add(at, "AF0207", $"{user} uses unknown field 'steps.{id}.{path[2]}'" + NameSuggestion.DidYouMean(path[2], ["output"]), $"use steps.{id}.output");
                return;
            }

            if (owner is not null && owner.Id == id && owner is not LoopStepDefinition)
            {
                Add(at, "AF0206", $"{user} reads its own output", "a step can read only steps that ran before it");
                return;
            }

            if (defined.Contains(id) || (loopVisible?.Contains(id) ?? false))
            {
                return;
            }

            Add(at, "AF0206", $"{user} reads step '{id}', which may not have run yet: {WhyNotRun(target, owner)}", Remedy(target, owner));
        }

        private string WhyNotRun(StepDefinition target, StepDefinition? reader)
        {
            if (SwitchOf(target, reader) is { } @switch)
            {
                return $"it runs only on one path of switch '{@switch.Id}'";
            }

            if (CommonParallel(target, reader) is { } parallel)
            {
                return $"it runs at the same time, in another branch of parallel '{parallel.Id}'";
            }

            return "it comes later in the workflow";
        }

        private string Remedy(StepDefinition target, StepDefinition? reader) =>
            SwitchOf(target, reader) is { } @switch
                ? $"use steps.{@switch.Id}.output (the output of the branch taken)"
                : CommonParallel(target, reader) is { } parallel
                    ? $"read it after the parallel step, e.g. steps.{parallel.Id}.output.{target.Id}"
                    : "move this step after the one it reads";

        // The switch whose branch holds the target, when the reader is not in that same branch.
        private SwitchStepDefinition? SwitchOf(StepDefinition target, StepDefinition? reader)
        {
            var readerAncestors = reader is null ? [] : Ancestors(reader).Append(reader).ToHashSet();
            return Ancestors(target).OfType<SwitchStepDefinition>().LastOrDefault(s => !readerAncestors.Contains(s) || !SameBranch(s, target, reader!));
        }

        private ParallelStepDefinition? CommonParallel(StepDefinition target, StepDefinition? reader) =>
            reader is null ? null : Ancestors(target).OfType<ParallelStepDefinition>().Intersect(Ancestors(reader).OfType<ParallelStepDefinition>()).LastOrDefault();

        private static bool SameBranch(SwitchStepDefinition @switch, StepDefinition target, StepDefinition reader)
        {
            var branches = @switch.Cases.Select(c => c.Steps).Append(@switch.Default ?? []).ToList();
            return branches.Any(b => StepDefinition.Flatten(b).Contains(target) && StepDefinition.Flatten(b).Contains(reader));
        }

        private List<StepDefinition> Ancestors(StepDefinition step)
        {
            var chain = new List<StepDefinition>();
            for (var id = step.Id; _parents.TryGetValue(id, out var parent); id = parent.Id)
            {
                chain.Add(parent);
            }

            chain.Reverse();
            return chain;
        }

        /// <summary>Where <paramref name="needle"/> appears in a template: on its line when the text is on one line, else its start.</summary>
        private SourceLocation Locate(TemplateText text, string needle)
        {
            var index = text.Text.IndexOf(needle, StringComparison.Ordinal);
            if (index < 0)
            {
                return text.Location;
            }

            var line = text.Text.AsSpan(0, index).Count('\n');
            if (line == 0 && !text.Text.Contains('\n', StringComparison.Ordinal))
            {
                return text.Location with { Column = text.Location.Column + index };
            }

            // Block scalar: the text starts on the line after the '|' or '>' indicator; find the column in the source line.
            var sourceLines = definition.SourceText.Split('\n');
            var lineNumber = text.Location.Line + 1 + line;
            if (lineNumber - 1 < sourceLines.Length)
            {
                var column = sourceLines[lineNumber - 1].IndexOf(needle, StringComparison.Ordinal);
                if (column >= 0)
                {
                    return text.Location with { Line = lineNumber, Column = column + 1 };
                }
            }

            return text.Location;
        }

        private void Add(SourceLocation at, string code, string message, string hint) =>
            _diagnostics.Add(new Diagnostic(at, code, message, hint));
    }
}
