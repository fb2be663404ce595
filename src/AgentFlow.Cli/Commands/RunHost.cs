using AgentFlow.Cli.Hosting;
using AgentFlow.Cli.Output;
using AgentFlow.Server;
using AgentFlow.Cli.Progress;
using AgentFlow.Definitions;
using AgentFlow.Execution;
using AgentFlow.Execution.Durable;
using AgentFlow.Memory;
using AgentFlow.Models;
using AgentFlow.Tracking.MLflow.Recording;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace AgentFlow.Cli.Commands;

/// <summary>
/// Runs or continues one run in this process, the same way for <c>run</c>, <c>approve</c>, <c>reject</c> and
/// <c>runs resume</c>: models over the bus, conversation store, durable run store, MLflow recording, live progress,
/// then the outputs (or where the run waits) and the exit code.
/// </summary>
internal static class RunHost
{
    public const string ConfigKey = "config";
    public const string RecordKey = "record";
    public const string TrackingKey = "tracking_uri";

    public delegate Task<RunRecord> RunAction(WorkflowRunner runner, IRunObserver observer, string? recordedRunId, CancellationToken cancellationToken);

    public static async Task<int> ExecuteAsync(
        CliContext cli, WorkflowDefinition definition, ModelRegistry registry, IReadOnlyDictionary<string, string> bindings,
        IReadOnlyDictionary<string, string> host, string? resumeRunId, bool json, RunAction action, CancellationToken cancellationToken,
        IReadOnlyList<Tracking.MLflow.MlflowTag>? tags = null, bool background = false, IRunObserver? listener = null, string trigger = "cli")
    {
        var record = host.GetValueOrDefault(RecordKey) != "false";
        var trackingUri = host.GetValueOrDefault(TrackingKey) is { Length: > 0 } uri ? uri : null;
        var depths = StepRow.Depths(definition);
        RunRecord result;
        await using var tracking = record ? cli.OpenTracking(trackingUri) : null;
        MlflowRunRecorder? recorder = null;
        try
        {
            // Everything that can refuse the run is checked before its MLflow run is created: an unknown alias or
            // model, the broker, the stores, a model that cannot be used (a missing API key, no worker). A refused
            // run ("nothing ran", exit 2) leaves no record behind, least of all one that looks as if it still ran.
            var models = new ModelHost(registry, cli.CreateProviders());
            var specs = models.ModelsFor(definition, bindings);
            await using var runtime = await ModelRuntime.StartOrchestratorAsync(cli, models, [.. specs.Select(s => s.Name)], cancellationToken).ConfigureAwait(false);
            // Only workflows with memory open the conversation store (no file or Redis connection otherwise).
            await using var store = definition.Memory is null ? null : await cli.OpenConversationStoreAsync(registry, cancellationToken).ConfigureAwait(false);
            await using var runs = await cli.OpenRunStoreAsync(registry, cancellationToken).ConfigureAwait(false);
            if (await runtime.Gateway.CheckAsync(specs, cancellationToken).ConfigureAwait(false) is { Count: > 0 } problems)
            {
                throw new ModelConfigurationException(string.Join(Environment.NewLine, problems));
            }

            // Only workflows with retrieve steps or retrieve tools open collections (and load an embedder).
            await using var collections = definition.AllSteps().OfType<RetrieveStepDefinition>().Any() || definition.Tools.Any(t => t.Source is RetrieveToolSource) ? cli.OpenCollections(registry) : null;
            if (collections is not null && runtime.Options.Transport == Messaging.Bus.MessagingTransport.RabbitMq)
            {
                // Like chat models: a retrieve step or tool whose embedder no worker serves refuses the run before any step.
                var missing = new List<string>();
                var searched = definition.AllSteps().OfType<RetrieveStepDefinition>().Select(s => s.Collection)
                    .Concat(definition.Tools.Select(t => t.Source).OfType<RetrieveToolSource>().Select(r => r.Collection));
                foreach (var embedder in searched.Select(c => registry.CollectionOrImplicit(c).Embedder).Distinct(StringComparer.Ordinal))
                {
                    if (await runtime.RemoteClients.IsEmbedderServedAsync(embedder, cancellationToken).ConfigureAwait(false) == false)
                    {
                        missing.Add($"no worker serves embedder '{embedder}'; start one with: ./agentflow worker --embedders {embedder}");
                    }
                }

                if (missing.Count > 0)
                {
                    throw new ModelConfigurationException(string.Join(Environment.NewLine, missing));
                }
            }

            // Then the MLflow run: its id is the run's id, so `runs show ID` finds it directly.
            var logger = cli.LoggerFactory.CreateLogger<MlflowRunRecorder>();
            recorder = tracking is null ? null
                : resumeRunId is not null ? MlflowRunRecorder.Attach(tracking, resumeRunId, cli.Time, logger)
                : await MlflowRunRecorder.StartAsync(tracking, definition, trigger, null, tags ?? [], cli.Time, logger, cancellationToken).ConfigureAwait(false);
            if (recorder is not null)
            {
                recorder.Secrets = cli.Secrets;
            }

            var runner = new WorkflowRunner(models, runtime.Gateway, cli.Time, cli.LoggerFactory.CreateLogger<WorkflowRunner>(), store?.AsConversationMemory(), runs)
            {
                Secrets = cli.Secrets,
                ToolProviders = Tools.ToolKinds.Create(),
                Retriever = collections,
                RecordChildRun = tracking is null ? null : (start, ct) => RecordChildAsync(cli, tracking, start, ct),
            };
            if (cli.ErrorIsTerminal && !background)
            {
                var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = RedactingWriter.ConsoleOutputFor(cli.Error) });
                var live = new LiveProgress(console, depths, cli.Time);
                result = await live.ShowWhileAsync(() => action(runner, Observers(definition, live, recorder), recorder?.RunId, cancellationToken)).ConfigureAwait(false);
            }
            else
            {
                result = await action(runner, Observers(definition, new PlainProgress(cli.Error, depths), recorder, listener), recorder?.RunId, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (DefinitionException ex)
        {
            await EndUnfinishedAsync(recorder, tracking, resumeRunId, $"refused before any step: {cli.Secrets.Redact(ex.Message)}", cli.Time).ConfigureAwait(false);
            recorder = null;
            DiagnosticPrinter.Print(cli.Error, ex.Diagnostics);
            return ExitCodes.BadInput;
        }
        catch (AgentFlowException ex) when (ex is Retrieval.RetrievalException)
        {
            await EndUnfinishedAsync(recorder, tracking, resumeRunId, $"refused before any step: {cli.Secrets.Redact(ex.Message)}", cli.Time).ConfigureAwait(false);
            recorder = null;
            DiagnosticPrinter.PrintError(cli.Error, ex.Message);
            return ExitCodes.BadInput;
        }
        catch (AgentFlowException ex) when (ex is InputException or ModelConfigurationException or Messaging.MessagingConfigurationException or MemoryStoreException or RunStoreException or Execution.Tools.ToolUnavailableException)
        {
            await EndUnfinishedAsync(recorder, tracking, resumeRunId, $"refused before any step: {cli.Secrets.Redact(ex.Message)}", cli.Time).ConfigureAwait(false);
            recorder = null;
            DiagnosticPrinter.PrintError(cli.Error, ex.Message);
            return ExitCodes.BadInput;
        }
        catch (Exception ex)
        {
            // No process runs it any more: the MLflow run must not stay RUNNING.
            await EndUnfinishedAsync(recorder, tracking, resumeRunId, $"the run stopped: {ex.GetType().Name}: {cli.Secrets.Redact(ex.Message)}", cli.Time).ConfigureAwait(false);
            recorder = null;
            throw;
        }
        finally
        {
            if (recorder is not null)
            {
                await recorder.DisposeAsync().ConfigureAwait(false);
            }
        }


        if (recorder is { Problems.Count: > 0 })
        {
            cli.Error.WriteLine($"warning: run {result.RunId} was not fully recorded in MLflow ({tracking!.TrackingUri}): {recorder.Problems[0]}");
        }

        if (json)
        {
            cli.Out.WriteLine(RunResultJson.Serialize(result));
        }
        else if (result.Status != RunStatus.Waiting && !background)
        {
            PrintOutputs(cli.Out, result);
        }

        if (result.Waiting is { } waiting)
        {
            cli.Error.WriteLine(waiting.Tool is { } tool
                ? $"run {result.RunId} is waiting for approval of a call of tool '{tool}' at step '{waiting.StepId}': {Output.ToolCallText.Call(tool, waiting.Arguments ?? "{}")}"
                : $"run {result.RunId} is waiting for approval at step '{waiting.StepId}': {waiting.Message}");
            if (waiting.Deadline is { } deadline)
            {
                cli.Error.WriteLine($"  decide before {deadline:u} (then on_timeout: {waiting.OnTimeout})");
            }

            cli.Error.WriteLine($"  approve: ./agentflow approve {result.RunId} {waiting.StepId} [--comment TEXT]");
            cli.Error.WriteLine($"  reject:  ./agentflow reject {result.RunId} {waiting.StepId} [--comment TEXT]");
        }

        if (result.Error is { } error)
        {
            DiagnosticPrinter.PrintError(cli.Error, error.StepId is null ? error.Message : $"run failed at step '{error.StepId}': {error.Message}");
        }

        return result.Status switch
        {
            RunStatus.Succeeded => ExitCodes.Success,
            RunStatus.Cancelled => ExitCodes.Cancelled,
            RunStatus.Waiting => ExitCodes.Waiting,
            _ => ExitCodes.RunFailed,
        };
    }

    // A child run (workflow step or workflow tool) gets its own MLflow run, tagged with its parent; an interrupted one
    // that continues is attached to again. Its events go to its recorder only: the parent's progress shows the step.
    internal static async Task<ChildRunRecording> RecordChildAsync(CliContext cli, Tracking.MLflow.IMlflowStore tracking, ChildRunStart start, CancellationToken cancellationToken)
    {
        var logger = cli.LoggerFactory.CreateLogger<MlflowRunRecorder>();
        var recorder = start.ContinuedRunId is { } continued
            ? MlflowRunRecorder.Attach(tracking, continued, cli.Time, logger)
            : await MlflowRunRecorder.StartAsync(tracking, start.Definition, "parent", null, [new("agentflow.parent_run", start.ParentRunId)], cli.Time, logger, cancellationToken).ConfigureAwait(false);
        recorder.Secrets = cli.Secrets;
        return new ChildRunRecording(recorder.RunId, recorder, async refusal =>
        {
            if (refusal is null)
            {
                await recorder.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                await EndUnfinishedAsync(recorder, tracking, start.ContinuedRunId, refusal, cli.Time).ConfigureAwait(false);
            }
        });
    }

    // A fresh run refused or stopped before its end was recorded: ends its MLflow run as FAILED with the reason (a
    // resumed run keeps its state: it was parked or interrupted before, and can still be continued).
    private static async Task EndUnfinishedAsync(MlflowRunRecorder? recorder, Tracking.MLflow.IMlflowStore? tracking, string? resumeRunId, string reason, TimeProvider time)
    {
        if (recorder is null || tracking is null)
        {
            return;
        }

        await recorder.DisposeAsync().ConfigureAwait(false);
        if (resumeRunId is not null)
        {
            return;
        }

        try
        {
            var run = await tracking.GetRunAsync(recorder.RunId, CancellationToken.None).ConfigureAwait(false);
            if (run.Info.Status != Tracking.MLflow.MlflowRunStatus.Running)
            {
                return;
            }

            await tracking.LogBatchAsync(recorder.RunId, metrics: null, parameters: null,
                [new("agentflow.status", "failed"), new("agentflow.failed_step", "(none)"), new("agentflow.error", reason.Length > 7000 ? reason[..7000] : reason)]).ConfigureAwait(false);
            await tracking.UpdateRunAsync(recorder.RunId, Tracking.MLflow.MlflowRunStatus.Failed, time.GetUtcNow().ToUnixTimeMilliseconds()).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The refusal is what the user needs to hear; a record that cannot be ended is reported by `runs list`.
        }
    }

    private static IRunObserver Observers(WorkflowDefinition definition, IRunObserver progress, IRunObserver? recorder, IRunObserver? listener = null)
    {
        // Spans and metrics only while an exporter (TelemetryExport, serve's /metrics) listens: nothing is created otherwise.
        var tracer = Telemetry.AgentFlowTelemetry.Enabled
            ? new Telemetry.RunTracer(captureContent: string.Equals(Environment.GetEnvironmentVariable(Telemetry.AgentFlowTelemetry.CaptureContentVariable), "true", StringComparison.OrdinalIgnoreCase)) { Definition = definition }
            : null;
        return recorder is null && listener is null && tracer is null
            ? progress
            : new FanOutObserver([progress, .. new[] { recorder, listener, tracer }.OfType<IRunObserver>()]);
    }

    /// <summary>Hands every event to each observer in turn.</summary>
    private sealed class FanOutObserver(IReadOnlyList<IRunObserver> observers) : IRunObserver
    {
        public void OnEvent(RunEvent runEvent)
        {
            foreach (var observer in observers)
            {
                observer.OnEvent(runEvent);
            }
        }
    }

    private static void PrintOutputs(TextWriter writer, RunRecord record)
    {
        if (record.Outputs.Count == 1)
        {
            writer.WriteLine(record.Outputs.Values.Single());
            return;
        }

        foreach (var (name, value) in record.Outputs)
        {
            writer.WriteLine($"{name}:");
            writer.WriteLine(value);
            writer.WriteLine();
        }
    }
}
