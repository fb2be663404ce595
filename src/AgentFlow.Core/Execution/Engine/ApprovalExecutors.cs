using AgentFlow.Definitions;
using AgentFlow.Templates;
using Microsoft.Agents.AI.Workflows;

namespace AgentFlow.Execution.Engine;

/// <summary>What an approval step asks through its request port (travels in engine checkpoints).</summary>
/// <param name="StepId">The approval step.</param>
/// <param name="Message">The question, rendered.</param>
/// <param name="Show">What to review, rendered.</param>
/// <param name="RequestedAt">When the run parked.</param>
/// <param name="Deadline">When the timeout decides, if any.</param>
/// <param name="OnTimeout">reject, approve or fail.</param>
/// <param name="Iteration">The loop iteration, inside a loop.</param>
/// <param name="Tool">For a tool call that needs approval: the tool's name (<see cref="StepId"/> is the agent step); null for an approval step.</param>
/// <param name="Arguments">For a tool call: its schema-checked arguments as compact JSON.</param>
public sealed record ApprovalRequest(
    string StepId, string Message, string? Show, DateTimeOffset RequestedAt, DateTimeOffset? Deadline, string OnTimeout, int? Iteration,
    string? Tool = null, string? Arguments = null)
{
    /// <summary>The request as the run record shows it while waiting.</summary>
    public WaitingApproval ToWaiting() => new(StepId, Message, Show, RequestedAt, Deadline, OnTimeout, Iteration, Tool, Arguments);
}

/// <summary>The answer to an approval request.</summary>
/// <param name="Approved">Whether the run goes on as approved.</param>
/// <param name="DecidedBy">Who decided; <c>timeout</c> when the timeout did.</param>
/// <param name="DecidedAt">When.</param>
/// <param name="Comment">The approver's comment.</param>
/// <param name="Fail">The timeout fails the run (<c>on_timeout: fail</c>).</param>
public sealed record ApprovalDecision(bool Approved, string DecidedBy, DateTimeOffset DecidedAt, string? Comment, bool Fail = false)
{
    /// <summary>Who <see cref="DecidedBy"/> names when a timeout decided.</summary>
    public const string Timeout = "timeout";

    /// <summary>The decision a timeout makes for <paramref name="request"/>.</summary>
    public static ApprovalDecision OnTimeoutOf(ApprovalRequest request, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(request);
        return new(request.OnTimeout == "approve", Timeout, now, $"no decision before {request.Deadline:u}; on_timeout: {request.OnTimeout}", request.OnTimeout == "fail");
    }
}

/// <summary>
/// Opens an approval: renders the question, keeps the flow state in the engine's shared state (so it is in the
/// checkpoint) and sends the request to the step's port, where the run parks.
/// </summary>
internal sealed class ApprovalAskExecutor(ApprovalStepDefinition step, string? loopId, RunContext run)
    : Executor<FlowState, ApprovalRequest>(step.Id)
{
    public const string StateKey = "flow";

    private readonly LiquidTemplate _message = LiquidTemplate.Compile(step.Message);
    private readonly LiquidTemplate? _show = step.Show is null ? null : LiquidTemplate.Compile(step.Show);

    public static string PortId(string stepId) => stepId + "#port";

    public override async ValueTask<ApprovalRequest> HandleAsync(FlowState message, IWorkflowContext context, CancellationToken cancellationToken = default)
    {
        var scope = run.Scope(message, loopId);
        var now = run.Time.GetUtcNow();
        var request = new ApprovalRequest(
            step.Id,
            await _message.RenderAsync(scope, cancellationToken).ConfigureAwait(false),
            _show is null ? null : await _show.RenderAsync(scope, cancellationToken).ConfigureAwait(false),
            now,
            step.Timeout is { } timeout ? now + timeout : null,
            step.OnTimeout.ToString().ToLowerInvariant(),
            RunContext.IterationOf(message, loopId));
        await context.QueueStateUpdateAsync(StateKey, message, step.Id, cancellationToken).ConfigureAwait(false);
        var record = await run.OpenCompositeAsync(context, step.Id, "approval", request.Iteration, cancellationToken).ConfigureAwait(false);
        record.Approval = new ApprovalRecord { Message = request.Message, Show = request.Show, Deadline = request.Deadline };
        await RunContext.EmitAsync(context, new ApprovalRequestedEvent(run.RunId, request.ToWaiting()), cancellationToken).ConfigureAwait(false);
        return request;
    }
}

/// <summary>
/// Receives the decision (possibly in another process, days later): records who decided, when and why, and
/// continues the flow with <c>steps.ID.approved</c>, <c>comment</c> and <c>decided_by</c> set.
/// </summary>
internal sealed class ApprovalDecidedExecutor(ApprovalStepDefinition step, RunContext run)
    : Executor<ApprovalDecision, FlowState>(step.Id + "#decided")
{
    public override async ValueTask<FlowState> HandleAsync(ApprovalDecision decision, IWorkflowContext context, CancellationToken cancellationToken = default)
    {
        var state = await context.ReadStateAsync<FlowState>(ApprovalAskExecutor.StateKey, step.Id, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"approval '{step.Id}' lost its flow state (the checkpoint does not hold it)");
        var verdict = decision.Approved ? "approved" : "rejected";
        var output = StepOutput.OfText(verdict) with
        {
            Fields = new Dictionary<string, object?>(StringComparer.Ordinal)
            {
                ["approved"] = decision.Approved,
                ["comment"] = decision.Comment,
                ["decided_by"] = decision.DecidedBy,
            },
        };
        var error = decision.Fail ? $"approval timed out ({decision.Comment})" : null;
        await run.CloseCompositeAsync(context, step.Id, output, $"{verdict} by {decision.DecidedBy}", error, cancellationToken, record =>
        {
            record.Approval ??= new ApprovalRecord { Message = string.Empty };
            record.Approval.Decision = decision.Fail ? "timed out" : verdict;
            record.Approval.DecidedBy = decision.DecidedBy;
            record.Approval.DecidedAt = decision.DecidedAt;
            record.Approval.Comment = decision.Comment;
        }).ConfigureAwait(false);
        if (decision.Fail)
        {
            throw new StepFailedException(step.Id, error + "; decide sooner, raise the timeout, or set on_timeout: reject");
        }

        return state.WithOutput(step.Id, output);
    }
}
