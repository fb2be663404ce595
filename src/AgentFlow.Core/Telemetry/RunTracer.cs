using System.Collections.Concurrent;
using System.Diagnostics;
using AgentFlow.Definitions;
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
/// <remarks>
/// A run's trace id is its run id (both are 32 hex digits), so every process that works on the run (a resumed run
/// after a crash, an approval decided a day later) adds to the same trace; a resumed run's span is the child of the
/// first run span when the record keeps its <see cref="RunRecord.TraceParent"/>. A step's span can be asked for
/// before its start event reaches the tracer (<see cref="StepSpan"/>: the model client sending the step to a worker
/// names it as the worker span's parent), and is then started early and completed from the event.
/// </remarks>
public sealed class RunTracer(bool captureContent = false) : IRunObserver
{
    // The tracers of the runs open in this process, by run id: how a model client finds the span of the step it serves.
    private static readonly ConcurrentDictionary<string, RunTracer> Open = new(StringComparer.Ordinal);

    // Runs parked at an approval in this process (agentflow.approvals.waiting counts them; a resume or end takes one off).
    private static readonly ConcurrentDictionary<string, string> Parked = new(StringComparer.Ordinal);

    // Set only around the start of a run span: the trace id the run's root span takes (see TraceIdGenerator below).
    [ThreadStatic]
    private static ActivityTraceId? t_nextTraceId;

    private readonly Dictionary<(string Id, int? Iteration, int Attempt), Activity> _steps = [];
    private Activity? _run;
    private string _workflow = string.Empty;
    private string? _runId;

    static RunTracer()
    {
        // Activity offers no per-span choice of trace id; its generator hook, consulted for root spans only, is
        // overridden just while a run span starts on this thread, and otherwise defers to what was there.
        var previous = Activity.TraceIdGenerator;
        Activity.TraceIdGenerator = () => t_nextTraceId ?? previous?.Invoke() ?? ActivityTraceId.CreateRandom();
    }

    /// <summary>Whether prompt and answer text go into spans (<see cref="AgentFlowTelemetry.CaptureContentVariable"/>).</summary>
    public bool CaptureContent { get; } = captureContent;

    /// <summary>
    /// The workflow the traced run executes. With it, a step inside a switch, parallel or loop is a child of its
    /// composite's span (the attempt open at the time); without it, every step is a child of the run's span.
    /// </summary>
    public WorkflowDefinition? Definition
    {
        get => _definition;
        init
        {
            _definition = value;
            _parents = value is null ? null : ParentsOf(value.Steps);
        }
    }

    private readonly WorkflowDefinition? _definition;
    private readonly Dictionary<string, string>? _parents;

    // Step id → the id of the composite step that directly contains it.
    private static Dictionary<string, string> ParentsOf(IEnumerable<StepDefinition> steps)
    {
        var parents = new Dictionary<string, string>(StringComparer.Ordinal);
        void Walk(StepDefinition composite)
        {
            foreach (var child in composite.Children)
            {
                parents.TryAdd(child.Id, composite.Id);
                Walk(child);
            }
        }

        foreach (var step in steps)
        {
            Walk(step);
        }

        return parents;
    }

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
                if (Parked.TryAdd(waiting.RunId, _workflow))
                {
                    AgentFlowTelemetry.ApprovalsWaiting.Add(1, new KeyValuePair<string, object?>("agentflow.workflow", _workflow));
                }

