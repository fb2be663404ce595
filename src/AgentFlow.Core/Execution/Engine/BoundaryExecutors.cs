using AgentFlow.Definitions;
using AgentFlow.Templates;
using Microsoft.Agents.AI.Workflows;

namespace AgentFlow.Execution.Engine;

/// <summary>The workflow's start: receives the initial state. Its id cannot collide with a step id.</summary>
internal sealed class StartExecutor() : Executor<FlowState, FlowState>(Id)
{
    public new const string Id = "$start";

    public override ValueTask<FlowState> HandleAsync(FlowState message, IWorkflowContext context, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(message);
}

/// <summary>The workflow's end: renders the declared outputs and yields them as the workflow output.</summary>
[YieldsOutput(typeof(RunOutputs))]
internal sealed class EndExecutor(WorkflowDefinition definition, RunContext run) : Executor<FlowState>(Id)
{
    public new const string Id = "$end";

    private readonly (string Name, LiquidTemplate Template)[] _outputs =
        [.. definition.Outputs.Select(o => (o.Name, LiquidTemplate.Compile(o.Template)))];

    public override async ValueTask HandleAsync(FlowState message, IWorkflowContext context, CancellationToken cancellationToken = default)
    {
        var scope = run.Scope(message, loopId: null);
        var outputs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, template) in _outputs)
        {
            outputs[name] = await template.RenderAsync(scope, cancellationToken).ConfigureAwait(false);
        }

        await context.YieldOutputAsync(new RunOutputs(outputs), cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>The rendered outputs of a finished run.</summary>
internal sealed record RunOutputs(IReadOnlyDictionary<string, string> Values);
