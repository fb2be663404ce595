using System.Text.Json;
using System.Text.Json.Nodes;
using AgentFlow.Execution;

namespace AgentFlow.Server;

/// <summary>
/// The JSON of a run record (snake_case, stable field names): what <c>GET /api/runs/{id}</c> answers and what
/// <c>agentflow run --json</c> prints, one shape for both.
/// </summary>
public static class RunResultJson
{
    // Relaxed escaping: the result is read by people and programs, not embedded in HTML.
    private static readonly JsonSerializerOptions Options = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The run as indented JSON text.</summary>
    public static string Serialize(RunRecord record) => ToJson(record).ToJsonString(Options);

    /// <summary>The run as a JSON object (what <see cref="Serialize"/> prints).</summary>
    public static JsonObject ToJson(RunRecord record)
    {
        var steps = new JsonArray();
        foreach (var step in record.Steps)
        {
            steps.Add(Step(step));
        }

        var outputs = new JsonObject();
        foreach (var (name, value) in record.Outputs)
        {
            outputs[name] = value;
        }

        var bindings = new JsonObject();
        foreach (var (alias, model) in record.Bindings)
        {
            bindings[alias] = model;
        }

        var root = new JsonObject
        {
            ["run_id"] = record.RunId,
            ["workflow"] = record.Workflow,
            ["workflow_version"] = record.WorkflowVersion,
            ["definition_sha256"] = record.DefinitionSha256,
            ["status"] = Lower(record.Status.ToString()),
            ["started"] = record.Started.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
            ["duration_ms"] = record.DurationMs is { } d ? Math.Round(d, 3) : null,
            ["bindings"] = bindings,
            ["conversation_id"] = record.ConversationId,
            ["parent_run"] = record.ParentRunId,
            ["input_tokens"] = record.InputTokens,
            ["output_tokens"] = record.OutputTokens,
            ["outputs"] = outputs,
            ["steps"] = steps,
            ["error"] = record.Error is null ? null : new JsonObject { ["step"] = record.Error.StepId, ["message"] = record.Error.Message },
            ["waiting"] = record.Waiting is not { } waiting ? null : new JsonObject
            {
                ["step"] = waiting.StepId,
                ["message"] = waiting.Message,
                ["show"] = waiting.Show,
                ["requested_at"] = waiting.RequestedAt.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
                ["deadline"] = waiting.Deadline?.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
                ["on_timeout"] = waiting.OnTimeout,
                ["tool"] = waiting.Tool,
                ["arguments"] = Arguments(waiting.Arguments),
            },
        };
        return root;
    }

    /// <summary>
    /// A run waiting for a decision, as <c>approvals list --json</c> and <c>GET /api/approvals</c> show it: an approval
    /// step, or a tool call (<c>tool</c> and <c>arguments</c> set; <c>step</c> is the agent step to decide at).
    /// </summary>
    public static JsonObject Approval(RunRecord record, WaitingApproval waiting) => new()
    {
        ["run_id"] = record.RunId,
        ["workflow"] = record.Workflow,
        ["step"] = waiting.StepId,
        ["message"] = waiting.Message,
        ["show"] = waiting.Show,
        ["requested_at"] = waiting.RequestedAt.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
        ["deadline"] = waiting.Deadline?.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
        ["on_timeout"] = waiting.OnTimeout,
        ["tool"] = waiting.Tool,
        ["arguments"] = Arguments(waiting.Arguments),
    };

    // A waiting tool call's arguments as a JSON object (they were checked against the tool's schema); null for approval steps.
    private static JsonNode? Arguments(string? json)
    {
        if (json is null)
        {
            return null;
        }

        try
        {
            return JsonNode.Parse(json);
        }
        catch (JsonException)
        {
            return json;
        }
    }

    /// <summary>One step attempt as the run JSON shows it.</summary>
    public static JsonObject Step(StepRecord step) => new JsonObject
    {
        ["id"] = step.Id,
        ["kind"] = step.Kind,
        ["model"] = step.Model,
        ["model_alias"] = step.ModelAlias,
        ["worker"] = step.Worker,
        ["attempt"] = step.Attempt,
        ["iteration"] = step.Iteration,
        ["status"] = Lower(step.Status.ToString()),
        ["started"] = step.Started.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
        ["latency_ms"] = Math.Round(step.LatencyMs, 3),
        ["input_tokens"] = step.InputTokens,
        ["output_tokens"] = step.OutputTokens,
        ["memory_messages"] = step.MemoryMessages,
        ["cost_usd"] = step.CostUsd,
        ["finish_reason"] = step.FinishReason,
        ["system"] = step.System,
        ["prompt"] = step.Prompt,
        ["detail"] = step.Detail,
        ["output"] = step.Output,
        ["error"] = step.Error,
        ["approval"] = step.Approval is not { } approval ? null : new JsonObject
        {
            ["message"] = approval.Message,
            ["show"] = approval.Show,
            ["deadline"] = approval.Deadline?.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
            ["decision"] = approval.Decision,
            ["decided_by"] = approval.DecidedBy,
            ["decided_at"] = approval.DecidedAt?.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
            ["comment"] = approval.Comment,
        },
        ["child_run"] = step.ChildRunId,
        ["tool_calls"] = step.ToolCalls is null ? null : ToolCalls(step),
        ["retrieval"] = step.Retrieval is not { } retrieval ? null : new JsonObject
        {
            ["collection"] = retrieval.Collection,
            ["query"] = retrieval.Query,
            ["top_k"] = retrieval.TopK,
            ["min_score"] = retrieval.MinScore,
            ["chunks"] = new JsonArray([.. retrieval.Chunks.Select(c => (JsonNode)new JsonObject
            {
                ["id"] = c.Id,
                ["source"] = c.Source,
                ["heading"] = c.Heading,
                ["score"] = Math.Round(c.Score, 6),
                ["text"] = c.Text,
            })]),
        },
    };

    /// <summary>A step attempt's tool calls, as the run JSON and the transcript show them.</summary>
    public static JsonArray ToolCalls(StepRecord step) => Tracking.MLflow.Recording.RunTranscript.ToolCalls(step);

    private static string Lower(string value) => value.ToLowerInvariant();
}
