using AgentFlow.Definitions;
using AgentFlow.Templates;
using Microsoft.Agents.AI.Workflows;

namespace AgentFlow.Execution.Engine;

/// <summary>Evaluates a switch's cases in order and marks the route the engine's switch edge takes.</summary>
internal sealed class SwitchEntryExecutor(SwitchStepDefinition step, string? loopId, RunContext run)
    : Executor<FlowState, FlowState>(step.Id)
{
    /// <summary>Choice recorded when no case holds and there is a default.</summary>
    public const int DefaultChoice = -1;

    /// <summary>Choice recorded when no case holds and there is no default.</summary>
    public const int NoChoice = -2;

    private readonly LiquidCondition[] _conditions = [.. step.Cases.Select(c => LiquidCondition.Compile(c.When))];

    public static string Route(string switchId, int choice) => $"{switchId}:{choice}";

    public override async ValueTask<FlowState> HandleAsync(FlowState message, IWorkflowContext context, CancellationToken cancellationToken = default)
    {
        await run.OpenCompositeAsync(context, step.Id, "switch", RunContext.IterationOf(message, loopId), cancellationToken).ConfigureAwait(false);
        var scope = run.Scope(message, loopId);
        var choice = step.Default is null ? NoChoice : DefaultChoice;
        for (var i = 0; i < _conditions.Length; i++)
        {
            if (await _conditions[i].EvaluateAsync(scope, cancellationToken).ConfigureAwait(false))
            {
                choice = i;
                break;
            }
        }

        return message with { Choices = message.Choices.SetItem(step.Id, choice), Route = Route(step.Id, choice) };
    }
}

/// <summary>Closes a switch: its output is the output of the last step of the branch it took.</summary>
internal sealed class SwitchJoinExecutor(SwitchStepDefinition step, RunContext run)
    : Executor<FlowState, FlowState>(step.Id + "#end")
{
    public override async ValueTask<FlowState> HandleAsync(FlowState message, IWorkflowContext context, CancellationToken cancellationToken = default)
    {
        var choice = message.Choices[step.Id];
        var (steps, detail) = choice switch
        {
            SwitchEntryExecutor.NoChoice => ((IReadOnlyList<StepDefinition>)[], "none"),
            SwitchEntryExecutor.DefaultChoice => (step.Default!, "default"),
            _ => (step.Cases[choice].Steps, $"case {choice + 1}"),
        };
        var output = steps.Count == 0 ? StepOutput.OfText(string.Empty) : message.Outputs[steps[^1].Id];
        await run.CloseCompositeAsync(context, step.Id, output, detail, error: null, cancellationToken).ConfigureAwait(false);
        return message.WithOutput(step.Id, output);
    }
}
