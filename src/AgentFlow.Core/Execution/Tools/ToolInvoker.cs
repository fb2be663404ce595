using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentFlow.Execution.Engine;
using Json.Schema;
using Microsoft.Agents.AI.Workflows;
using Microsoft.Extensions.AI;

namespace AgentFlow.Execution.Tools;

/// <summary>
/// Runs each tool call of one agent step attempt for Microsoft.Extensions.AI's <see cref="FunctionInvokingChatClient"/>
/// (its <see cref="FunctionInvokingChatClient.FunctionInvoker"/>): checks the arguments against the tool's JSON Schema
/// (invalid ones are not executed: the model gets the error), enforces <c>max_tool_calls</c>, reuses recorded results
/// in replays, and records every call in the step's record with live events.
/// </summary>
internal sealed class ToolInvoker
{
    private static readonly AsyncLocal<ToolCallRecord?> Current = new();
    private static readonly ConcurrentDictionary<string, JsonSchema?> Schemas = new(StringComparer.Ordinal);

    private readonly Dictionary<string, StepTool> _tools;
    private readonly StepRecord _record;
    private readonly RunContext _run;
    private readonly IWorkflowContext _context;
    private readonly int _maxCalls;
    private readonly List<ToolCallRecord>? _recorded;
    private readonly string? _replayedFrom;
    private int _calls;

    public ToolInvoker(IReadOnlyList<StepTool> tools, StepRecord record, RunContext run, IWorkflowContext context, int maxCalls, RunReplay? replay)
    {
        _tools = tools.ToDictionary(t => t.Function.Name, StringComparer.Ordinal);
        _record = record;
        _run = run;
        _context = context;
        _maxCalls = maxCalls;

        // An attempt continued after a tool decision: the calls it made before it parked count (approved ones when they run).
        _calls = record.ToolCalls?.Count(c => c.Status != "approved") ?? 0;
        if (replay is not null)
        {
            // A replay never calls tools: recorded results are reused in order, and a call that was not recorded is refused.
            _recorded = replay.ToolCalls.TryGetValue(new ReplayKey(record.Id, record.Iteration), out var calls) ? [.. calls] : [];
            _replayedFrom = replay.FromRunId;
        }
    }

    /// <summary>The call being made on this async flow (a workflow tool notes its child run here).</summary>
    public static ToolCallRecord? CurrentCall => Current.Value;

    /// <summary>Why the step must fail (a tool died mid-call); null while calls go well.</summary>
    public string? Fatal { get; private set; }

    public async ValueTask<object?> InvokeAsync(FunctionInvocationContext invocation, CancellationToken cancellationToken)
    {
        var function = invocation.Function;
        var arguments = ToolArguments.ToJson(invocation.Arguments);
        var call = Approved(invocation.CallContent.CallId);
        if (call is null)
        {
            call = new ToolCallRecord
            {
                Name = function.Name,
                Tool = _tools.TryGetValue(function.Name, out var tool) ? tool.Tool.Name : null,
                CallId = invocation.CallContent.CallId,
                Arguments = arguments.ToJsonString(),
                Started = _run.Time.GetUtcNow(),
            };
            lock (_record)
            {
                (_record.ToolCalls ??= []).Add(call);
            }
        }
        else
        {
            // A call a person approved: its record (made when the run parked, holding the decision) goes on.
            call.Status = "running";
        }

        var started = _run.Time.GetTimestamp();

        await RunContext.EmitAsync(_context, new ToolCallStartedEvent(_run.RunId, _record.Id, call), cancellationToken).ConfigureAwait(false);
        string result;
        try
        {
            result = await CallAsync(invocation, call, arguments, cancellationToken).ConfigureAwait(false);
        }
        catch (ToolUnavailableException ex)
        {
            Fatal = $"tool '{call.Tool ?? call.Name}' failed: {ex.Message}";
            invocation.Terminate = true;
            result = Refuse(call, ex.Message, "failed");
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            // The model is told and may try again or answer without it; the step goes on.
            result = Refuse(call, Describe(ex), "failed");
        }

        call.LatencyMs = _run.Time.GetElapsedTime(started).TotalMilliseconds;
        if (call.Status == "running")
        {
            call.Status = "succeeded";
        }

        call.SetResult(result);
        await RunContext.EmitAsync(_context, new ToolCallFinishedEvent(_run.RunId, _record.Id, call), cancellationToken).ConfigureAwait(false);
        return result;
    }

