using System.Globalization;
using System.Reflection;
using System.Threading.Channels;
using AgentFlow.Definitions;
using AgentFlow.Execution;
using AgentFlow.Tracking.MLflow.Audit;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Tracking.MLflow.Recording;

/// <summary>
/// Records one run in MLflow: experiment = workflow name, params = definition and bindings, metrics per step and for
/// the run, tags = status, trigger, failing step, workers, audit head; artifacts = the workflow file, transcript.json
/// and audit.json, and when the run ends its signed seal (seal.json, a line in the ledger: <see cref="RunSealer"/>). Events are queued and written by a background task, so recording never slows a step; while the run
/// runs, step metrics and the transcript are written in batches at most every <see cref="InterimWriteInterval"/> (one
/// transaction for the metrics, one transcript rewrite), so a crash loses at most the last second of steps in MLflow
/// (the run store keeps them, and the transcript written when a resumed run ends has every step).
/// </summary>
public sealed partial class MlflowRunRecorder : IRunObserver, IAsyncDisposable
{
    private readonly IMlflowStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Channel<RunEvent> _events = Channel.CreateUnbounded<RunEvent>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Dictionary<string, int> _executions = new(StringComparer.Ordinal);
    private readonly List<string> _problems = [];
    private readonly Task _writer;
    private readonly RunSealer _sealer;
    private RunRecord? _record;

    private MlflowRunRecorder(IMlflowStore store, string runId, RunSealer sealer, TimeProvider time, ILogger logger)
    {
        _store = store;
        _sealer = sealer;
        RunId = runId;
        _time = time;
        _logger = logger;
        _writer = Task.Run(WriteAsync);
    }

    /// <summary>The MLflow run id, used as the AgentFlow run id too, so <c>runs show ID</c> takes either.</summary>
    public string RunId { get; }

    /// <summary>
    /// The secrets masked in the texts this recorder writes besides the record's own (the error tag, its write
    /// problems); set it before the run starts. Default: none known (Bearer credentials are masked still).
    /// </summary>
    public Secrets.SecretRedactor Secrets { get; set; } = new();

    /// <summary>Writes that failed (the run itself is unaffected); empty when everything was recorded.</summary>
    public IReadOnlyList<string> Problems => _problems;

    /// <summary>The AgentFlow build recording runs (package version and commit), tagged <c>agentflow.version</c> on each.</summary>
    public static string AgentFlowVersion { get; } =
        typeof(MlflowRunRecorder).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    /// <summary>Creates the MLflow run (get-or-create the workflow's experiment) and records the definition.</summary>
    public static Task<MlflowRunRecorder> StartAsync(
        IMlflowStore store, WorkflowDefinition definition, string trigger, TimeProvider time, ILogger logger, CancellationToken cancellationToken) =>
        StartAsync(store, definition, trigger, experimentName: null, extraTags: null, time, logger, cancellationToken);

    /// <summary>
    /// Creates the MLflow run in experiment <paramref name="experimentName"/> (the workflow name when null) with
    /// <paramref name="extraTags"/> added to the initial tags (experiments: variant and case; replays: the original run).
    /// </summary>
    public static Task<MlflowRunRecorder> StartAsync(
        IMlflowStore store, WorkflowDefinition definition, string trigger, string? experimentName, IReadOnlyList<MlflowTag>? extraTags,
        TimeProvider time, ILogger logger, CancellationToken cancellationToken) =>
        StartAsync(store, definition, trigger, experimentName, extraTags, sealer: null, time, logger, cancellationToken);

