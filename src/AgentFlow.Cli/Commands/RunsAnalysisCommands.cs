using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentFlow.Cli.Hosting;
using AgentFlow.Cli.Output;
using AgentFlow.Server;
using AgentFlow.Cli.Progress;
using AgentFlow.Definitions;
using AgentFlow.Execution;
using AgentFlow.Experiments.Cases;
using AgentFlow.Experiments.Replay;
using AgentFlow.Experiments.Runs;
using AgentFlow.Tracking.MLflow;
using AgentFlow.Tracking.MLflow.Recording;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Cli.Commands;

/// <summary><c>agentflow runs compare|diff|replay</c>: recorded runs side by side, step by step, and re-run with a swapped model.</summary>
internal static class RunsAnalysisCommands
{
    /// <summary>Tag linking a replayed run to the run it replays.</summary>
    public const string ReplayedFromTag = "agentflow.replayed_from";

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Command Compare(Func<CliContext> context)
    {
        var ids = new Argument<string[]>("run-ids") { Description = "Two or more run ids.", Arity = new ArgumentArity(2, 20) };
        var json = CommonOptions.Json();
        var tracking = CommonOptions.TrackingUri();
        var command = new Command("compare", "Recorded runs side by side: bindings, metrics and each step's output.") { ids, json, tracking };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var cli = context();
            await using var store = cli.OpenTracking(parse.GetValue(tracking));
            var runs = new List<RecordedRun>();
            foreach (var id in parse.GetValue(ids)!)
            {
                runs.Add(await LoadAsync(store, id, cancellationToken).ConfigureAwait(false));
            }

            var labels = runs.SelectMany(r => r.FinalSteps().Select(s => s.Label)).Distinct(StringComparer.Ordinal).ToList();
            if (parse.GetValue(json))
            {
                var array = new JsonArray();
                foreach (var run in runs)
                {
                    var summary = RunDiff.Run(run);
                    summary["steps"] = new JsonObject(run.FinalSteps().Select(s => KeyValuePair.Create(s.Label, (JsonNode?)RunDiff.Step(s))));
                    array.Add(summary);
                }

                cli.Out.WriteLine(new JsonObject { ["runs"] = array }.ToJsonString(Indented));
                return ExitCodes.Success;
            }

            var rows = new List<(string Name, List<string> Cells)>
            {
                ("run", runs.Select(r => r.RunId[..Math.Min(12, r.RunId.Length)]).ToList()),
                ("workflow", runs.Select(r => r.Workflow).ToList()),
                ("status", runs.Select(r => r.Status).ToList()),
            };
            foreach (var alias in runs.SelectMany(r => r.Bindings.Keys).Distinct(StringComparer.Ordinal))
            {
                rows.Add(($"model {alias}", runs.Select(r => r.Bindings.GetValueOrDefault(alias) ?? "-").ToList()));
            }

            rows.Add(("latency ms", runs.Select(r => r.LatencyMs.ToString("F0", CultureInfo.InvariantCulture)).ToList()));
            rows.Add(("tokens in/out", runs.Select(r => $"{r.InputTokens}/{r.OutputTokens}").ToList()));
            rows.Add(("cost usd", runs.Select(r => r.CostUsd?.ToString("0.######", CultureInfo.InvariantCulture) ?? "-").ToList()));
            foreach (var label in labels)
            {
                var steps = runs.Select(r => r.FinalSteps().FirstOrDefault(s => s.Label == label)).ToList();
                rows.Add(($"{label} model", steps.Select(s => s?.Model ?? (s is null ? "-" : s.Kind)).ToList()));
                rows.Add(($"{label} ms, tokens", steps.Select(s => s is null ? "-" : string.Create(CultureInfo.InvariantCulture, $"{s.LatencyMs:F0}, {s.InputTokens ?? 0}/{s.OutputTokens ?? 0}{(s.ReplayedFrom is null ? string.Empty : " (replayed)")}")).ToList()));
            }

            var nameWidth = rows.Max(r => r.Name.Length);
            var widths = Enumerable.Range(0, runs.Count).Select(i => rows.Max(r => r.Cells[i].Length)).ToArray();
            foreach (var (name, cells) in rows)
            {
                cli.Out.WriteLine((name.PadRight(nameWidth) + "  " + string.Join("  ", cells.Select((c, i) => c.PadRight(widths[i])))).TrimEnd());
            }

            foreach (var label in labels)
            {
                cli.Out.WriteLine();
                cli.Out.WriteLine($"── {label}");
                foreach (var run in runs)
                {
                    var step = run.FinalSteps().FirstOrDefault(s => s.Label == label);
                    cli.Out.WriteLine($"   {run.RunId[..Math.Min(12, run.RunId.Length)]}: {(step is null ? "(did not run)" : step.Output)}");
                }
            }

            return ExitCodes.Success;
        });
        return command;
    }

    public static Command Diff(Func<CliContext> context)
    {
        var a = new Argument<string>("run-a") { Description = "The first run (e.g. the original)." };
        var b = new Argument<string>("run-b") { Description = "The second run (e.g. the replay)." };
        var json = CommonOptions.Json();
        var tracking = CommonOptions.TrackingUri();
        var command = new Command("diff", "Two recorded runs step by step: output diff ([-old-]{+new+}), tokens, latency, cost.") { a, b, json, tracking };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var cli = context();
            await using var store = cli.OpenTracking(parse.GetValue(tracking));
            var runA = await LoadAsync(store, parse.GetValue(a)!, cancellationToken).ConfigureAwait(false);
            var runB = await LoadAsync(store, parse.GetValue(b)!, cancellationToken).ConfigureAwait(false);
            var steps = RunDiff.Build(runA, runB);
            if (parse.GetValue(json))
            {
                cli.Out.WriteLine(RunDiff.ToJson(runA, runB, steps).ToJsonString(Indented));
                return ExitCodes.Success;
            }

            cli.Out.WriteLine($"a: {runA.RunId} {runA.Status} {string.Join(",", runA.Bindings.Select(p => $"{p.Key}={p.Value}"))}");
            cli.Out.WriteLine($"b: {runB.RunId} {runB.Status} {string.Join(",", runB.Bindings.Select(p => $"{p.Key}={p.Value}"))}");
            foreach (var step in steps)
            {
                cli.Out.WriteLine();
                cli.Out.WriteLine($"── {step.Label}  {(step.SameOutput ? "same output" : "output differs")}");
                cli.Out.WriteLine($"   model    {Cell(step.A, s => s.Model ?? s.Kind)} -> {Cell(step.B, s => s.Model ?? s.Kind)}");
                cli.Out.WriteLine($"   tokens   {Cell(step.A, s => $"{s.InputTokens ?? 0}/{s.OutputTokens ?? 0}")} -> {Cell(step.B, s => $"{s.InputTokens ?? 0}/{s.OutputTokens ?? 0}")}");
                cli.Out.WriteLine($"   latency  {Cell(step.A, s => s.LatencyMs.ToString("F0", CultureInfo.InvariantCulture) + " ms")} -> {Cell(step.B, s => s.LatencyMs.ToString("F0", CultureInfo.InvariantCulture) + " ms")}");
                cli.Out.WriteLine($"   cost     {Cell(step.A, s => s.CostUsd?.ToString("0.######", CultureInfo.InvariantCulture) ?? "-")} -> {Cell(step.B, s => s.CostUsd?.ToString("0.######", CultureInfo.InvariantCulture) ?? "-")}");
                if (step.B?.ReplayedFrom is { } from)
                {
                    cli.Out.WriteLine($"   replayed from {from}");
                }

                cli.Out.WriteLine($"   output   {(step.SameOutput ? step.A!.Output : step.OutputDiff)}");
            }

            cli.Out.WriteLine();
            cli.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"total: tokens {runA.InputTokens}/{runA.OutputTokens} -> {runB.InputTokens}/{runB.OutputTokens}, latency {runA.LatencyMs:F0} -> {runB.LatencyMs:F0} ms, {steps.Count(s => !s.SameOutput)} of {steps.Count} step outputs differ"));
            return ExitCodes.Success;
        });
        return command;
    }

    public static Command Replay(Func<CliContext> context)
    {
        var id = new Argument<string>("run-id") { Description = "The recorded run to replay." };
        var binds = new Option<string[]>("--bind", "-b") { Description = "Re-bind a model alias for the replay, ALIAS=MODEL (repeatable)." };
        var from = new Option<string?>("--from") { Description = "Run this step and everything after it live; steps before it reuse their recorded outputs (default: the first re-bound step)." };
        var config = CommonOptions.Config();
        var json = CommonOptions.Json();
        var tracking = CommonOptions.TrackingUri();
        var command = new Command("replay", "Re-run a recorded run with the same inputs and workflow: steps before the re-bound (or --from) step reuse their recorded outputs, the rest run live.")
        {
            id, binds, from, config, json, tracking,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var cli = context();
            try
            {
                return await ReplayAsync(cli, parse.GetValue(id)!, parse.GetValue(binds), parse.GetValue(from), parse.GetValue(config), parse.GetValue(json), parse.GetValue(tracking), cancellationToken).ConfigureAwait(false);
            }
            catch (AgentFlowException ex) when (ex is ExperimentInputException or InputException or ModelConfigurationException or Messaging.MessagingConfigurationException)
            {
                DiagnosticPrinter.PrintError(cli.Error, ex.Message);
                return ExitCodes.BadInput;
            }
        });
        return command;
    }

    private static async Task<int> ReplayAsync(
        CliContext cli, string runId, string[]? bindValues, string? from, string? configPath, bool json, string? trackingUri, CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        var rebinds = CommonOptions.ParsePairs("--bind", bindValues, problems);
        problems.ForEach(p => DiagnosticPrinter.PrintError(cli.Error, p));
        if (problems.Count > 0)
        {
            return ExitCodes.BadInput;
        }

        await using var store = cli.OpenTracking(trackingUri);
        var original = await LoadAsync(store, runId, cancellationToken).ConfigureAwait(false);
        var source = await store.ReadTextArtifactAsync(original.RunId, "workflow.yaml", cancellationToken).ConfigureAwait(false);
        // The recorded text, read as if at its recorded place, so workflow steps and workflow tools find their files.
        var recordedPath = (await store.GetRunAsync(original.RunId, cancellationToken).ConfigureAwait(false)).Param("workflow.path");
        var loaded = WorkflowLoader.Parse(source, recordedPath is not null && File.Exists(recordedPath) ? recordedPath : $"{original.RunId}/workflow.yaml");
        DiagnosticPrinter.Print(cli.Error, loaded.Diagnostics);
        if (!loaded.Succeeded)
        {
            return ExitCodes.BadInput;
        }

        var definition = loaded.Definition!;
        var bindings = new Dictionary<string, string>(original.Bindings, StringComparer.Ordinal);
        foreach (var (alias, model) in rebinds)
        {
            bindings[alias] = model;
        }

        var plan = ReplayPlanner.Plan(definition, original, bindings, from);
        var inputs = original.Inputs.Where(p => p.Value is not null).ToDictionary(p => p.Key, p => p.Value is JsonValue v && v.TryGetValue<string>(out var s) ? s : p.Value!.ToJsonString(), StringComparer.Ordinal);
        if (cli.TryLoadRegistry(configPath) is not { } registry)
        {
            return ExitCodes.BadInput;
        }

        cli.Error.WriteLine($"replaying run {original.RunId}: {plan.Replay.Outputs.Count} recorded step output(s) reused, live from step '{plan.LiveFrom}'" +
            (plan.Rebound.Count == 0 ? string.Empty : $" (re-bound: {string.Join(", ", plan.Rebound.Select(a => $"{a}={bindings[a]}"))})"));
        await using var host = await RunnerHost.StartAsync(cli, registry, definition, [bindings], [], cancellationToken, childTracking: store).ConfigureAwait(false);
        var recorder = await MlflowRunRecorder.StartAsync(store, definition, "replay", null, [new(ReplayedFromTag, original.RunId)], cli.Time, cli.LoggerFactory.CreateLogger<MlflowRunRecorder>(), cancellationToken).ConfigureAwait(false);
        RunRecord record;
        try
        {
            var request = new RunRequest(definition) { Inputs = inputs, Bindings = bindings, RunId = recorder.RunId, Replay = plan.Replay };
            var progress = new PlainProgress(cli.Error, StepRow.Depths(definition));
            record = await host.Runner.RunAsync(request, new Both(progress, recorder), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await recorder.DisposeAsync().ConfigureAwait(false);
        }

        if (recorder.Problems.Count > 0)
        {
            cli.Error.WriteLine($"warning: run {record.RunId} was not fully recorded in MLflow ({store.TrackingUri}): {recorder.Problems[0]}");
        }

        if (json)
        {
            var result = JsonNode.Parse(RunResultJson.Serialize(record))!.AsObject();
            result["replayed_from"] = original.RunId;
            result["live_from"] = plan.LiveFrom;
            result["reused_steps"] = new JsonArray([.. record.Steps.Where(s => s.ReplayedFrom is not null).Select(s => (JsonNode?)(s.Iteration is { } i ? $"{s.Id}#{i}" : s.Id))]);
            cli.Out.WriteLine(result.ToJsonString(Indented));
        }
        else
        {
            foreach (var (name, value) in record.Outputs)
            {
                cli.Out.WriteLine(record.Outputs.Count == 1 ? value : $"{name}:\n{value}\n");
            }

            cli.Out.WriteLine($"run {record.RunId} replays {original.RunId}; compare: ./agentflow runs diff {original.RunId} {record.RunId}");
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

    private sealed class Both(IRunObserver first, IRunObserver second) : IRunObserver
    {
        public void OnEvent(RunEvent runEvent)
        {
            first.OnEvent(runEvent);
            second.OnEvent(runEvent);
        }
    }

    private static string Cell(RecordedStep? step, Func<RecordedStep, string> value) => step is null ? "(did not run)" : value(step);

    private static async Task<RecordedRun> LoadAsync(IMlflowStore store, string runId, CancellationToken cancellationToken)
    {
        string text;
        try
        {
            text = await store.ReadTextArtifactAsync(runId, RunTranscript.TranscriptPath, cancellationToken).ConfigureAwait(false);
        }
        catch (MlflowException ex)
        {
            throw new ExperimentInputException($"run '{runId}' has no transcript in {store.TrackingUri} ({ex.Message}); list runs with ./agentflow runs list");
        }

        return RecordedRun.FromTranscript(JsonNode.Parse(text)!.AsObject());
    }
}
