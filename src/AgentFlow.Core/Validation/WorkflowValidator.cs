using AgentFlow.Definitions;
using AgentFlow.Diagnostics;

namespace AgentFlow.Validation;

/// <summary>
/// Checks what the YAML structure cannot: unique step ids, declared model aliases, template and condition syntax,
/// and every reference a template or condition makes. <see cref="WorkflowLoader"/> calls it; it never throws on a
/// definition the loader produced, even a partial one.
/// </summary>
/// <remarks>
/// <para>Reference rules. A template may read <c>inputs.NAME</c> (declared inputs) and <c>steps.ID.output</c> of steps
/// that certainly ran before it, on every path:</para>
/// <list type="bullet">
/// <item>sequential steps accumulate: a step sees every earlier step of its sequence, and what they made visible;</item>
/// <item>inside a switch case, the earlier steps of that case; after a <c>switch</c>, the switch itself (its output
/// is that of the last step of the path taken) but none of the steps inside it, which ran on one path only;</item>
/// <item>after a <c>parallel</c>, the parallel (its output maps branch id to branch output:
/// <c>steps.P.output.BRANCH</c>) and every step that certainly ran in its branches;</item>
/// <item>parallel branches run at the same time and never see each other, not even inside a loop;</item>
/// <item>inside a loop body, also any step of the same body, the step itself and later ones included: they hold the
/// previous iteration's output and are empty in the first iteration (what makes draft/critique loops work);
/// <c>until</c> may read any step of the body; <c>loop.iteration</c> (1-based) exists only inside a loop;</item>
/// <item>after a <c>loop</c>, the loop (its output is that of the last step of its last iteration) and every step
/// that certainly ran in its body;</item>
/// <item><c>outputs</c> see what is defined at the end of the workflow; the memory <c>conversation</c> is rendered
/// when the run starts and sees inputs only.</item>
/// </list>
/// <para>Codes: AF0119 memory without conversation, AF0201 duplicate step id, AF0202 unknown model alias, AF0203
/// unused model alias (warning), AF0204 unknown input, AF0205 unknown step, AF0206 step not certainly run, AF0207
/// unknown field, AF0208 <c>loop</c> outside a loop, AF0209 unknown variable, AF0210 step read before any runs, AF0211 approval inside a parallel branch, AF0414 agent step using an approve: true tool inside a parallel branch, AF0212 split_key without a split (warning),
/// AF0301 Liquid syntax, AF0302 delimiters in a condition, AF0303 unknown filter, AF0304 unsupported tag. Tools are
/// checked by <see cref="ToolValidator"/> (AF04xx), workflow steps by <see cref="SubWorkflowValidator"/> (AF06xx).</para>
/// </remarks>
public static class WorkflowValidator
{
    private static readonly HashSet<string> Nothing = new(StringComparer.Ordinal);

    /// <summary>Every problem of <paramref name="definition"/> beyond its YAML structure, in no particular order.</summary>
    public static IReadOnlyList<Diagnostic> Validate(WorkflowDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var diagnostics = new List<Diagnostic>();
        var graph = StepGraph.Build(definition, diagnostics);
        var inputs = definition.Inputs.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var suggestions = new SuggestionBudget();
        var checker = new TemplateChecker(inputs, graph, suggestions, diagnostics);
        CheckAliases(definition, suggestions, diagnostics);
        CheckMemory(definition, checker, diagnostics);
        CheckApprovals(definition, graph, diagnostics);
        ToolValidator.Validate(definition, diagnostics);
        SubWorkflowValidator.Validate(definition, diagnostics);
        var defined = new Flow(checker).Analyze(definition.Steps, Nothing, Nothing, inLoop: false);
        foreach (var output in definition.Outputs)
        {
            checker.CheckTemplate(output.Template, new ReadScope($"output '{output.Name}'", null, defined, Nothing, InLoop: false));
        }

        return diagnostics;
    }