    /// <summary>
    /// As above, sealing the run when it ends with <paramref name="sealer"/>; when null, with
    /// <see cref="RunSealer.FromEnvironment"/> (the key from <c>AGENTFLOW_AUDIT_KEY</c> or the key file).
    /// </summary>
    /// <exception cref="AuditKeyException">No sealer is given and the audit key is malformed or cannot be created.</exception>
    public static async Task<MlflowRunRecorder> StartAsync(
        IMlflowStore store, WorkflowDefinition definition, string trigger, string? experimentName, IReadOnlyList<MlflowTag>? extraTags,
        RunSealer? sealer, TimeProvider time, ILogger logger, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(definition);
        ArgumentNullException.ThrowIfNull(time);
        // Resolved before the MLflow run exists: a bad key fails the start, not the seal at the end.
        sealer ??= RunSealer.FromEnvironment(store, time);
        var experiment = await store.GetOrCreateExperimentAsync(experimentName ?? definition.Name, cancellationToken).ConfigureAwait(false);
        var start = time.GetUtcNow();
        var name = string.Create(CultureInfo.InvariantCulture, $"{definition.Name}-{start:yyyyMMdd-HHmmss}");
        var run = await store.CreateRunAsync(
            experiment.ExperimentId,
            name,
            start.ToUnixTimeMilliseconds(),
            [new("agentflow.trigger", trigger), new("agentflow.status", "running"), new("agentflow.workflow", definition.Name), new("agentflow.version", AgentFlowVersion), .. extraTags ?? []],
            cancellationToken).ConfigureAwait(false);
        var recorder = new MlflowRunRecorder(store, run.Info.RunId, sealer, time, logger);
        // The definition is written by the writer, off the caller's path; its first event.
        recorder._events.Writer.TryWrite(new DefinitionEvent(run.Info.RunId, definition));
        return recorder;
    }

    /// <summary>
    /// Continues recording a run an earlier process started (a parked or interrupted run resumed here): no new MLflow
    /// run, no parameters again; step metrics go on after the steps already recorded.
    /// </summary>
    public static MlflowRunRecorder Attach(IMlflowStore store, string runId, TimeProvider time, ILogger logger) =>
        Attach(store, runId, sealer: null, time, logger);

    /// <summary>As above, sealing with <paramref name="sealer"/> (null: <see cref="RunSealer.FromEnvironment"/>).</summary>
    /// <exception cref="AuditKeyException">No sealer is given and the audit key is malformed or cannot be created.</exception>
    public static MlflowRunRecorder Attach(IMlflowStore store, string runId, RunSealer? sealer, TimeProvider time, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentException.ThrowIfNullOrEmpty(runId);
        ArgumentNullException.ThrowIfNull(time);
        return new MlflowRunRecorder(store, runId, sealer ?? RunSealer.FromEnvironment(store, time), time, logger);
    }

    // Each agent step's sampling settings as written (defaults are documented: max_tokens 256, the model's own sampling).
    private static IEnumerable<MlflowParam> SamplingParams(WorkflowDefinition definition)
    {
        foreach (var step in definition.AllSteps().OfType<AgentStepDefinition>())
        {
            yield return new($"step.{step.Id}.max_tokens", (step.MaxTokens ?? 256).ToString(CultureInfo.InvariantCulture));
            if (step.Temperature is { } temperature)
            {
                yield return new($"step.{step.Id}.temperature", temperature.ToString(CultureInfo.InvariantCulture));
            }

            if (step.TopP is { } topP)
            {
                yield return new($"step.{step.Id}.top_p", topP.ToString(CultureInfo.InvariantCulture));
            }

            if (step.Seed is { } seed)
            {
                yield return new($"step.{step.Id}.seed", seed.ToString(CultureInfo.InvariantCulture));
            }
        }
    }

    /// <inheritdoc />
    public void OnEvent(RunEvent runEvent)
    {
        if (runEvent is not StepOutputChunkEvent)
        {
            _events.Writer.TryWrite(runEvent);
        }
    }

    /// <summary>Waits until every queued write is done.</summary>
    public async ValueTask DisposeAsync()
    {
        _events.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
    }

    /// <summary>
    /// How often, at most, the metrics and the transcript of a running run are written while it runs (1 s): a step
    /// that finishes sooner is written with the next batch, and everything is written when the run parks or ends.
    /// </summary>
    public static readonly TimeSpan InterimWriteInterval = TimeSpan.FromSeconds(1);

