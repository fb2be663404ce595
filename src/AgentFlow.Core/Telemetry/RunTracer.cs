using System.Collections.Concurrent;
using System.Diagnostics;
using AgentFlow.Execution;

namespace AgentFlow.Telemetry;

/// <summary>
/// Turns a run's events into OpenTelemetry spans and metrics: one trace per run with a root span, a child span per
/// step attempt, and for agent steps a <c>chat {model}</c> span following the GenAI semantic conventions
/// (<c>gen_ai.operation.name</c>, <c>gen_ai.request.model</c>, <c>gen_ai.usage.*</c>,
/// <c>gen_ai.response.finish_reasons</c>). Prompts and answers are recorded only when
/// <see cref="AgentFlowTelemetry.CaptureContentVariable"/> is <c>true</c>. Events arrive on the run's event loop in
/// order, so span start and end times are the steps' own. Without a listener on <see cref="AgentFlowTelemetry.Source"/>
/// no span is created.
/// </summary>
public sealed class RunTracer(bool captureContent = false) : IRunObserver
{
    private readonly ConcurrentDictionary<(string Id, int? Iteration, int Attempt), Activity> _steps = new();
    private Activity? _run;
    private string _workflow = string.Empty;

    /// <summary>Whether prompt and answer text go into spans (<see cref="AgentFlowTelemetry.CaptureContentVariable"/>).</summary>
    public bool CaptureContent { get; } = captureContent;

    /// <summary>A tracer whose content opt-in is read from <paramref name="environment"/>.</summary>
    public static RunTracer FromEnvironment(IReadOnlyDictionary<string, string> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        return new(environment.TryGetValue(AgentFlowTelemetry.CaptureContentVariable, out var value) && string.Equals(value.Trim(), "true", StringComparison.OrdinalIgnoreCase));
    }

    /// <inheritdoc />
    public void OnEvent(RunEvent runEvent)
    {
        switch (runEvent)
        {
            case RunStartedEvent started:
                StartRun(started.Record, resumed: false);
                break;
            case RunResumedEvent resumed:
                StartRun(resumed.Record, resumed: true);
                break;
            case StepStartedEvent step:
                StartStep(step.Step);
                break;
            case StepFinishedEvent step:
                EndStep(step.Step);
                break;
            case ApprovalRequestedEvent waiting:
                AgentFlowTelemetry.ApprovalsWaiting.Add(1, new KeyValuePair<string, object?>("agentflow.workflow", _workflow));
                _run?.AddEvent(new ActivityEvent("agentflow.approval.requested", tags: new ActivityTagsCollection { ["agentflow.step.id"] = waiting.Waiting.StepId }));
                break;
            case RunFinishedEvent finished:
                EndRun(finished.Record);
                break;
        }
    }

    private void StartRun(RunRecord record, bool resumed)
    {
        _workflow = record.Workflow;
        AgentFlowTelemetry.RunsStarted.Add(1, new KeyValuePair<string, object?>("agentflow.workflow", record.Workflow));
        // A run is always a root: it belongs to no caller's trace (a resumed run starts a new trace of its own).
        var previous = Activity.Current;
        Activity.Current = null;
        try
        {
            _run = AgentFlowTelemetry.Source.StartActivity(
                $"agentflow.run {record.Workflow}", ActivityKind.Internal, parentContext: default, startTime: resumed ? DateTimeOffset.UtcNow : record.Started);
        }
        finally
        {
            Activity.Current = previous;
        }

        if (_run is null)
        {
            return;
        }

        _run.SetTag("agentflow.run_id", record.RunId);
        _run.SetTag("agentflow.workflow", record.Workflow);
        _run.SetTag("agentflow.workflow.version", record.WorkflowVersion);
        _run.SetTag("agentflow.definition_sha256", record.DefinitionSha256);
        _run.SetTag("agentflow.resumed", resumed);
        foreach (var (alias, model) in record.Bindings)
        {
            _run.SetTag($"agentflow.binding.{alias}", model);
        }
    }

    private void StartStep(StepRecord step)
    {
        if (_run is null)
        {
            return;
        }

        var name = step.Kind == "agent" ? $"agentflow.step {step.Id}" : $"agentflow.{step.Kind} {step.Id}";
        var activity = AgentFlowTelemetry.Source.StartActivity(name, ActivityKind.Internal, _run.Context, startTime: step.Started);
        if (activity is null)
        {
            return;
        }

        activity.SetTag("agentflow.run_id", _run.GetTagItem("agentflow.run_id"));
        activity.SetTag("agentflow.step.id", step.Id);
        activity.SetTag("agentflow.step.kind", step.Kind);
        activity.SetTag("agentflow.step.attempt", step.Attempt);
        if (step.Iteration is { } iteration)
        {
            activity.SetTag("agentflow.step.iteration", iteration);
        }

        _steps[(step.Id, step.Iteration, step.Attempt)] = activity;
    }