    private static void CheckAliases(WorkflowDefinition definition, SuggestionBudget suggestions, List<Diagnostic> diagnostics)
    {
        var aliases = definition.Models.Select(m => m.Alias).ToHashSet(StringComparer.Ordinal);
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var agent in definition.AllSteps().OfType<AgentStepDefinition>())
        {
            used.Add(agent.ModelAlias);
            if (agent.ModelAlias.Length > 0 && !aliases.Contains(agent.ModelAlias))
            {
                diagnostics.Add(new Diagnostic(agent.ModelAliasLocation, "AF0202",
                    $"step '{agent.Id}' uses unknown model alias '{agent.ModelAlias}'" + suggestions.DidYouMean(agent.ModelAlias, aliases),
                    aliases.Count == 0
                        ? $"declare it under models:, e.g. models: {{ {agent.ModelAlias}: tiny }}"
                        : $"declared aliases: {NameSuggestion.List(aliases)}; or declare it under models:"));
            }
        }

        foreach (var alias in definition.Models.Where(m => !used.Contains(m.Alias)))
        {
            diagnostics.Add(new Diagnostic(alias.Location, "AF0203", $"model alias '{alias.Alias}' is not used by any step",
                "remove it, or use it in a step's model:", DiagnosticSeverity.Warning));
        }
    }

    // A parked run answers one request at a time; a decision inside concurrently running branches has no single
    // place to resume from.
    private static void CheckApprovals(WorkflowDefinition definition, StepGraph graph, List<Diagnostic> diagnostics)
    {
        foreach (var approval in definition.AllSteps().OfType<ApprovalStepDefinition>())
        {
            if (graph.Ancestors(approval).OfType<ParallelStepDefinition>().FirstOrDefault() is { } parallel)
            {
                diagnostics.Add(new Diagnostic(approval.Location, "AF0211", $"approval '{approval.Id}' is inside parallel '{parallel.Id}'",
                    $"put the approval before or after '{parallel.Id}': approvals run one at a time, not in parallel branches"));
            }
        }

        // The same for agent steps that park before calls of tools with approve: true.
        var approved = definition.Tools.Where(t => t.Approve).Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var agent in definition.AllSteps().OfType<AgentStepDefinition>())
        {
            if (agent.Tools.FirstOrDefault(approved.Contains) is { } tool && graph.Ancestors(agent).OfType<ParallelStepDefinition>().FirstOrDefault() is { } parallel)
            {
                diagnostics.Add(new Diagnostic(agent.ToolsLocation ?? agent.Location, "AF0414", $"step '{agent.Id}' uses tool '{tool}' (approve: true) inside parallel '{parallel.Id}'",
                    $"move '{agent.Id}' before or after '{parallel.Id}', or drop approve: true: a run waits for one decision at a time, not in parallel branches"));
            }
        }
    }

    // The conversation id is rendered when the run starts: it may read inputs only.
    private static void CheckMemory(WorkflowDefinition definition, TemplateChecker checker, List<Diagnostic> diagnostics)
    {
        if (definition.Memory is { } memory)
        {
            checker.CheckTemplate(memory.Conversation, new ReadScope("the memory conversation", null, Nothing, Nothing, InLoop: false, StepsAllowed: false));
        }

        // The split key is rendered when the run starts, like the conversation id: inputs only.
        if (definition.SplitKey is { } splitKey)
        {
            checker.CheckTemplate(splitKey, new ReadScope("the split key", null, Nothing, Nothing, InLoop: false, StepsAllowed: false));
            if (definition.Models.All(m => m.Split.Count == 0))
            {
                diagnostics.Add(new Diagnostic(splitKey.Location, "AF0212", "split_key is set, but no model alias is a weighted split",
                    "split an alias, e.g. models: { writer: { tiny: 80, tiny2: 20 } }, or remove split_key", DiagnosticSeverity.Warning));
            }
        }

        foreach (var agent in definition.AllSteps().OfType<AgentStepDefinition>().Where(a => a.Memory is not null && definition.Memory is null))
        {
            diagnostics.Add(new Diagnostic(agent.Memory!.Location, "AF0119", $"step '{agent.Id}' uses memory, but the workflow names no conversation",
                "add at the top level: memory: { conversation: \"{{ inputs.customer_id }}\" }"));
        }
    }

    /// <summary>Walks the steps in run order, checking each template against what has certainly run before it.</summary>
    private sealed class Flow(TemplateChecker checker)
    {
        /// <summary>Checks <paramref name="steps"/> in order; returns the ids certainly run once they are done.</summary>
        public HashSet<string> Analyze(IReadOnlyList<StepDefinition> steps, IReadOnlySet<string> before, IReadOnlySet<string> loopVisible, bool inLoop)
        {
            var defined = new HashSet<string>(before, StringComparer.Ordinal);
            foreach (var step in steps)
            {
                switch (step)
                {
                    case AgentStepDefinition agent:
                        var scope = new ReadScope($"step '{agent.Id}'", agent, defined, loopVisible, inLoop);
                        if (agent.System is { } system)
                        {
                            checker.CheckTemplate(system, scope);
                        }

                        checker.CheckTemplate(agent.Prompt, scope);
                        break;

                    case ApprovalStepDefinition approval:
                        var approvalScope = new ReadScope($"approval '{approval.Id}'", approval, defined, loopVisible, inLoop);
                        checker.CheckTemplate(approval.Message, approvalScope);
                        if (approval.Show is { } show)
                        {
                            checker.CheckTemplate(show, approvalScope);
                        }

                        break;

                    case WorkflowStepDefinition sub:
                        var subScope = new ReadScope($"workflow step '{sub.Id}'", sub, defined, loopVisible, inLoop);
                        foreach (var input in sub.Inputs)
                        {
                            checker.CheckTemplate(input.Value, subScope);
                        }

                        break;

                    case RetrieveStepDefinition retrieve:
                        checker.CheckTemplate(retrieve.Query, new ReadScope($"retrieve '{retrieve.Id}'", retrieve, defined, loopVisible, inLoop));
                        break;

                    case SwitchStepDefinition @switch:
                        var condition = new ReadScope($"switch '{@switch.Id}'", @switch, defined, loopVisible, inLoop);
                        foreach (var @case in @switch.Cases)
                        {
                            checker.CheckCondition(@case.When, condition);
                            Analyze(@case.Steps, defined, loopVisible, inLoop);
                        }

                        if (@switch.Default is { } fallback)
                        {
                            Analyze(fallback, defined, loopVisible, inLoop);
                        }

                        break;

                    case ParallelStepDefinition parallel:
                        var afterBranches = new HashSet<string>(StringComparer.Ordinal);
                        foreach (var branch in parallel.Branches)
                        {
                            // A sibling branch runs at the same time, even when the loop around makes its id visible.
                            var siblings = parallel.Branches.Where(b => !ReferenceEquals(b, branch)).SelectMany(b => StepDefinition.Flatten([b])).Select(s => s.Id);
                            var visible = loopVisible.Except(siblings, StringComparer.Ordinal).ToHashSet(StringComparer.Ordinal);
                            afterBranches.UnionWith(Analyze([branch], defined, visible, inLoop));
                        }

                        defined.UnionWith(afterBranches);
                        break;

                    case LoopStepDefinition loop:
                        var body = StepDefinition.Flatten(loop.Steps).Select(s => s.Id).Concat(loopVisible).ToHashSet(StringComparer.Ordinal);
                        var afterBody = Analyze(loop.Steps, defined, body, inLoop: true);
                        checker.CheckCondition(loop.Until, new ReadScope($"loop '{loop.Id}'", loop, afterBody, body, InLoop: true));
                        defined.UnionWith(afterBody);
                        break;
                }

                defined.Add(step.Id);
            }

            return defined;
        }
    }
}
