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

        // Weighted split bindings choose this run's models (sticky by split_key); the choice is tagged on the run.
        List<Tracking.MLflow.MlflowTag> splitTags = [];
        try
        {
            var splits = await SplitAssignment.ChooseAsync(definition, RunInputs.Resolve(definition, inputs), bindings, Random.Shared, cancellationToken).ConfigureAwait(false);
            if (splits.Count > 0)
            {
                bindings = new Dictionary<string, string>(bindings, StringComparer.Ordinal);
                splits.ToList().ForEach(s => bindings[s.Alias] = s.Model);
                splitTags.Add(new(SplitAssignment.VariantTag, string.Join(",", splits.Select(s => $"{s.Alias}={s.Model}"))));
                splitTags.AddRange(splits.Select(s => new Tracking.MLflow.MlflowTag($"agentflow.split.{s.Alias}", s.Model)));
            }
        }
        catch (InputException ex)
        {
            DiagnosticPrinter.PrintError(cli.Error, ex.Message);
            return ExitCodes.BadInput;
        }

        var host = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [RunHost.ConfigKey] = configPath is null ? string.Empty : Path.GetFullPath(configPath, cli.WorkingDirectory),
            [RunHost.RecordKey] = recordTo is null ? "false" : "true",
            [RunHost.TrackingKey] = recordTo?.TrackingUri ?? string.Empty,
        };
        var bound = bindings;
        return await RunHost.ExecuteAsync(cli, definition, registry, bound, host, resumeRunId: null, json,
            (runner, observer, runId, ct) => runner.RunAsync(
                new RunRequest(definition) { Inputs = inputs, Bindings = bound, RunId = runId, Host = host }, observer, ct),
            cancellationToken, splitTags).ConfigureAwait(false);
    }

    /// <summary>Where to record the run.</summary>
    private sealed record RecordTarget(string? TrackingUri);
}