    // Drains the queue in batches: the metrics of every step finished since the last write go in one store call (one
    // transaction), and the interim transcript is rewritten with them, at most once per InterimWriteInterval. Other
    // events are written in order, after the steps queued before them.
    private async Task WriteAsync()
    {
        var reader = _events.Reader;
        var metrics = new List<MlflowMetric>();
        var dirty = false;
        var lastWrite = _time.GetTimestamp();
        while (true)
        {
            if (dirty && _time.GetElapsedTime(lastWrite) >= InterimWriteInterval)
            {
                await WriteStepsAsync(metrics, transcript: true).ConfigureAwait(false);
                (dirty, lastWrite) = (false, _time.GetTimestamp());
            }

            if (!await WaitAsync(reader, dirty ? InterimWriteInterval - _time.GetElapsedTime(lastWrite) : null).ConfigureAwait(false))
            {
                break;
            }

            while (reader.TryRead(out var runEvent))
            {
                if (runEvent is StepFinishedEvent { Step: var step })
                {
                    AddStepMetrics(step, metrics);
                    dirty = true;
                    if (metrics.Count > MlflowLimits.MaxMetricsPerBatch - MetricsPerStep)
                    {
                        await WriteStepsAsync(metrics, transcript: false).ConfigureAwait(false);
                    }

                    continue;
                }

                // The event's own write covers the transcript (run end, park) or precedes any step (start, resume).
                await WriteStepsAsync(metrics, transcript: false).ConfigureAwait(false);
                await WriteEventAsync(runEvent).ConfigureAwait(false);
                if (runEvent is RunFinishedEvent)
                {
                    dirty = false;
                }
            }
        }

        // Completed without a run end (the run threw): what it finished is written, with the transcript.
        if (dirty)
        {
            await WriteStepsAsync(metrics, transcript: true).ConfigureAwait(false);
        }
    }

