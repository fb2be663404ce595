using System.Text.Json;
using System.Text.Json.Nodes;
using AgentFlow.Definitions;
using Microsoft.Extensions.AI;

namespace AgentFlow.Execution.Tools;

/// <summary>
/// Opens <c>workflow:</c> tools: each call runs the file as a child run (the arguments are its inputs) and answers its
/// outputs as a JSON object. The child's run id goes in the call's record; the child's record names the parent run.
/// </summary>
/// <param name="runChild">Runs a child workflow for a parent run and returns its record.</param>
internal sealed class WorkflowToolProvider(Func<ChildRunRequest, CancellationToken, Task<RunRecord>> runChild) : IToolProvider
{
    public string Kind => "workflow";

    public Task<ToolHandle> OpenAsync(ToolDefinition tool, ToolOpenContext context, CancellationToken cancellationToken)
    {
        var source = (WorkflowToolSource)tool.Source;
        var path = context.Resolve(source.File);
        var loaded = WorkflowLoader.Load(path);
        if (loaded.Definition is not { } child)
        {
            throw new ToolUnavailableException($"tool '{tool.Name}': workflow {path} is invalid:{Environment.NewLine}{string.Join(Environment.NewLine, loaded.Diagnostics.Where(d => d.Severity == Diagnostics.DiagnosticSeverity.Error))}");
        }

        return Task.FromResult(new ToolHandle([new WorkflowFunction(tool, child, context, runChild)]));
    }

    private sealed class WorkflowFunction(ToolDefinition tool, WorkflowDefinition child, ToolOpenContext context, Func<ChildRunRequest, CancellationToken, Task<RunRecord>> runChild) : AIFunction
    {
        public override string Name => tool.Name;

        public override string Description => tool.Description ?? child.Description ?? string.Empty;

        public override JsonElement JsonSchema { get; } = JsonSerializer.SerializeToElement(tool.Parameters ?? new JsonObject { ["type"] = "object" });

        protected override async ValueTask<object?> InvokeCoreAsync(AIFunctionArguments arguments, CancellationToken cancellationToken)
        {
            var inputs = ToolArguments.ToJson(arguments)
                .Where(p => p.Value is not null)
                .ToDictionary(p => p.Key, p => p.Value is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : p.Value!.ToJsonString(), StringComparer.Ordinal);
            var record = await runChild(new ChildRunRequest(child, inputs, context.RunId, tool.Name), cancellationToken).ConfigureAwait(false);
            ToolInvoker.CurrentCall?.ChildRunId = record.RunId;
            if (record.Status != RunStatus.Succeeded)
            {
                var why = record.Error is { } error ? (error.StepId is null ? error.Message : $"step '{error.StepId}': {error.Message}") : record.Status.ToString().ToLowerInvariant();
                throw new InvalidOperationException($"workflow '{child.Name}' (run {record.RunId}) did not succeed: {why}");
            }

            var outputs = new JsonObject();
            foreach (var (name, value) in record.Outputs)
            {
                outputs[name] = value;
            }

            return outputs.ToJsonString();
        }
    }
}

/// <summary>A child run a workflow tool or a workflow step starts (one place runs both: <c>WorkflowRunner.RunChildAsync</c>).</summary>
/// <param name="Definition">The child workflow.</param>
/// <param name="Inputs">Its inputs, as text.</param>
/// <param name="ParentRunId">The run whose step called the tool.</param>
/// <param name="Tool">The tool's name (a workflow step's id).</param>
internal sealed record ChildRunRequest(WorkflowDefinition Definition, IReadOnlyDictionary<string, string> Inputs, string ParentRunId, string Tool)
{
    /// <summary>
    /// The child run an earlier attempt of the same step execution started (a resumed parent): reused when it
    /// succeeded, continued when it was interrupted; null (or a failed one) starts a new child run.
    /// </summary>
    public string? PriorRunId { get; init; }

    /// <summary>Called with the child's run id before it runs (a workflow step records it first, so a crash keeps it).</summary>
    public Func<string, ValueTask>? OnStarted { get; init; }

    /// <summary>The parent's host settings, kept with a durable child so it can be continued alone.</summary>
    public IReadOnlyDictionary<string, string> Host { get; init; } = new Dictionary<string, string>();
}