                _run?.AddEvent(new ActivityEvent("agentflow.approval.requested", tags: new ActivityTagsCollection { ["agentflow.step.id"] = waiting.Waiting.StepId }));
                break;
            case RunFinishedEvent finished:
                EndRun(finished.Record);
                break;
        }
    }

    /// <summary>
    /// The span of an agent step attempt of a run open in this process, started now if its start event has not
    /// reached the run's tracer yet; null when the run is not traced here (no listener, or not sampled).
    /// </summary>
    /// <param name="runId">The run.</param>
    /// <param name="stepId">The step.</param>
    /// <param name="iteration">Its loop iteration (1-based), or null outside loops.</param>
    /// <param name="attempt">The attempt (1 = first try).</param>
    public static Activity? StepSpan(string runId, string stepId, int? iteration, int attempt)
    {
        ArgumentNullException.ThrowIfNull(runId);
        ArgumentNullException.ThrowIfNull(stepId);
        return Open.TryGetValue(runId, out var tracer) ? tracer.StepActivity(stepId, "agent", iteration, attempt, started: null) : null;
    }

    private void StartRun(RunRecord record, bool resumed)
    {
        _workflow = record.Workflow;
        Unpark(record.RunId);
        AgentFlowTelemetry.RunsStarted.Add(1, new KeyValuePair<string, object?>("agentflow.workflow", record.Workflow));
        // A run belongs to no caller's trace: its own, whose id is the run id; a resumed run continues it under the
        // first run span when the record names it.
        var parent = resumed && ActivityContext.TryParse(record.TraceParent, null, isRemote: true, out var first) ? first : default;
        var previous = Activity.Current;
        Activity.Current = null;
        t_nextTraceId = TraceIdOf(record.RunId);
        try
        {
            _run = AgentFlowTelemetry.Source.StartActivity(
                $"agentflow.run {record.Workflow}", ActivityKind.Internal, parent, startTime: resumed ? DateTimeOffset.UtcNow : record.Started);
        }
        finally
        {
            t_nextTraceId = null;
            Activity.Current = previous;
        }

        if (_run is null)
        {
            return;
        }

        if (!resumed || record.TraceParent is null)
        {
            record.TraceParent = _run.Id;
        }

        _runId = record.RunId;
        Open[record.RunId] = this;

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

    /// <summary>
    /// The trace id of a run: its run id when that is 32 hex digits (AgentFlow's own ids are), else the first 16 bytes
    /// of the id's SHA-256; the same for every process that works on the run.
    /// </summary>
    public static ActivityTraceId TraceIdOf(string runId)
    {
        ArgumentNullException.ThrowIfNull(runId);
        return runId is { Length: 32 } && runId.All(char.IsAsciiHexDigit)
            ? ActivityTraceId.CreateFromString(runId.ToLowerInvariant())
            : ActivityTraceId.CreateFromBytes(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(runId)).AsSpan(0, 16));
    }

    private void StartStep(StepRecord step) => StepActivity(step.Id, step.Kind, step.Iteration, step.Attempt, step.Started);

    // The step's span: found when a model client asked for it first (its start time then becomes the step's), else started.
    private Activity? StepActivity(string id, string kind, int? iteration, int attempt, DateTimeOffset? started)
    {
        lock (_steps)
        {
            if (_run is null)
            {
                return null;
            }

            if (_steps.TryGetValue((id, iteration, attempt), out var open))
            {
                if (started is { } start)
                {
                    open.SetStartTime(start.UtcDateTime);
                }

                return open;
            }

            var name = kind == "agent" ? $"agentflow.step {id}" : $"agentflow.{kind} {id}";
            var previous = Activity.Current;
            var parent = _run.Context;
            if (_parents is not null && _parents.TryGetValue(id, out var composite)
                && _steps.Where(open => open.Key.Id == composite).Select(open => open.Value).MaxBy(open => open.StartTimeUtc) is { } outer)
            {
                parent = outer.Context;
            }

            var activity = AgentFlowTelemetry.Source.StartActivity(name, ActivityKind.Internal, parent, startTime: started ?? default);
            // Starting makes the span current here; the event loop (or the caller's flow) must not run on inside it.
            Activity.Current = previous;
            if (activity is null)
            {
                return null;
            }

            activity.SetTag("agentflow.run_id", _runId);
            activity.SetTag("agentflow.step.id", id);
            activity.SetTag("agentflow.step.kind", kind);
            activity.SetTag("agentflow.step.attempt", attempt);
            if (iteration is { } i)
            {
                activity.SetTag("agentflow.step.iteration", i);
            }

            _steps[(id, iteration, attempt)] = activity;
            return activity;
        }
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

        var calls = step.ToolCallsSnapshot();
        foreach (var call in calls)
        {
            AgentFlowTelemetry.ToolCalls.Add(1, new("gen_ai.tool.name", call.Name), new("agentflow.tool.status", call.Status));
        }

        Activity? activity;
        lock (_steps)
        {
            if (!_steps.Remove((step.Id, step.Iteration, step.Attempt), out activity))
            {
                return;
            }
        }

        var end = step.Started + TimeSpan.FromMilliseconds(Math.Max(0, step.LatencyMs));
        if (step.Worker is { } worker)
        {
            activity.SetTag("agentflow.worker", worker);
        }

        // Child spans become current as they start, and their parent as they end: the event loop stays outside them.
        var previous = Activity.Current;
        try
        {
            // A step a worker answered has its model-call span from that worker (a child of this span, over the bus).
            if (step.Kind == "agent" && step.Model is not null && step.Worker is null)
            {
                ModelCall(activity, step, end);
            }

            ToolCalls(activity, calls);
            if (failed)
            {
                Fail(activity, step.Error);
            }

            activity.SetEndTime(end.UtcDateTime);
            activity.Dispose();
        }
        finally
        {
            Activity.Current = previous;
        }
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

    // Each tool call the step's model made: an "execute_tool {name}" span (GenAI conventions).
    private void ToolCalls(Activity step, ToolCallRecord[] calls)
    {
        foreach (var call in calls)
        {
            using var span = AgentFlowTelemetry.Source.StartActivity($"execute_tool {call.Name}", ActivityKind.Internal, step.Context, startTime: call.Started);
            if (span is null)
            {
                continue;
            }

            span.SetTag("gen_ai.operation.name", "execute_tool");
            span.SetTag("gen_ai.tool.name", call.Name);
            span.SetTag("gen_ai.tool.call.id", call.CallId);
            span.SetTag("agentflow.tool", call.Tool);
            span.SetTag("agentflow.tool.status", call.Status);
            if (CaptureContent)
            {
                span.SetTag("gen_ai.tool.call.arguments", call.Arguments);
                span.SetTag("gen_ai.tool.call.result", call.Result);
            }

            if (call.Status is "failed" or "refused")
            {
                Fail(span, call.Error);
            }

            span.SetEndTime((call.Started + TimeSpan.FromMilliseconds(Math.Max(0, call.LatencyMs))).UtcDateTime);
        }
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
        if (record.Waiting is null)
        {
            Unpark(record.RunId);
        }

        AgentFlowTelemetry.RunsFinished.Add(1, new("agentflow.workflow", record.Workflow), new("agentflow.status", status));
        lock (_steps)
        {
            foreach (var open in _steps.Values)
            {
                // A step still open when its run ends was interrupted (the run parked, was cancelled or failed around it).
                open.SetStatus(ActivityStatusCode.Error, "interrupted");
                open.Dispose();
            }

            _steps.Clear();
        }

        if (_runId is { } runId)
        {
            Open.TryRemove(new KeyValuePair<string, RunTracer>(runId, this));
            _runId = null;
        }

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

        var previous = Activity.Current;
        _run.Dispose();
        Activity.Current = previous;
        _run = null;
    }

    private static void Unpark(string runId)
    {
        if (Parked.TryRemove(runId, out var workflow))
        {
            AgentFlowTelemetry.ApprovalsWaiting.Add(-1, new KeyValuePair<string, object?>("agentflow.workflow", workflow));
        }
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
