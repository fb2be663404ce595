using AgentFlow.Definitions;
using AgentFlow.Templates;
using Microsoft.Agents.AI.Workflows;

namespace AgentFlow.Execution.Engine;

/// <summary>Opens a loop at iteration 1.</summary>
internal sealed class LoopEntryExecutor(LoopStepDefinition step, string? outerLoopId, RunContext run)
    : Executor<FlowState, FlowState>(step.Id)
{
    public override async ValueTask<FlowState> HandleAsync(FlowState message, IWorkflowContext context, CancellationToken cancellationToken = default)
    {
        await run.OpenCompositeAsync(context, step.Id, "loop", RunContext.IterationOf(message, outerLoopId), cancellationToken).ConfigureAwait(false);
        return message with { Iterations = message.Iterations.SetItem(step.Id, 1), Route = null };
    }
}

/// <summary>
/// Runs after each iteration: ends the loop when <c>until</c> holds, starts the next iteration (back edge) while
/// iterations remain, and otherwise fails the run (or ends with the last output when <c>on_exhausted: continue</c>).
/// </summary>
internal sealed class LoopCheckExecutor(LoopStepDefinition step, RunContext run)
    : Executor<FlowState, FlowState>(step.Id + "#check")
{
    private readonly LiquidCondition _until = LiquidCondition.Compile(step.Until);

    public static string AgainRoute(string loopId) => loopId + ":again";

    public override async ValueTask<FlowState> HandleAsync(FlowState message, IWorkflowContext context, CancellationToken cancellationToken = default)
    {
        var iteration = message.Iterations[step.Id];
        var done = await _until.EvaluateAsync(run.Scope(message, step.Id), cancellationToken).ConfigureAwait(false);
        if (!done && iteration < step.MaxIterations)
        {
            return message with { Iterations = message.Iterations.SetItem(step.Id, iteration + 1), Route = AgainRoute(step.Id) };
        }

        var output = message.Outputs[step.Steps[^1].Id];
        if (!done && step.OnExhausted == LoopExhaustedBehavior.Fail)
        {
            var error = $"loop stopped after max_iterations ({step.MaxIterations}) without 'until' holding: {step.Until.Text}";
            await run.CloseCompositeAsync(context, step.Id, output, $"{iteration} iterations", error, cancellationToken).ConfigureAwait(false);
            throw new StepFailedException(step.Id, error + "; raise max_iterations, relax the condition, or set on_exhausted: continue");
        }

        var detail = done ? $"{iteration} iterations" : $"{iteration} iterations (exhausted)";
        await run.CloseCompositeAsync(context, step.Id, output, detail, error: null, cancellationToken).ConfigureAwait(false);
        return message with
        {
            Outputs = message.Outputs.SetItem(step.Id, output),
            Iterations = message.Iterations.Remove(step.Id),
            Route = null,
        };
    }
}

/// <summary>
/// A loop's single exit: the check's conditional edges go back to the body or here, so whatever follows the loop
/// (a next step, a fan-in barrier, a switch join) sees one unconditional edge.
/// </summary>
internal sealed class LoopExitExecutor(LoopStepDefinition step)
    : Executor<FlowState, FlowState>(step.Id + "#exit")
{
    public override ValueTask<FlowState> HandleAsync(FlowState message, IWorkflowContext context, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(message);
}