    // The record of an approved call, made when the run parked before it.
    private ToolCallRecord? Approved(string callId)
    {
        lock (_record)
        {
            return _record.ToolCalls?.LastOrDefault(c => c.CallId == callId && c.Status == "approved");
        }
    }

    private async Task<string> CallAsync(FunctionInvocationContext invocation, ToolCallRecord call, JsonObject arguments, CancellationToken cancellationToken)
    {
        if (Interlocked.Increment(ref _calls) > _maxCalls)
        {
            return Refuse(call, $"the step allows at most {_maxCalls} tool calls (max_tool_calls); answer with what you have", "refused");
        }

        if (Validate(invocation.Function, arguments) is { } invalid)
        {
            return Refuse(call, $"the arguments do not match the tool's parameters: {invalid}; nothing was run", "refused");
        }

        if (_recorded is not null)
        {
            var match = _recorded.FirstOrDefault(r => r.Name == call.Name && r.Arguments == call.Arguments) ?? _recorded.FirstOrDefault(r => r.Name == call.Name);
            if (match is null)
            {
                return Refuse(call, $"replay of run {_replayedFrom}: that run made no such call of '{call.Name}' here, and replays do not call tools", "refused");
            }

            _recorded.Remove(match);
            call.ReplayedFrom = _replayedFrom;
            call.ChildRunId = match.ChildRunId;
            call.Approval ??= match.Approval; // the recorded decision stands: a replay never asks again
            if (match.Error is not null)
            {
                return Refuse(call, match.Error, match.Status);
            }

            // A retrieval's chunks are recorded whole: the replay gets the full result even where the record cut it.
            if (match.Retrieval is { } retrieval)
            {
                call.Retrieval = retrieval;
                return RetrieveToolProvider.Result(retrieval.Chunks);
            }

            // The full result when the record kept it all; else the recorded part (the hash in the record says which).
            return match.Result ?? string.Empty;
        }

        Current.Value = call;
        try
        {
            return Text(await invocation.Function.InvokeAsync(invocation.Arguments, cancellationToken).ConfigureAwait(false));
        }
        finally
        {
            Current.Value = null;
        }
    }

    private static string Refuse(ToolCallRecord call, string error, string status)
    {
        call.Status = status;
        call.Error = error;
        return $"Error: {error}";
    }

    // Against the schema the model was shown (a declared tool's parameters, or an MCP server's or plugin's own schema).
    internal static string? Validate(AIFunction function, JsonObject arguments)
    {
        var schemaText = function.JsonSchema.ValueKind == JsonValueKind.Object ? function.JsonSchema.GetRawText() : null;
        if (schemaText is null || Schemas.GetOrAdd(schemaText, Build) is not { } schema)
        {
            return null;
        }

        var result = schema.Evaluate(JsonSerializer.SerializeToElement(arguments), new EvaluationOptions { OutputFormat = OutputFormat.List });
        if (result.IsValid)
        {
            return null;
        }

        return result.Details?.Where(d => d.Errors is { Count: > 0 })
            .Select(d => $"{(d.InstanceLocation.ToString() is { Length: > 0 } where ? where : "/")}: {d.Errors!.First().Value}")
            .FirstOrDefault() ?? "invalid";
    }

    private static JsonSchema? Build(string text)
    {
        try
        {
            return JsonSchema.FromText(text);
        }
        catch (Exception ex) when (ex is JsonException or JsonSchemaException or ArgumentException or InvalidOperationException or FormatException)
        {
            return null; // a schema we cannot read is the tool's own business: its server checks the arguments
        }
    }

    private static string Text(object? value) => value switch
    {
        null => string.Empty,
        string s => s,
        JsonElement { ValueKind: JsonValueKind.String } e => e.GetString() ?? string.Empty,
        JsonElement e => e.GetRawText(),
        JsonNode n => n.ToJsonString(),
        _ => JsonSerializer.Serialize(value, AIJsonUtilities.DefaultOptions),
    };

    private static string Describe(Exception ex) => ex is AggregateException { InnerExceptions: [var single] } ? Describe(single) : ex.Message;
}
