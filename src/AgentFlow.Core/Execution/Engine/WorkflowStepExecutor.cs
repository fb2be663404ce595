using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentFlow.Definitions;
using AgentFlow.Diagnostics;
using AgentFlow.Execution.Tools;
using AgentFlow.Templates;
using AgentFlow.Validation;
using Microsoft.Agents.AI.Workflows;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace AgentFlow.Execution.Engine;

/// <summary>
/// Runs a workflow step: renders the child's inputs, runs the child workflow as a child run (the machinery workflow
/// tools use), and outputs the child's outputs as a JSON object (<c>steps.ID.output.NAME</c>). Each attempt is one
/// child run, bounded by the step's timeout and retried by its retry policy (Polly); the step's record names the
/// child run. A resumed run reuses a child that already succeeded and continues one that was interrupted; a replay
/// reuses the recorded outputs and runs no child.
/// </summary>
internal sealed class WorkflowStepExecutor : Executor<FlowState, FlowState>
{
    private static readonly JsonSerializerOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly WorkflowStepDefinition _step;
    private readonly string? _loopId;
    private readonly RunContext _run;
    private readonly IReadOnlyList<(string Name, LiquidTemplate Value)> _inputs;
    private readonly string _path;
    private readonly ResiliencePipeline _pipeline;