    private void EndStep(StepRecord step)
    {
        var failed = step.Status == StepStatus.Failed;
        KeyValuePair<string, object?>[] tags =
        [
            new("agentflow.step.kind", step.Kind),
            new("gen_ai.request.model", step.Model ?? string.Empty),
            new("agentflow.step.status", failed ? "failed" : "succeeded"),
        ];
        AgentFlowTelemetry.StepDuration.Record(step.LatencyMs / 1000.0, tags);
        if (step.Attempt > 1)
        {
            AgentFlowTelemetry.StepRetries.Add(1, tags[0], tags[1]);
        }

        if (step.Model is { } model)
        {
            RecordUsage(step, model);
        }

        if (!_steps.TryRemove((step.Id, step.Iteration, step.Attempt), out var activity))
        {
            return;
        }

        var end = step.Started + TimeSpan.FromMilliseconds(Math.Max(0, step.LatencyMs));
        if (step.Worker is { } worker)
        {
            activity.SetTag("agentflow.worker", worker);
        }

        if (step.Kind == "agent" && step.Model is not null)
        {
            ModelCall(activity, step, end);
        }

        if (failed)
        {
            Fail(activity, step.Error);
        }

        activity.SetEndTime(end.UtcDateTime);
        activity.Dispose();
    }

    // The model call inside an agent step, as the GenAI semantic conventions name it: "chat {model}".
    private void ModelCall(Activity step, StepRecord record, DateTimeOffset end)
    {
        using var call = AgentFlowTelemetry.Source.StartActivity($"chat {record.Model}", ActivityKind.Client, step.Context, startTime: record.Started);
        if (call is null)
        {
            return;
        }

        call.SetTag("gen_ai.operation.name", "chat");
        call.SetTag("gen_ai.request.model", record.Model);
        call.SetTag("gen_ai.response.model", record.Model);
        call.SetTag("agentflow.model_alias", record.ModelAlias);
        if (record.InputTokens is { } input)
        {
            call.SetTag("gen_ai.usage.input_tokens", input);
        }

        if (record.OutputTokens is { } output)
        {
            call.SetTag("gen_ai.usage.output_tokens", output);
        }

        if (record.FinishReason is { } reason)
        {
            call.SetTag("gen_ai.response.finish_reasons", new[] { reason });
        }

        if (CaptureContent)
        {
            call.SetTag("gen_ai.input.messages", Messages(record.System, record.Prompt));
            call.SetTag("gen_ai.output.messages", record.Output is null ? null : $"[{{\"role\":\"assistant\",\"parts\":[{{\"type\":\"text\",\"content\":{Json(record.Output)}}}]}}]");
        }

        if (record.Status == StepStatus.Failed)
        {
            Fail(call, record.Error);
        }

        call.SetEndTime(end.UtcDateTime);
    }

    private static void RecordUsage(StepRecord step, string model)
    {
        if (step.InputTokens is { } input)
        {
            AgentFlowTelemetry.TokenUsage.Record(input, new("gen_ai.request.model", model), new("gen_ai.token.type", "input"), new("gen_ai.operation.name", "chat"));
        }

        if (step.OutputTokens is { } output)
        {
            AgentFlowTelemetry.TokenUsage.Record(output, new("gen_ai.request.model", model), new("gen_ai.token.type", "output"), new("gen_ai.operation.name", "chat"));
        }

        if (step.CostUsd is { } cost)
        {
            AgentFlowTelemetry.Cost.Add(cost, new KeyValuePair<string, object?>("gen_ai.request.model", model));
        }
    }

    private void EndRun(RunRecord record)
    {
        var status = record.Waiting is not null ? "waiting" : record.Status.ToString().ToLowerInvariant();
        AgentFlowTelemetry.RunsFinished.Add(1, new("agentflow.workflow", record.Workflow), new("agentflow.status", status));
        foreach (var open in _steps.Values)
        {
            // A step still open when its run ends was interrupted (the run parked, was cancelled or failed around it).
            open.SetStatus(ActivityStatusCode.Error, "interrupted");
            open.Dispose();
        }

        _steps.Clear();
        if (_run is null)
        {
            return;
        }

        _run.SetTag("agentflow.status", status);
        if (record.Error is { } error)
        {
            _run.SetTag("agentflow.failed_step", error.StepId);
            Fail(_run, error.Message);
        }

        if (record.Ended is { } ended)
        {
            _run.SetEndTime(ended.UtcDateTime);
        }

        _run.Dispose();
        _run = null;
    }

    private static void Fail(Activity activity, string? message)
    {
        activity.SetStatus(ActivityStatusCode.Error, message);
        activity.SetTag("error.type", "agentflow.step_failed");
        activity.AddEvent(new ActivityEvent("exception", tags: new ActivityTagsCollection
        {
            ["exception.type"] = "AgentFlow.StepFailed",
            ["exception.message"] = message,
        }));
    }

    private static string Messages(string? system, string? prompt)
    {
        var parts = new List<string>(2);
        if (system is not null)
        {
            parts.Add($"{{\"role\":\"system\",\"parts\":[{{\"type\":\"text\",\"content\":{Json(system)}}}]}}");
        }

        if (prompt is not null)
        {
            parts.Add($"{{\"role\":\"user\",\"parts\":[{{\"type\":\"text\",\"content\":{Json(prompt)}}}]}}");
        }

        return "[" + string.Join(',', parts) + "]";
    }

    private static string Json(string text) => System.Text.Json.JsonSerializer.Serialize(text);
}
