using System.Text.Json;
using System.Text.Json.Nodes;
using AgentFlow.Definitions;
using Microsoft.Agents.AI.Workflows;
using Microsoft.Extensions.AI;

namespace AgentFlow.Execution.Engine;

/// <summary>
/// Where an agent step stopped because its model called a tool with <c>approve: true</c>: the flow state, the model
/// conversation so far (Microsoft.Extensions.AI messages as JSON, the approval requests of the last answer
/// included) and the calls of that answer with the decisions made so far. Kept in the engine's shared state, so it is
/// in the checkpoint and another process continues the step from it.
/// </summary>
/// <param name="Flow">The flow state the step was given.</param>
/// <param name="Model">The registry model that answered (a fallback model keeps answering after the decision).</param>
/// <param name="Attempt">The attempt that parked; its record goes on after the decision.</param>
/// <param name="Iteration">The loop iteration, inside a loop.</param>
/// <param name="Conversation">Every message so far, serialized with <c>AIJsonUtilities.DefaultOptions</c>.</param>
/// <param name="Calls">The calls of the model's last answer, in order.</param>
/// <param name="InputTokens">Tokens the attempt had used when it parked.</param>
/// <param name="OutputTokens">Tokens the attempt had generated when it parked.</param>
internal sealed record ToolPark(
    FlowState Flow, string Model, int Attempt, int? Iteration, string Conversation, IReadOnlyList<PendingToolCall> Calls, int? InputTokens, int? OutputTokens)
{
    public const string StateKey = "tool-park";

    /// <summary>The first call still waiting for a person, or null when every call is decided.</summary>
    public PendingToolCall? Undecided => Calls.FirstOrDefault(c => c.Approved is null);
}

/// <summary>One call of a parked answer.</summary>
/// <param name="RequestId">The approval request's id in the conversation.</param>
/// <param name="CallId">The model's call id.</param>
/// <param name="Name">The function called.</param>
/// <param name="Arguments">Its arguments as compact JSON.</param>
/// <param name="Approved">The decision: null while waiting; set at once for calls that need none (or whose arguments are refused).</param>
/// <param name="Reason">What the model is told on a refusal.</param>
/// <param name="DecidedBy">Who decided; null for calls no person decided.</param>
/// <param name="DecidedAt">When.</param>
/// <param name="Comment">The approver's comment.</param>
internal sealed record PendingToolCall(
    string RequestId, string CallId, string Name, string Arguments, bool? Approved = null, string? Reason = null,
    string? DecidedBy = null, DateTimeOffset? DecidedAt = null, string? Comment = null);

/// <summary>Routing marks of an agent step whose tools need approval.</summary>
internal static class ToolApprovalRoutes
{
    /// <summary>The step parks: the flow goes to the ask executor.</summary>
    public static string Park(string stepId) => stepId + "#tool-park";

    /// <summary>A decision came: the flow goes back into the step.</summary>
    public static string Continue(string stepId) => stepId + "#tool-continue";
}

/// <summary>
/// Asks for the first undecided call of a parked agent step: the request names the tool and its (schema-checked)
/// arguments, and goes to the step's port, where the run parks like at an approval step.
/// </summary>
internal sealed class ToolApprovalAskExecutor(AgentStepDefinition step, RunContext run)
    : Executor<FlowState, ApprovalRequest>(step.Id + "#tool-ask")
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public override async ValueTask<ApprovalRequest> HandleAsync(FlowState message, IWorkflowContext context, CancellationToken cancellationToken = default)
    {
        var park = await context.ReadStateAsync<ToolPark>(ToolPark.StateKey, step.Id, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"step '{step.Id}' parked for a tool approval without its state (the checkpoint does not hold it)");
        var call = park.Undecided ?? throw new InvalidOperationException($"step '{step.Id}' parked with every tool call decided");
        var request = new ApprovalRequest(
            step.Id,
            $"Allow step '{step.Id}' to call tool '{call.Name}' with these arguments?",
            Pretty(call.Arguments),
            run.Time.GetUtcNow(),
            Deadline: null,
            OnTimeout: "reject",
            park.Iteration,
            call.Name,
            call.Arguments);
        await RunContext.EmitAsync(context, new ApprovalRequestedEvent(run.RunId, request.ToWaiting()), cancellationToken).ConfigureAwait(false);
        return request;
    }

    private static string Pretty(string json)
    {
        try
        {
            return JsonNode.Parse(json)?.ToJsonString(Indented) ?? json;
        }
        catch (JsonException)
        {
            return json;
        }
    }
}

/// <summary>
/// Receives the decision on a parked tool call (possibly in another process, days later), keeps it with the parked
/// state and sends the flow back into the agent step, which runs (or refuses) the call and lets the model go on.
/// </summary>
internal sealed class ToolApprovalDecidedExecutor(AgentStepDefinition step)
    : Executor<ApprovalDecision, FlowState>(step.Id + "#tool-decided")
{
    public override async ValueTask<FlowState> HandleAsync(ApprovalDecision decision, IWorkflowContext context, CancellationToken cancellationToken = default)
    {
        var park = await context.ReadStateAsync<ToolPark>(ToolPark.StateKey, step.Id, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"step '{step.Id}' got a tool decision without its parked state (the checkpoint does not hold it)");
        var call = park.Undecided ?? throw new InvalidOperationException($"step '{step.Id}' got a tool decision with every call decided");
        var reason = decision.Approved
            ? null
            : $"a person ({decision.DecidedBy}) refused this call of '{call.Name}'; it was not run" + (decision.Comment is { Length: > 0 } c ? $". Their comment: {c}" : string.Empty);
        var decided = call with { Approved = decision.Approved, Reason = reason, DecidedBy = decision.DecidedBy, DecidedAt = decision.DecidedAt, Comment = decision.Comment };
        var updated = park with { Calls = [.. park.Calls.Select(c => c.RequestId == call.RequestId ? decided : c)] };
        await context.QueueStateUpdateAsync(ToolPark.StateKey, updated, step.Id, cancellationToken).ConfigureAwait(false);
        return park.Flow with { Route = ToolApprovalRoutes.Continue(step.Id) };
    }
}

/// <summary>The exit of an agent step whose tools need approval: its answer goes on to the next step.</summary>
internal sealed class ToolApprovalExitExecutor(AgentStepDefinition step)
    : Executor<FlowState, FlowState>(step.Id + "#done")
{
    public override ValueTask<FlowState> HandleAsync(FlowState message, IWorkflowContext context, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(message);
}

/// <summary>A parked model conversation as text (Microsoft.Extensions.AI's own JSON form of its messages).</summary>
internal static class ToolConversation
{
    public static string Write(List<ChatMessage> messages) => JsonSerializer.Serialize(messages, AIJsonUtilities.DefaultOptions);

    public static List<ChatMessage> Read(string json) =>
        JsonSerializer.Deserialize<List<ChatMessage>>(json, AIJsonUtilities.DefaultOptions) ?? [];
}
