using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentFlow.Cli.Output;
using AgentFlow.Definitions;
using AgentFlow.Tracking.MLflow;
using AgentFlow.Tracking.MLflow.Audit;
using AgentFlow.Tracking.MLflow.Recording;

namespace AgentFlow.Cli.Commands;

/// <summary>
/// <c>agentflow runs list|show|export|verify</c>: run history for reviewers, read through the same store the runs
/// were recorded in (the embedded MLflow SQLite store, or an MLflow server over REST).
/// </summary>
internal static class RunsCommand
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Command Create(Func<CliContext> context)
    {
        var command = new Command("runs", "Recorded runs: list, show a transcript, export, verify the seal, audit chain and ledger, resume an interrupted run.");
        command.Add(List(context));
        command.Add(Show(context));
        command.Add(Export(context));
        command.Add(Verify(context));
        command.Add(ApprovalCommands.Resume(context));
        command.Add(RunsAnalysisCommands.Compare(context));
        command.Add(RunsAnalysisCommands.Diff(context));
        command.Add(RunsAnalysisCommands.Replay(context));
        return command;
    }

    private static Command List(Func<CliContext> context)
    {
        var workflow = new Option<string?>("--workflow", "-w") { Description = "Only runs of this workflow (the MLflow experiment); default: every workflow." };
        var status = new Option<string?>("--status") { Description = "succeeded, failed or cancelled." };
        var since = new Option<string?>("--since") { Description = "Only runs started within this duration, e.g. 7d, 24h." };
        var limit = new Option<int>("--limit") { Description = "Most runs to list (newest first).", DefaultValueFactory = _ => 50 };
        var json = CommonOptions.Json();
        var tracking = CommonOptions.TrackingUri();
        var command = new Command("list", "List recorded runs, newest first.") { workflow, status, since, limit, json, tracking };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var cli = context();
            var filters = new List<string>();
            if (parse.GetValue(status) is { } s)
            {
                var mlflowStatus = s switch { "succeeded" => "FINISHED", "failed" => "FAILED", "cancelled" => "KILLED", "running" => "RUNNING", _ => null };
                if (mlflowStatus is null)
                {
                    DiagnosticPrinter.PrintError(cli.Error, $"--status '{s}' must be succeeded, failed, cancelled or running");
                    return ExitCodes.BadInput;
                }

                filters.Add($"attributes.status = '{mlflowStatus}'");
            }

            if (parse.GetValue(since) is { } window)
            {
                if (!DurationText.TryParse(window, TimeSpan.Zero, WorkflowLimits.MaxDuration, out var span))
                {
                    DiagnosticPrinter.PrintError(cli.Error, $"--since '{window}' must be a duration {DurationText.Range(TimeSpan.Zero, WorkflowLimits.MaxDuration)}, such as 7d, 24h or 30m");
                    return ExitCodes.BadInput;
                }

                filters.Add(string.Create(CultureInfo.InvariantCulture, $"attributes.start_time >= {(cli.Time.GetUtcNow() - span).ToUnixTimeMilliseconds()}"));
            }

            await using var store = cli.OpenTracking(parse.GetValue(tracking));
            IReadOnlyList<MlflowExperiment> experiments = parse.GetValue(workflow) is { } name
                ? await store.GetExperimentByNameAsync(name, cancellationToken).ConfigureAwait(false) is { } one ? [one] : []
                : await store.ListExperimentsAsync(cancellationToken).ConfigureAwait(false);
            var runs = experiments.Count == 0
                ? []
                : (await store.SearchRunsAsync(
                    new MlflowRunQuery
                    {
                        ExperimentIds = [.. experiments.Select(e => e.ExperimentId)],
                        Filter = filters.Count == 0 ? null : string.Join(" and ", filters),
                        OrderBy = ["attributes.start_time DESC"],
                        MaxResults = Math.Max(1, parse.GetValue(limit)),
                    },
                    cancellationToken).ConfigureAwait(false)).Runs;
            if (parse.GetValue(json))
            {
                var array = new JsonArray();
                foreach (var run in runs)
                {
                    array.Add(Summary(run));
                }

                cli.Out.WriteLine(array.ToJsonString(Indented));
                return ExitCodes.Success;
            }

            cli.Out.WriteLine($"{"RUN ID",-32}  {"WORKFLOW",-20}  {"STARTED (UTC)",-19}  {"STATUS",-9}  {"MS",8}  {"TOKENS",7}  BINDINGS");
            foreach (var run in runs)
            {
                var bindings = string.Join(",", run.Params.Where(p => p.Key.StartsWith("model.", StringComparison.Ordinal) && p.Key.Count(c => c == '.') == 1).Select(p => $"{p.Key[6..]}={p.Value}"));
                var tokens = (run.Metric("run.input_tokens") ?? 0) + (run.Metric("run.output_tokens") ?? 0);
                cli.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{run.Info.RunId,-32}  {run.Tag("agentflow.workflow"),-20}  {Started(run),-19}  {run.Tag("agentflow.status") ?? run.Info.Status.ToString(),-9}  {run.Metric("run.latency_ms") ?? 0,8:F0}  {tokens,7:F0}  {bindings}"));
            }

            if (runs.Count == 0)
            {
                cli.Error.WriteLine($"no recorded runs{(parse.GetValue(workflow) is { } w ? $" of workflow '{w}'" : string.Empty)} in {store.TrackingUri}");
            }

            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Show(Func<CliContext> context)
    {
        var (id, tracking, command) = RunCommandShape("show", "Print a run's transcript: each step's model, prompt, answer, tokens, latency, cost.");
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var cli = context();
            await using var store = cli.OpenTracking(parse.GetValue(tracking));
            var (run, transcript) = await LoadAsync(store, parse.GetValue(id)!, cancellationToken).ConfigureAwait(false);
            cli.Out.WriteLine($"run {run.Info.RunId}  {transcript["workflow"]} v{transcript["workflow_version"]}  {transcript["status"]}  started {transcript["started"]}");
            cli.Out.WriteLine($"bindings: {transcript["bindings"]?.ToJsonString()}");
            if (transcript["parent_run"] is { } parent)
            {
                cli.Out.WriteLine($"parent run: {parent}");
            }
            foreach (var step in transcript["steps"]!.AsArray())
            {
                var s = step!.AsObject();
                var where = s["worker"] is null ? string.Empty : $" on {s["worker"]}";
                cli.Out.WriteLine();
                cli.Out.WriteLine($"── {s["id"]}{(s["iteration"] is null ? string.Empty : $" #{s["iteration"]}")} [{s["kind"]}{(s["model"] is null ? string.Empty : $" {s["model"]}{where}")}] attempt {s["attempt"]} {s["status"]}  {s["latency_ms"]} ms" +
                    (s["input_tokens"] is null ? string.Empty : $", tokens {s["input_tokens"]} in / {s["output_tokens"]} out") +
                    (s["cost_usd"] is null ? string.Empty : $", ${s["cost_usd"]}"));
                if (s["system"] is { } system)
                {
                    cli.Out.WriteLine($"   system: {system}");
                }

                if (s["prompt"] is { } prompt)
                {
                    cli.Out.WriteLine($"   prompt: {prompt}");
                }

                if (s["child_run"] is { } child)
                {
                    cli.Out.WriteLine($"   child run: {child} (agentflow runs show {child})");
                }

                if (s["retrieval"] is JsonObject retrieval)
                {
                    cli.Out.WriteLine($"   searched: {retrieval["collection"]} (top {retrieval["top_k"]})");
                    foreach (var chunk in retrieval["chunks"]?.AsArray() ?? [])
                    {
                        cli.Out.WriteLine($"   source: {chunk!["source"]}{(chunk["heading"] is { } heading ? $" › {heading}" : string.Empty)}  score {chunk["score"]}  [{chunk["id"]}]");
                    }
                }

                if (s["approval"] is JsonObject approval)
                {
                    cli.Out.WriteLine($"   asked:  {approval["message"]}");
                    if (approval["decision"] is { } decision)
                    {
                        cli.Out.WriteLine($"   decision: {decision} by {approval["decided_by"]} at {approval["decided_at"]}{(approval["comment"] is { } c ? $": {c}" : string.Empty)}");
                    }
                }

                foreach (var call in (s["tool_calls"] as JsonArray ?? []).OfType<JsonObject>())
                {
                    cli.Out.WriteLine($"   tool:   {call["name"]} {call["arguments"]} -> {call["status"]} {call["latency_ms"]} ms" +
                        (call["error"] is { } callError ? $": {callError}" : $", {call["result_bytes"]} bytes sha256 {call["result_sha256"]?.GetValue<string>()[..12]}…") +
                        (call["approval"] is JsonObject { } callApproval && callApproval["decision"] is { } callDecision
                            ? $" ({callDecision} by {callApproval["decided_by"]} at {callApproval["decided_at"]}{(callApproval["comment"] is { } callComment ? $": {callComment}" : string.Empty)})"
                            : call["status"]?.GetValue<string>() == "waiting" ? " (waiting for a decision)" : string.Empty) +
                        (call["child_run"] is { } childRun ? $" (child run {childRun})" : string.Empty) +
                        (call["replayed_from"] is { } from ? $" (replayed from {from})" : string.Empty));
                    if (call["retrieval"] is JsonObject callRetrieval)
                    {
                        // A retrieve tool: the sources, as for a retrieve step, instead of the chunks' JSON.
                        foreach (var chunk in callRetrieval["chunks"]?.AsArray() ?? [])
                        {
                            cli.Out.WriteLine($"           source: {chunk!["source"]}{(chunk["heading"] is { } heading ? $" › {heading}" : string.Empty)}  score {chunk["score"]}  [{chunk["id"]}]");
                        }
                    }
                    else if (call["result"] is { } callResult && call["error"] is null)
                    {
                        cli.Out.WriteLine($"           {callResult}");
                    }
                }

                cli.Out.WriteLine($"   answer: {s["output"]}");
                if (s["error"] is { } error)
                {
                    cli.Out.WriteLine($"   error:  {error}");
                }
            }

            if (transcript["error"] is JsonObject failure)
            {
                cli.Out.WriteLine();
                cli.Out.WriteLine($"failed at step '{failure["step"]}': {failure["message"]}");
            }

            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Export(Func<CliContext> context)
    {
        var (id, tracking, command) = RunCommandShape("export", "Print everything recorded for a run as JSON: params, metrics, tags and transcript.");
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var cli = context();
            await using var store = cli.OpenTracking(parse.GetValue(tracking));
            var (run, transcript) = await LoadAsync(store, parse.GetValue(id)!, cancellationToken).ConfigureAwait(false);
            var export = Summary(run);
            export["params"] = new JsonObject(run.Params.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value)));
            export["metrics"] = new JsonObject(run.Metrics.Select(m => KeyValuePair.Create(m.Key, (JsonNode?)m.Value)));
            export["tags"] = new JsonObject(run.Tags.Select(t => KeyValuePair.Create(t.Key, (JsonNode?)t.Value)));
            export["transcript"] = transcript;
            cli.Out.WriteLine(export.ToJsonString(Indented));
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Verify(Func<CliContext> context)
    {
        var id = new Argument<string?>("run-id") { Description = "The run id (printed by run and runs list).", Arity = ArgumentArity.ZeroOrOne };
        var all = new Option<bool>("--all") { Description = "Check the ledger, then verify every run in the store." };
        var ledgerOnly = new Option<bool>("--ledger") { Description = "Check the ledger: its lines, and that every run it names still exists with the seal it names." };
        var json = CommonOptions.Json();
        var tracking = CommonOptions.TrackingUri();
        var command = new Command(
            "verify",
            "Check a run against its signed seal, step chain and ledger line (exit 0 verified, 3 waiting at an approval, 1 otherwise, naming what was altered); --ledger or --all checks the whole ledger, naming deleted and replaced runs.")
        {
            id, all, ledgerOnly, json, tracking,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var cli = context();
            var runId = parse.GetValue(id);
            var wholeLedger = parse.GetValue(all) || parse.GetValue(ledgerOnly);
            if ((runId is null) == !wholeLedger)
            {
                DiagnosticPrinter.PrintError(cli.Error, "give a run id, or --ledger / --all (not both)");
                return ExitCodes.BadInput;
            }

            var key = AuditKey.Load(name => cli.Environment.GetValueOrDefault(name));
            await using var store = cli.OpenTracking(parse.GetValue(tracking));
            var verifier = new RunVerifier(store, key, RunLedger.ForStore(store, cli.WorkingDirectory, cli.Time));
            if (runId is not null)
            {
                var result = await verifier.VerifyRunAsync(runId, cancellationToken).ConfigureAwait(false);
                if (parse.GetValue(json))
                {
                    cli.Out.WriteLine(result.ToJson().ToJsonString(Indented));
                }
                else
                {
                    PrintVerification(cli.Out, result);
                }

                return result.Ok ? ExitCodes.Success : result.Outcome == VerificationOutcome.Waiting ? ExitCodes.Waiting : ExitCodes.RunFailed;
            }

            var ledger = await verifier.VerifyLedgerAsync(parse.GetValue(all), cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                cli.Out.WriteLine(ledger.ToJson().ToJsonString(Indented));
                return ledger.Ok ? ExitCodes.Success : ExitCodes.RunFailed;
            }

            foreach (var run in ledger.Runs)
            {
                PrintVerification(cli.Out, run);
            }

            foreach (var problem in ledger.Problems)
            {
                cli.Out.WriteLine($"ledger: {problem}");
            }

            var runsVerified = ledger.Runs.Count == 0 ? string.Empty : string.Create(CultureInfo.InvariantCulture, $"; {ledger.Runs.Count(r => r.Ok)} of {ledger.Runs.Count} runs verified");
            cli.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"ledger {ledger.Ledger.Path}: {ledger.Ledger.Entries.Count} sealed runs, head {ledger.Ledger.Head ?? "(empty)"}: {(ledger.Problems.Count == 0 ? "intact" : "ALTERED")}{runsVerified}"));
            return ledger.Ok ? ExitCodes.Success : ExitCodes.RunFailed;
        });
        return command;
    }

    private static void PrintVerification(TextWriter output, RunVerification result)
    {
        output.WriteLine($"run {result.RunId}: {result.Label}: {result.Message}");
        foreach (var problem in result.Problems.Skip(1))
        {
            output.WriteLine($"  - {problem}");
        }

        foreach (var note in result.Notes)
        {
            output.WriteLine($"  note: {note}");
        }
    }

    private static (Argument<string> Id, Option<string?> Tracking, Command Command) RunCommandShape(string name, string description)
    {
        var id = new Argument<string>("run-id") { Description = "The run id (printed by run and runs list)." };
        var tracking = CommonOptions.TrackingUri();
        return (id, tracking, new Command(name, description) { id, tracking });
    }

    private static async Task<(MlflowRun Run, JsonObject Transcript)> LoadAsync(IMlflowStore store, string runId, CancellationToken cancellationToken)
    {
        var run = await store.GetRunAsync(runId, cancellationToken).ConfigureAwait(false);
        var text = await store.ReadTextArtifactAsync(runId, RunTranscript.TranscriptPath, cancellationToken).ConfigureAwait(false);
        return (run, JsonNode.Parse(text)!.AsObject());
    }

    private static JsonObject Summary(MlflowRun run) => new()
    {
        ["run_id"] = run.Info.RunId,
        ["name"] = run.Info.RunName,
        ["workflow"] = run.Tag("agentflow.workflow"),
        ["status"] = run.Tag("agentflow.status") ?? run.Info.Status.ToString().ToLowerInvariant(),
        ["started"] = Started(run),
        ["latency_ms"] = run.Metric("run.latency_ms"),
        ["input_tokens"] = run.Metric("run.input_tokens"),
        ["output_tokens"] = run.Metric("run.output_tokens"),
        ["cost_usd"] = run.Metric("run.cost_usd"),
        ["failed_step"] = run.Tag("agentflow.failed_step"),
    };

    private static string Started(MlflowRun run) =>
        run.Info.StartTime is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms).UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) : string.Empty;
}
