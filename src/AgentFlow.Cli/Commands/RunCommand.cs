using System.CommandLine;
using AgentFlow.Cli.Output;
using AgentFlow.Cli.Hosting;
using AgentFlow.Cli.Progress;
using AgentFlow.Definitions;
using AgentFlow.Diagnostics;
using AgentFlow.Execution;
using AgentFlow.Memory;
using AgentFlow.Tracking.MLflow.Recording;
using AgentFlow.Models;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace AgentFlow.Cli.Commands;

/// <summary><c>agentflow run FILE</c>: validates, binds models, runs, shows live progress, prints the outputs.</summary>
internal static class RunCommand
{
    public static Command Create(Func<CliContext> context)
    {
        var file = new Argument<string>("file") { Description = "The workflow file to run." };
        var inputs = new Option<string[]>("--input", "-i") { Description = "An input value, NAME=VALUE (repeatable)." };
        var binds = new Option<string[]>("--bind", "-b") { Description = "Re-bind a model alias for this run, ALIAS=MODEL (repeatable)." };
        var config = CommonOptions.Config();
        var json = CommonOptions.Json();
        var tracking = CommonOptions.TrackingUri();
        var noRecord = new Option<bool>("--no-record") { Description = "Do not record the run in MLflow." };
        var command = new Command("run", "Run a workflow and print its outputs (exit 0 ok, 1 run failed, 2 bad input or definition).")
        {
            file, inputs, binds, config, json, tracking, noRecord,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var cli = context();
            return await RunAsync(
                cli,
                parse.GetValue(file)!,
                parse.GetValue(inputs),
                parse.GetValue(binds),
                parse.GetValue(config),
                parse.GetValue(json),
                parse.GetValue(noRecord) ? null : new RecordTarget(parse.GetValue(tracking)),
                cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    private static async Task<int> RunAsync(
        CliContext cli, string file, string[]? inputValues, string[]? bindValues, string? configPath, bool json, RecordTarget? recordTo, CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        var inputs = CommonOptions.ParsePairs("--input", inputValues, problems);
        var bindings = CommonOptions.ParsePairs("--bind", bindValues, problems);
        var loaded = WorkflowLoader.Load(file);
        DiagnosticPrinter.Print(cli.Error, loaded.Diagnostics);
        problems.ForEach(p => DiagnosticPrinter.PrintError(cli.Error, p));
        if (!loaded.Succeeded || problems.Count > 0)
        {
            return ExitCodes.BadInput;
        }

        var definition = loaded.Definition!;
        if (cli.TryLoadRegistry(configPath) is not { } registry)
        {
            return ExitCodes.BadInput;
        }

        var depths = StepRow.Depths(definition);
        RunRecord result;
        await using var tracking = recordTo is null ? null : cli.OpenTracking(recordTo.TrackingUri);
        MlflowRunRecorder? recorder = null;
        try
        {
            // Weighted split bindings choose this run's models (sticky by split_key); the choice is tagged on the run.
            var splits = await SplitAssignment.ChooseAsync(definition, RunInputs.Resolve(definition, inputs), bindings, Random.Shared, cancellationToken).ConfigureAwait(false);
            List<Tracking.MLflow.MlflowTag> splitTags = [];
            if (splits.Count > 0)
            {
                bindings = new Dictionary<string, string>(bindings, StringComparer.Ordinal);
                splits.ToList().ForEach(s => bindings[s.Alias] = s.Model);
                splitTags.Add(new(SplitAssignment.VariantTag, string.Join(",", splits.Select(s => $"{s.Alias}={s.Model}"))));
                splitTags.AddRange(splits.Select(s => new Tracking.MLflow.MlflowTag($"agentflow.split.{s.Alias}", s.Model)));
            }

            // The MLflow run is created first: its id is the run's id, so `runs show ID` finds it directly.
            recorder = tracking is null ? null : await MlflowRunRecorder.StartAsync(tracking, definition, "cli", null, splitTags, cli.Time, cli.LoggerFactory.CreateLogger<MlflowRunRecorder>(), cancellationToken).ConfigureAwait(false);
            var request = new RunRequest(definition) { Inputs = inputs, Bindings = bindings, RunId = recorder?.RunId };
            var models = new ModelHost(registry, cli.CreateProviders());
            var bound = models.ModelsFor(definition, bindings).Select(s => s.Name).ToList();
            await using var runtime = await ModelRuntime.StartOrchestratorAsync(cli, models, bound, cancellationToken).ConfigureAwait(false);
            // Only workflows with memory open the conversation store (no file or Redis connection otherwise).
            await using var store = definition.Memory is null ? null : await cli.OpenConversationStoreAsync(registry, cancellationToken).ConfigureAwait(false);
            var runner = new WorkflowRunner(models, runtime.Gateway, cli.Time, cli.LoggerFactory.CreateLogger<WorkflowRunner>(), store?.AsConversationMemory());
            if (cli.ErrorIsTerminal)
            {
                var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(cli.Error) });
                var live = new LiveProgress(console, depths, cli.Time);
                result = await live.ShowWhileAsync(() => runner.RunAsync(request, Observers(live, recorder), cancellationToken)).ConfigureAwait(false);
            }
            else
            {
                result = await runner.RunAsync(request, Observers(new PlainProgress(cli.Error, depths), recorder), cancellationToken).ConfigureAwait(false);
            }
        }
        catch (AgentFlowException ex) when (ex is InputException or ModelConfigurationException or Messaging.MessagingConfigurationException or Memory.MemoryStoreException)
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

        var record = result;
        if (recorder is { Problems.Count: > 0 })
        {
            cli.Error.WriteLine($"warning: run {record.RunId} was not fully recorded in MLflow ({tracking!.TrackingUri}): {recorder.Problems[0]}");
        }

        if (json)
        {
            cli.Out.WriteLine(RunResultJson.Serialize(record));
        }
        else
        {
            PrintOutputs(cli.Out, record);
        }

        if (record.Error is { } error)
        {
            DiagnosticPrinter.PrintError(cli.Error, error.StepId is null ? error.Message : $"run failed at step '{error.StepId}': {error.Message}");
        }

        return record.Status switch
        {
            RunStatus.Succeeded => ExitCodes.Success,
            RunStatus.Cancelled => ExitCodes.Cancelled,
            _ => ExitCodes.RunFailed,
        };
    }

    private static IRunObserver Observers(IRunObserver progress, IRunObserver? recorder) =>
        recorder is null ? progress : new FanOutObserver([progress, recorder]);

    /// <summary>Where to record the run.</summary>
    private sealed record RecordTarget(string? TrackingUri);

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