    // True when events are queued, false when the queue is completed and empty; also returns (true) when
    // 'limit' passes first, so the caller writes what is due.
    private async Task<bool> WaitAsync(ChannelReader<RunEvent> reader, TimeSpan? limit)
    {
        if (limit is not { } wait)
        {
            return await reader.WaitToReadAsync().ConfigureAwait(false);
        }

        if (wait <= TimeSpan.Zero)
        {
            return true;
        }

        using var timer = new CancellationTokenSource(wait, _time);
        try
        {
            return await reader.WaitToReadAsync(timer.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timer.IsCancellationRequested)
        {
            return true;
        }
    }

    private async Task WriteEventAsync(RunEvent runEvent)
    {
        try
        {
            switch (runEvent)
            {
                case DefinitionEvent { Definition: var definition }:
                    await _store.LogBatchAsync(
                        RunId,
                        metrics: null,
                        // workflow.path: where a replay resolves the files of workflow steps and workflow tools.
                        parameters: [new("workflow.name", definition.Name), new("workflow.version", definition.Version.ToString(CultureInfo.InvariantCulture)), new("workflow.sha256", definition.Sha256), new("workflow.path", Truncated(Path.GetFullPath(definition.FilePath))), .. SamplingParams(definition)],
                        tags: null).ConfigureAwait(false);
                    await _store.LogTextArtifactAsync(RunId, "workflow.yaml", definition.SourceText).ConfigureAwait(false);
                    break;
                case RunStartedEvent started:
                    _record = started.Record;
                    await RecordStartAsync(started.Record).ConfigureAwait(false);
                    break;
                case RunResumedEvent resumed:
                    _record = resumed.Record;
                    foreach (var done in resumed.Record.Steps.Where(s => s.Status != StepStatus.Running))
                    {
                        // Metric indexes go on where the earlier process stopped: no duplicate rows.
                        _executions[done.Id] = _executions.GetValueOrDefault(done.Id, -1) + 1;
                    }

                    await _store.LogBatchAsync(RunId, metrics: null, parameters: null, [new("agentflow.status", "running")]).ConfigureAwait(false);
                    break;
                case RunFinishedEvent { Record.Status: RunStatus.Waiting } parked:
                    await RecordParkedAsync(parked.Record).ConfigureAwait(false);
                    break;
                case RunFinishedEvent finished:
                    await RecordEndAsync(finished.Record).ConfigureAwait(false);
                    break;
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Recording must never fail the run; the problem is reported at the end.
            Report(ex);
        }
    }

    // MLflow limits a param value to 6000 characters.
    private static string Truncated(string value) => value.Length > 6000 ? value[..6000] : value;

    private void Report(Exception ex)
    {
        var problem = Secrets.Redact(ex.Message);
        _problems.Add(problem);
        LogWriteFailed(_logger, RunId, problem);
    }

    private Task RecordStartAsync(RunRecord record)
    {
        var parameters = new List<MlflowParam>();
        foreach (var (alias, model) in record.Bindings)
        {
            parameters.Add(new($"model.{alias}", model));
        }

        foreach (var (name, model) in record.Models)
        {
            parameters.Add(new($"model.{name}.provider", model.Provider));
            if (model.FileSha256 is { } sha)
            {
                parameters.Add(new($"model.{name}.sha256", sha));
            }
        }

        foreach (var (name, value) in record.Inputs)
        {
            var text = value?.ToJsonString() ?? "null";
            parameters.Add(new($"input.{name}", text.Length > 6000 ? text[..6000] : text));
        }

        List<MlflowTag> tags = record.ConversationId is { } conversation ? [new("agentflow.conversation_id", conversation)] : [];
        if (record.ParentRunId is { } parent)
        {
            tags.Add(new("agentflow.parent_run", parent));
        }

        return _store.LogBatchAsync(RunId, metrics: null, parameters, tags);
    }

    // Latency, and for agent steps tokens in/out, attempt, cost, tool calls and tool latency (retrieve steps: chunks
    // and top score): at most 7.
    private const int MetricsPerStep = 7;

    private void AddStepMetrics(StepRecord step, List<MlflowMetric> metrics)
    {
        var key = $"{step.Id}";
        var index = _executions[key] = _executions.GetValueOrDefault(key, -1) + 1;
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        metrics.Add(new($"step.{step.Id}.latency_ms", Math.Round(step.LatencyMs, 3), now, index));
        if (step.Kind == "agent")
        {
            metrics.Add(new($"step.{step.Id}.input_tokens", step.InputTokens ?? 0, now, index));
            metrics.Add(new($"step.{step.Id}.output_tokens", step.OutputTokens ?? 0, now, index));
            metrics.Add(new($"step.{step.Id}.attempt", step.Attempt, now, index));
            if (step.CostUsd is { } cost)
            {
                metrics.Add(new($"step.{step.Id}.cost_usd", cost, now, index));
            }

            if (step.ToolCallsSnapshot() is { Length: > 0 } calls)
            {
                metrics.Add(new($"step.{step.Id}.tool_calls", calls.Length, now, index));
                metrics.Add(new($"step.{step.Id}.tool_latency_ms", Math.Round(calls.Sum(c => c.LatencyMs), 3), now, index));
            }
        }
        else if (step.Retrieval is { } retrieval)
        {
            // Retrieve steps: latency above is the retrieve latency; how many chunks came back and how close the best was.
            metrics.Add(new($"step.{step.Id}.retrieved_chunks", retrieval.Chunks.Count, now, index));
            metrics.Add(new($"step.{step.Id}.top_score", retrieval.Chunks.Count == 0 ? 0 : Math.Round(retrieval.Chunks[0].Score, 4), now, index));
        }
    }

    // One transaction for the metrics of all steps collected; then, when asked, the transcript so far. Rewritten after
    // each batch: a crash loses at most the steps the writer had not caught up with.
    private async Task WriteStepsAsync(List<MlflowMetric> metrics, bool transcript)
    {
        if (metrics.Count > 0)
        {
            try
            {
                await _store.LogBatchAsync(RunId, [.. metrics], parameters: null, tags: null).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Report(ex);
                return;
            }
            finally
            {
                metrics.Clear();
            }
        }

        if (transcript && _record is not null)
        {
            try
            {
                await _store.LogTextArtifactAsync(RunId, RunTranscript.TranscriptPath, RunTranscript.Serialize(RunTranscript.Build(_record))).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Report(ex);
            }
        }
    }

    // The MLflow run stays RUNNING while a run waits; tags say where, the transcript holds everything so far.
    private async Task RecordParkedAsync(RunRecord record)
    {
        List<MlflowTag> tags = [new("agentflow.status", "waiting")];
        if (record.Waiting is { } waiting)
        {
            tags.Add(new("agentflow.waiting_step", waiting.StepId));
        }

        await _store.LogBatchAsync(RunId, metrics: null, parameters: null, tags).ConfigureAwait(false);
        await _store.LogTextArtifactAsync(RunId, RunTranscript.TranscriptPath, RunTranscript.Serialize(RunTranscript.Build(record))).ConfigureAwait(false);
        await WriteTraceAsync(record).ConfigureAwait(false);
    }

    // The run as an MLflow trace (embedded store: the trace tables; an MLflow server takes traces over OTLP instead).
    // Written again when a parked run goes on or ends, replacing the rows: one trace per run.
    private async Task WriteTraceAsync(RunRecord record)
    {
        if (_store is not MlflowSqliteStore sqlite)
        {
            return;
        }

        try
        {
            await sqlite.LogTraceAsync(RunId, Traces.RunTraceBuilder.Build(record, RunId, Secrets)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Report(ex);
        }
    }

    private async Task RecordEndAsync(RunRecord record)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var metrics = new List<MlflowMetric>
        {
            new("run.latency_ms", Math.Round(record.DurationMs ?? 0, 3), now),
            new("run.input_tokens", record.InputTokens, now),
            new("run.output_tokens", record.OutputTokens, now),
            new("run.steps", record.Steps.Count, now),
        };
        if (record.CostUsd is { } cost)
        {
            metrics.Add(new("run.cost_usd", cost, now));
        }

        var calls = record.Snapshot().Steps.SelectMany(s => s.ToolCallsSnapshot()).ToList();
        if (calls.Count > 0)
        {
            metrics.Add(new("run.tool_calls", calls.Count, now));
            metrics.Add(new("run.tool_latency_ms", Math.Round(calls.Sum(c => c.LatencyMs), 3), now));
        }

        var transcript = RunTranscript.Build(record);
        var tags = new List<MlflowTag>
        {
            new("agentflow.status", record.Status.ToString().ToLowerInvariant()),
            new(RunTranscript.HeadTag, transcript["audit_head"]!.GetValue<string>()),
        };
        if (record.Error is { } error)
        {
            tags.Add(new("agentflow.failed_step", error.StepId ?? "(none)"));
            var message = Secrets.Redact(error.Message);
            tags.Add(new("agentflow.error", message.Length > 7000 ? message[..7000] : message));
        }

        // Child runs of workflow tools' calls and of workflow steps.
        var children = calls.Select(c => c.ChildRunId).Concat(record.Snapshot().Steps.Select(s => s.ChildRunId)).OfType<string>().Distinct(StringComparer.Ordinal).ToList();
        if (children.Count > 0)
        {
            tags.Add(new("agentflow.child_runs", string.Join(",", children)));
        }

        var workers = record.Steps.Select(s => s.Worker).OfType<string>().Distinct(StringComparer.Ordinal).ToList();
        if (workers.Count > 0)
        {
            tags.Add(new("agentflow.workers", string.Join(",", workers)));
        }

        await _store.LogBatchAsync(RunId, metrics, parameters: null, tags).ConfigureAwait(false);
        var transcriptJson = RunTranscript.Serialize(transcript);
        var auditJson = RunTranscript.Serialize(RunTranscript.Audit(transcript));
        await _store.LogTextArtifactAsync(RunId, RunTranscript.TranscriptPath, transcriptJson).ConfigureAwait(false);
        await _store.LogTextArtifactAsync(RunId, RunTranscript.AuditPath, auditJson).ConfigureAwait(false);
        var status = record.Status switch
        {
            RunStatus.Succeeded => MlflowRunStatus.Finished,
            RunStatus.Cancelled => MlflowRunStatus.Killed,
            _ => MlflowRunStatus.Failed,
        };
        await _store.UpdateRunAsync(RunId, status, (record.Ended ?? _time.GetUtcNow()).ToUnixTimeMilliseconds()).ConfigureAwait(false);
        await WriteTraceAsync(record).ConfigureAwait(false);

        // Last, over everything above as the store now holds it.
        await _sealer.SealAsync(_store, RunId, transcriptJson, auditJson, CancellationToken.None).ConfigureAwait(false);
    }

    // The definition's parameters and file, queued by StartAsync ahead of every run event.
    private sealed record DefinitionEvent(string RunId, WorkflowDefinition Definition) : RunEvent(RunId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Recording run {RunId} in MLflow failed: {Problem}")]
    private static partial void LogWriteFailed(ILogger logger, string runId, string problem);
}