    public WorkflowStepExecutor(WorkflowStepDefinition step, string? loopId, RunContext run)
        : base(step.Id)
    {
        _step = step;
        _loopId = loopId;
        _run = run;
        _inputs = [.. step.Inputs.Select(i => (i.Name, LiquidTemplate.Compile(i.Value)))];
        _path = ToolValidator.ResolvePath(run.WorkflowFile, step.File);
        var builder = new ResiliencePipelineBuilder { TimeProvider = run.Time };
        if (step.Retry is { Attempts: > 1 } retry)
        {
            builder.AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = retry.Attempts - 1,
                Delay = retry.Backoff,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                ShouldHandle = new PredicateBuilder().Handle<AttemptFailedException>(),
            });
        }

        if (step.Timeout is { } timeout)
        {
            builder.AddTimeout(timeout);
        }

        _pipeline = builder.Build();
    }

    public override async ValueTask<FlowState> HandleAsync(FlowState message, IWorkflowContext context, CancellationToken cancellationToken = default)
    {
        var iteration = RunContext.IterationOf(message, _loopId);
        var scope = _run.Scope(message, _loopId);
        var inputs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in _inputs)
        {
            inputs[name] = await value.RenderAsync(scope, cancellationToken).ConfigureAwait(false);
        }

        if (_run.TakeCompleted(_step.Id, iteration) is { } done)
        {
            // Resumed run: this step succeeded after the last checkpoint, before the crash. Its record stands.
            return message.WithOutput(_step.Id, StepOutput.OfJson(done));
        }

        var prompt = JsonSerializer.Serialize(inputs, Compact);
        if (_run.Replay is { } replay && replay.Outputs.TryGetValue(new ReplayKey(_step.Id, iteration), out var recorded))
        {
            return await ReplayAsync(replay.FromRunId, recorded, prompt, iteration, message, context, cancellationToken).ConfigureAwait(false);
        }

        var loaded = WorkflowLoader.Load(_path);
        if (loaded.Definition is not { } child)
        {
            // Validated when the run started; the file changed since. No retry: every attempt would read the same file.
            var errors = loaded.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
            throw new StepFailedException(_step.Id, $"workflow '{_step.File}' is invalid ({errors.Count} error(s)); first: {errors.FirstOrDefault()}");
        }

        var runChild = _run.RunChild ?? throw new StepFailedException(_step.Id, "this host cannot run child workflows");
        var attempts = new StrongBox<int>(_run.PriorAttempts(_step.Id, iteration));
        var first = attempts.Value;
        var prior = _run.TakePriorChildRun(_step.Id, iteration);
        try
        {
            var outputs = await _pipeline.ExecuteAsync(
                async ct => await AttemptAsync(attempts, child, runChild, inputs, prompt, attempts.Value == first ? prior : null, iteration, context, ct, cancellationToken).ConfigureAwait(false),
                cancellationToken).ConfigureAwait(false);
            return message.WithOutput(_step.Id, StepOutput.OfJson(outputs));
        }
        catch (AttemptFailedException failed)
        {
            var tries = attempts.Value - first <= 1 ? string.Empty : $" after {attempts.Value - first} attempts";
            throw new StepFailedException(_step.Id, $"workflow '{_step.File}' failed{tries}: {failed.Message}");
        }
        catch (TimeoutRejectedException)
        {
            // The timeout struck before the child run started (while its record was being opened).
            throw new StepFailedException(_step.Id, string.Create(CultureInfo.InvariantCulture, $"workflow '{_step.File}' timed out after {_step.Timeout!.Value.TotalSeconds:0.###} s"));
        }
    }

    private async Task<string> AttemptAsync(
        StrongBox<int> attempts, WorkflowDefinition child, Func<ChildRunRequest, CancellationToken, Task<RunRecord>> runChild, Dictionary<string, string> inputs,
        string prompt, string? prior, int? iteration, IWorkflowContext context, CancellationToken attemptToken, CancellationToken runToken)
    {
        var record = new StepRecord
        {
            Id = _step.Id,
            Kind = "workflow",
            Iteration = iteration,
            Attempt = ++attempts.Value,
            Started = _run.Time.GetUtcNow(),
            Prompt = prompt,
        };
        var announced = false;
        var started = _run.Time.GetTimestamp();
        RunRecord result;
        try
        {
            // The child's id is in the step's record before the child runs: a parent that crashes mid-child finds it.
            var request = new ChildRunRequest(child, inputs, _run.RunId, _step.Id)
            {
                PriorRunId = prior,
                OnStarted = async id =>
                {
                    record.ChildRunId = id;
                    announced = true;
                    await RunContext.EmitAsync(context, new StepStartedEvent(_run.RunId, record), runToken).ConfigureAwait(false);
                },
            };
            result = await runChild(request, attemptToken).ConfigureAwait(false);
        }
        catch (AgentFlowException ex) when (!runToken.IsCancellationRequested)
        {
            // Refused before any of its steps ran (an input of the wrong type, a model that cannot be used).
            await FailAsync(record, announced, started, $"the child run could not start: {ex.Message}", context, runToken).ConfigureAwait(false);
            throw new AttemptFailedException(record.Error!, ex);
        }

        runToken.ThrowIfCancellationRequested();
        if (result.Status != RunStatus.Succeeded)
        {
            var why = result.Status switch
            {
                RunStatus.Cancelled when attemptToken.IsCancellationRequested =>
                    string.Create(CultureInfo.InvariantCulture, $"timed out after {_step.Timeout!.Value.TotalSeconds:0.###} s (child run {result.RunId} was cancelled)"),
                RunStatus.Waiting =>
                    $"child run {result.RunId} is waiting for approval at step '{result.Waiting?.StepId}', and a child run cannot park its parent; decide it with agentflow approve/reject (this step does not wait for it)",
                _ => $"child run {result.RunId} of workflow '{child.Name}' {(result.Error is { } error ? (error.StepId is null ? $"failed: {error.Message}" : $"failed at step '{error.StepId}': {error.Message}") : result.Status.ToString().ToLowerInvariant())}",
            };
            await FailAsync(record, announced, started, why, context, runToken).ConfigureAwait(false);
            if (result.Status == RunStatus.Waiting)
            {
                // A retry would park again.
                throw new StepFailedException(_step.Id, record.Error!);
            }

            throw new AttemptFailedException(record.Error!, new AgentFlowException(why));
        }

        var outputs = new JsonObject();
        foreach (var (name, value) in result.Outputs)
        {
            outputs[name] = value;
        }

        record.LatencyMs = _run.Time.GetElapsedTime(started).TotalMilliseconds;
        record.Output = outputs.ToJsonString(Compact);
        record.Detail = result.RunId == prior ? $"child run {result.RunId} (continued or reused after the resume)" : $"child run {result.RunId}";
        record.Status = StepStatus.Succeeded;
        await RunContext.EmitAsync(context, new StepFinishedEvent(_run.RunId, record), runToken).ConfigureAwait(false);
        return record.Output;
    }

    private async Task FailAsync(StepRecord record, bool announced, long started, string reason, IWorkflowContext context, CancellationToken runToken)
    {
        if (!announced)
        {
            await RunContext.EmitAsync(context, new StepStartedEvent(_run.RunId, record), runToken).ConfigureAwait(false);
        }

        record.LatencyMs = _run.Time.GetElapsedTime(started).TotalMilliseconds;
        record.Status = StepStatus.Failed;
        record.Error = _run.Secrets.Redact(reason);
        await RunContext.EmitAsync(context, new StepFinishedEvent(_run.RunId, record), runToken).ConfigureAwait(false);
    }

    // A replayed step: the recorded outputs of the same step execution in another run; no child run.
    private async Task<FlowState> ReplayAsync(string fromRunId, RecordedOutput output, string prompt, int? iteration, FlowState message, IWorkflowContext context, CancellationToken cancellationToken)
    {
        var record = new StepRecord
        {
            Id = _step.Id,
            Kind = "workflow",
            Iteration = iteration,
            Started = _run.Time.GetUtcNow(),
            Prompt = prompt,
            ReplayedFrom = fromRunId,
            Detail = $"replayed from run {fromRunId}",
        };
        await RunContext.EmitAsync(context, new StepStartedEvent(_run.RunId, record), cancellationToken).ConfigureAwait(false);
        record.Output = output.Text;
        record.Status = StepStatus.Succeeded;
        await RunContext.EmitAsync(context, new StepFinishedEvent(_run.RunId, record), cancellationToken).ConfigureAwait(false);
        return message.WithOutput(_step.Id, StepOutput.OfJson(output.Text));
    }

    /// <summary>One attempt failed (its record is already written); the retry strategy decides what is next.</summary>
    private sealed class AttemptFailedException(string message, Exception inner) : Exception(message, inner);
}
