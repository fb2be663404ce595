using AgentFlow.Cli.Hosting;
using AgentFlow.Cli.Output;
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
        IReadOnlyList<Tracking.MLflow.MlflowTag>? tags = null, bool background = false, IRunObserver? listener = null)
    {
        var record = host.GetValueOrDefault(RecordKey) != "false";
        var trackingUri = host.GetValueOrDefault(TrackingKey) is { Length: > 0 } uri ? uri : null;
        var depths = StepRow.Depths(definition);
        RunRecord result;
        await using var tracking = record ? cli.OpenTracking(trackingUri) : null;
        MlflowRunRecorder? recorder = null;
        try
        {
            // The MLflow run is created first: its id is the run's id, so `runs show ID` finds it directly.
            var logger = cli.LoggerFactory.CreateLogger<MlflowRunRecorder>();
            recorder = tracking is null ? null
                : resumeRunId is not null ? MlflowRunRecorder.Attach(tracking, resumeRunId, cli.Time, logger)
                : await MlflowRunRecorder.StartAsync(tracking, definition, "cli", null, tags ?? [], cli.Time, logger, cancellationToken).ConfigureAwait(false);
            var models = new ModelHost(registry, cli.CreateProviders());
            var bound = models.ModelsFor(definition, bindings).Select(s => s.Name).ToList();
            await using var runtime = await ModelRuntime.StartOrchestratorAsync(cli, models, bound, cancellationToken).ConfigureAwait(false);
            // Only workflows with memory open the conversation store (no file or Redis connection otherwise).
            await using var store = definition.Memory is null ? null : await cli.OpenConversationStoreAsync(registry, cancellationToken).ConfigureAwait(false);
            await using var runs = await cli.OpenRunStoreAsync(registry, cancellationToken).ConfigureAwait(false);
            // Only workflows with retrieve steps open collections (and load an embedder).
            await using var collections = definition.AllSteps().OfType<RetrieveStepDefinition>().Any() ? cli.OpenCollections(registry) : null;
            var runner = new WorkflowRunner(models, runtime.Gateway, cli.Time, cli.LoggerFactory.CreateLogger<WorkflowRunner>(), store?.AsConversationMemory(), runs) { Retriever = collections };
            if (cli.ErrorIsTerminal && !background)
            {
                var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(cli.Error) });
                var live = new LiveProgress(console, depths, cli.Time);
                result = await live.ShowWhileAsync(() => action(runner, Observers(live, recorder), recorder?.RunId, cancellationToken)).ConfigureAwait(false);
            }
            else
            {
                result = await action(runner, Observers(new PlainProgress(cli.Error, depths), recorder, listener), recorder?.RunId, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (DefinitionException ex)
        {
            DiagnosticPrinter.Print(cli.Error, ex.Diagnostics);
            return ExitCodes.BadInput;
        }
        catch (AgentFlowException ex) when (ex is Retrieval.RetrievalException)
        {
            DiagnosticPrinter.PrintError(cli.Error, ex.Message);
            return ExitCodes.BadInput;
        }
        catch (AgentFlowException ex) when (ex is InputException or ModelConfigurationException or Messaging.MessagingConfigurationException or MemoryStoreException or RunStoreException)
        {
            DiagnosticPrinter.PrintError(cli.Error, ex.Message);
            return ExitCodes.BadInput;
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
            cli.Error.WriteLine($"run {result.RunId} is waiting for approval at step '{waiting.StepId}': {waiting.Message}");
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

    private static IRunObserver Observers(IRunObserver progress, IRunObserver? recorder, IRunObserver? listener = null) =>
        recorder is null && listener is null ? progress : new FanOutObserver([progress, .. new[] { recorder, listener }.OfType<IRunObserver>()]);

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
