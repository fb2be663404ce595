using System.Collections.Concurrent;
using AgentFlow.Definitions;
using Microsoft.Agents.AI.Workflows;

namespace AgentFlow.Execution.Engine;

/// <summary>Opens a parallel step; the engine's fan-out edge starts every branch in the same superstep.</summary>
internal sealed class ParallelEntryExecutor(ParallelStepDefinition step, string? loopId, RunContext run)
    : Executor<FlowState, FlowState>(step.Id)
{
    public override async ValueTask<FlowState> HandleAsync(FlowState message, IWorkflowContext context, CancellationToken cancellationToken = default)
    {
        await run.OpenCompositeAsync(context, step.Id, "parallel", RunContext.IterationOf(message, loopId), cancellationToken).ConfigureAwait(false);
        return message with { Route = null };
    }
}

/// <summary>
/// Target of the fan-in barrier: the engine delivers every branch's state in one superstep (one call per message);
/// once delivery is finished the states are merged and the parallel step's output is the map of branch outputs.
/// </summary>
[SendsMessage(typeof(FlowState))]
internal sealed class ParallelJoinExecutor(ParallelStepDefinition step, RunContext run)
    : Executor<FlowState>(step.Id + "#end")
{
    private readonly ConcurrentQueue<FlowState> _arrived = new();

    public override ValueTask HandleAsync(FlowState message, IWorkflowContext context, CancellationToken cancellationToken = default)
    {
        _arrived.Enqueue(message);
        return ValueTask.CompletedTask;
    }

    protected override async ValueTask OnMessageDeliveryFinishedAsync(IWorkflowContext context, CancellationToken cancellationToken = default)
    {
        if (_arrived.IsEmpty)
        {
            return;
        }

        var states = new List<FlowState>();
        while (_arrived.TryDequeue(out var state))
        {
            states.Add(state);
        }

        var merged = FlowState.Merge(states);
        var output = StepOutput.OfBranches(step.Branches.Select(b => KeyValuePair.Create(b.Id, merged.Outputs[b.Id])));
        await run.CloseCompositeAsync(context, step.Id, output, detail: $"{step.Branches.Count} branches", error: null, cancellationToken).ConfigureAwait(false);
        await context.SendMessageAsync(merged.WithOutput(step.Id, output), targetId: null, cancellationToken).ConfigureAwait(false);
    }
}
