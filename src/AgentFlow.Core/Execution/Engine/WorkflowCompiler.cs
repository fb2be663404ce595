using AgentFlow.Definitions;
using Microsoft.Agents.AI.Workflows;

namespace AgentFlow.Execution.Engine;

/// <summary>
/// Compiles a definition into an Agent Framework <see cref="Workflow"/>: one executor per step (plus entry/exit
/// executors for composites), wired with the engine's own edges — direct edges for sequences, a switch edge for
/// <c>switch</c>, fan-out and a fan-in barrier for <c>parallel</c>, conditional back edges for <c>loop</c>, a request port for <c>approval</c>
/// and for agent steps whose tools need approval.
/// The engine schedules everything; a workflow object serves one run.
/// </summary>
internal static class WorkflowCompiler
{
    public static Workflow Compile(WorkflowDefinition definition, RunContext run)
    {
        var start = new StartExecutor();
        var end = new EndExecutor(definition, run);
        var builder = new WorkflowBuilder(start).WithName(definition.Name);
        if (definition.Description is { } description)
        {
            builder = builder.WithDescription(description);
        }

        var (entry, exit) = CompileSequence(builder, definition.Steps, loopId: null, run);
        builder.AddEdge(start, entry);
        builder.AddEdge(exit, end);
        builder.WithOutputFrom(end);
        return builder.Build();
    }

    private static (ExecutorBinding Entry, ExecutorBinding Exit) CompileSequence(
        WorkflowBuilder builder, IReadOnlyList<StepDefinition> steps, string? loopId, RunContext run)
    {
        ExecutorBinding? entry = null;
        ExecutorBinding? previous = null;
        foreach (var step in steps)
        {
            var compiled = CompileStep(builder, step, loopId, run);
            if (previous is not null)
            {
                builder.AddEdge(previous, compiled.Entry);
            }

            entry ??= compiled.Entry;
            previous = compiled.Exit;
        }

        return (entry ?? throw new InvalidOperationException("A step sequence must not be empty (the validator guarantees it)."), previous!);
    }

    private static (ExecutorBinding Entry, ExecutorBinding Exit) CompileStep(
        WorkflowBuilder builder, StepDefinition step, string? loopId, RunContext run)
    {
        switch (step)
        {
            case AgentStepDefinition agent when run.Tools.NeedsApproval(agent):
                {
                    // The step parks before a call of an approve: true tool: step -> ask -> request port (the run parks)
                    // -> decided -> back into the step, which runs or refuses the call and lets the model go on.
                    ExecutorBinding executor = new AgentStepExecutor(agent, run.Defaults, run.Budget, loopId, run);
                    ExecutorBinding ask = new ToolApprovalAskExecutor(agent, run);
                    ExecutorBinding port = RequestPort.Create<ApprovalRequest, ApprovalDecision>(ApprovalAskExecutor.PortId(agent.Id));
                    ExecutorBinding decided = new ToolApprovalDecidedExecutor(agent);
                    ExecutorBinding exit = new ToolApprovalExitExecutor(agent);
                    var park = ToolApprovalRoutes.Park(agent.Id);
                    builder.AddEdge<FlowState>(executor, ask, state => state?.Route == park);
                    builder.AddEdge<FlowState>(executor, exit, state => state?.Route != park);
                    builder.AddEdge(ask, port);
                    builder.AddEdge(port, decided);
                    builder.AddEdge(decided, executor);
                    return (executor, exit);
                }

            case AgentStepDefinition agent:
                {
                    ExecutorBinding executor = new AgentStepExecutor(agent, run.Defaults, run.Budget, loopId, run);
                    return (executor, executor);
                }

            case WorkflowStepDefinition sub:
                {
                    ExecutorBinding executor = new WorkflowStepExecutor(sub, loopId, run);
                    return (executor, executor);
                }

            case RetrieveStepDefinition retrieve:
                {
                    ExecutorBinding executor = new RetrieveStepExecutor(retrieve, loopId, run);
                    return (executor, executor);
                }

            case SwitchStepDefinition @switch:
                {
                    ExecutorBinding entry = new SwitchEntryExecutor(@switch, loopId, run);
                    ExecutorBinding join = new SwitchJoinExecutor(@switch, run);
                    var cases = @switch.Cases.Select(c => CompileSequence(builder, c.Steps, loopId, run)).ToList();
                    var fallback = @switch.Default is { Count: > 0 } steps ? CompileSequence(builder, steps, loopId, run) : ((ExecutorBinding, ExecutorBinding)?)null;
                    builder.AddSwitch(entry, sb =>
                    {
                        for (var i = 0; i < cases.Count; i++)
                        {
                            var route = SwitchEntryExecutor.Route(@switch.Id, i);
                            sb.AddCase<FlowState>(state => state?.Route == route, [cases[i].Entry]);
                        }

                        // No case held: the default branch, or straight to the join when there is none.
                        sb.WithDefault([fallback?.Item1 ?? join]);
                    });
                    foreach (var (_, caseExit) in cases)
                    {
                        builder.AddEdge(caseExit, join);
                    }

                    if (fallback is { } f)
                    {
                        builder.AddEdge(f.Item2, join);
                    }

                    return (entry, join);
                }

            case ParallelStepDefinition parallel:
                {
                    ExecutorBinding entry = new ParallelEntryExecutor(parallel, loopId, run);
                    ExecutorBinding join = new ParallelJoinExecutor(parallel, run);
                    var branches = parallel.Branches.Select(b => CompileStep(builder, b, loopId, run)).ToList();
                    builder.AddFanOutEdge(entry, branches.Select(b => b.Entry));
                    builder.AddFanInBarrierEdge(branches.Select(b => b.Exit), join);
                    return (entry, join);
                }

            case LoopStepDefinition loop:
                {
                    ExecutorBinding entry = new LoopEntryExecutor(loop, loopId, run);
                    ExecutorBinding check = new LoopCheckExecutor(loop, run);
                    ExecutorBinding exit = new LoopExitExecutor(loop);
                    var body = CompileSequence(builder, loop.Steps, loop.Id, run);
                    var again = LoopCheckExecutor.AgainRoute(loop.Id);
                    builder.AddEdge(entry, body.Entry);
                    builder.AddEdge(body.Exit, check);
                    builder.AddEdge<FlowState>(check, body.Entry, state => state?.Route == again);
                    builder.AddEdge<FlowState>(check, exit, state => state?.Route != again);
                    return (entry, exit);
                }

            case ApprovalStepDefinition approval:
                {
                    // ask -> request port (the run parks here; the engine checkpoints the pending request) -> decided.
                    ExecutorBinding ask = new ApprovalAskExecutor(approval, loopId, run);
                    ExecutorBinding port = RequestPort.Create<ApprovalRequest, ApprovalDecision>(ApprovalAskExecutor.PortId(approval.Id));
                    ExecutorBinding decided = new ApprovalDecidedExecutor(approval, run);
                    builder.AddEdge(ask, port);
                    builder.AddEdge(port, decided);
                    return (ask, decided);
                }

            default:
                throw new NotSupportedException($"Step kind {step.GetType().Name} has no compiler.");
        }
    }
}
