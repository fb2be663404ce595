using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentFlow.Cli.Hosting;
using AgentFlow.Cli.Output;
using AgentFlow.Definitions;
using AgentFlow.Experiments.Cases;
using AgentFlow.Experiments.Comparison;
using AgentFlow.Experiments.Running;
using AgentFlow.Experiments.Runs;
using AgentFlow.Experiments.Scoring;
using AgentFlow.Experiments.Statistics;
using AgentFlow.Tracking.MLflow;
using AgentFlow.Tracking.MLflow.Recording;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace AgentFlow.Cli.Commands;

/// <summary>
/// <c>agentflow experiment run|report</c>: A/B experiments of a workflow over a dataset, recorded in MLflow, compared
/// with bootstrap confidence intervals.
/// </summary>
internal static class ExperimentCommand
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Command Create(Func<CliContext> context)
    {
        var command = new Command("experiment", "A/B experiments: run a workflow over a dataset under several model bindings and compare them.");
        command.Add(Run(context));
        command.Add(Report(context));
        return command;
    }

    private static Command Run(Func<CliContext> context)
    {
        var file = new Argument<string>("file") { Description = "The workflow file." };
        var inputs = new Option<string>("--inputs") { Description = "Cases, JSON Lines: one object per line with the inputs (or an 'inputs' object), optional 'id' and 'expected'.", Required = true };
        var variants = new Option<string[]>("--variant") { Description = "A variant, NAME:ALIAS=MODEL[,ALIAS=MODEL...] (repeatable; the first is the baseline).", Required = true };
        var repeat = new Option<int>("--repeat") { Description = "Runs of each case under each variant.", DefaultValueFactory = _ => 1 };
        var concurrency = new Option<int>("--concurrency") { Description = "Runs at once.", DefaultValueFactory = _ => 1 };
        var name = new Option<string?>("--name") { Description = "Experiment name: the MLflow experiment the runs are recorded in (default: WORKFLOW-experiment)." };
        var scores = new Option<string[]>("--score") { Description = "A scorer: exact, contains, regex (against each case's 'expected'), json-schema=FILE, or retrieval[=STEP_OR_TOOL] (recall_at_k and mrr against each case's 'expected_sources') (repeatable)." };
        var judge = new Option<string?>("--judge") { Description = "Score with an LLM judge: the registry model that judges." };
        var judgePrompt = new Option<string?>("--judge-prompt") { Description = "The judge's prompt ({{ output }}, {{ expected }}, {{ inputs.NAME }}); it should ask for PASS or FAIL." };
        var output = new Option<string?>("--output") { Description = "The workflow output scored (default: the first declared output)." };
        var seed = new Option<ulong>("--seed") { Description = "Bootstrap seed (the same seed gives the same intervals).", DefaultValueFactory = _ => 42UL };
        var resamples = new Option<int>("--resamples") { Description = "Bootstrap resamples.", DefaultValueFactory = _ => 2000 };
        var config = CommonOptions.Config();
        var json = CommonOptions.Json();
        var tracking = CommonOptions.TrackingUri();
        var noRecord = new Option<bool>("--no-record") { Description = "Do not record the runs in MLflow." };
        var command = new Command("run", "Run every case under every variant, record each run, and print the comparison table (exit 0 done, 2 bad input).")
        {
            file, inputs, variants, repeat, concurrency, name, scores, judge, judgePrompt, output, seed, resamples, config, json, tracking, noRecord,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var cli = context();
            try
            {
                return await RunAsync(cli, parse, new RunArgs(
                    parse.GetValue(file)!, parse.GetValue(inputs)!, parse.GetValue(variants) ?? [], parse.GetValue(repeat), parse.GetValue(concurrency),
                    parse.GetValue(name), parse.GetValue(scores) ?? [], parse.GetValue(judge), parse.GetValue(judgePrompt), parse.GetValue(output),
                    new BootstrapOptions(parse.GetValue(resamples), 0.95, parse.GetValue(seed)), parse.GetValue(config), parse.GetValue(json),
                    parse.GetValue(noRecord) ? null : new Target(parse.GetValue(tracking))), cancellationToken).ConfigureAwait(false);
            }
            catch (AgentFlowException ex) when (ex is ExperimentInputException or InputException or ModelConfigurationException or Messaging.MessagingConfigurationException)
            {
                DiagnosticPrinter.PrintError(cli.Error, ex.Message);
                return ExitCodes.BadInput;
            }
        });
        return command;
    }

    private sealed record Target(string? TrackingUri);

    private sealed record RunArgs(
        string File, string Cases, string[] Variants, int Repeat, int Concurrency, string? Name, string[] Scores, string? Judge, string? JudgePrompt,
        string? Output, BootstrapOptions Bootstrap, string? Config, bool Json, Target? RecordTo);

    private static async Task<int> RunAsync(CliContext cli, ParseResult parse, RunArgs args, CancellationToken cancellationToken)
    {
        _ = parse;
        var loaded = WorkflowLoader.Load(args.File);
        DiagnosticPrinter.Print(cli.Error, loaded.Diagnostics);
        if (!loaded.Succeeded)
        {
            return ExitCodes.BadInput;
        }

        var definition = loaded.Definition!;
        var variants = Variant.ParseAll(args.Variants);
        var cases = CaseFile.Load(args.Cases);
        if (args.Bootstrap.Resamples < 1)
        {
            throw new ExperimentInputException($"--resamples must be at least 1 (got {args.Bootstrap.Resamples})");
        }

        var scorers = new List<IScorer>();
        foreach (var score in args.Scores)
        {
            if (score == "retrieval" || score.StartsWith("retrieval=", StringComparison.Ordinal))
            {
                // recall_at_k and mrr of the run's first search (or the named retrieve step's or tool's).
                scorers.AddRange(RetrievalScorer.Create(score.Length > "retrieval=".Length ? score["retrieval=".Length..] : null));
                continue;
            }

            scorers.Add(score switch
            {
                "exact" => new MatchScorer(MatchKind.Exact),
                "contains" => new MatchScorer(MatchKind.Contains),
                "regex" => new MatchScorer(MatchKind.Regex),
                _ when score.StartsWith("json-schema=", StringComparison.Ordinal) => JsonSchemaScorer.Load(Path.GetFullPath(score["json-schema=".Length..], cli.WorkingDirectory)),
                _ => throw new ExperimentInputException($"--score '{score}' must be exact, contains, regex, json-schema=FILE or retrieval[=STEP_OR_TOOL]"),
            });
        }

        if (cli.TryLoadRegistry(args.Config) is not { } registry)
        {
            return ExitCodes.BadInput;
        }

        // Unknown aliases and models, named by variant, before any model loads.
        await using (var names = new Models.ModelHost(registry, []))
        {
            var problems = new List<string>();
            foreach (var v in variants)
            {
                try
                {
                    names.Resolve(definition, v.Bindings);
                }
                catch (ModelConfigurationException ex)
                {
                    problems.AddRange(ex.Message.Split(Environment.NewLine).Select(m => $"--variant {v.Name}: {m.Replace("--bind ", string.Empty, StringComparison.Ordinal)}"));
                }
            }

            if (problems.Count > 0)
            {
                throw new ExperimentInputException(string.Join(Environment.NewLine, problems));
            }
        }

        await using var host = await RunnerHost.StartAsync(cli, registry, definition, variants.Select(v => v.Bindings), args.Judge is null ? [] : [args.Judge], cancellationToken).ConfigureAwait(false);
        if (args.Judge is { } judgeModel)
        {
            scorers.Add(new JudgeScorer(judgeModel, await host.OpenModelAsync(judgeModel, cancellationToken).ConfigureAwait(false), args.JudgePrompt));
        }

        var plan = new ExperimentPlan
        {
            Name = args.Name ?? $"{definition.Name}-experiment",
            Definition = definition,
            Cases = cases,
            Variants = variants,
            Repeat = args.Repeat,
            Concurrency = args.Concurrency,
            Scorers = scorers,
            Output = args.Output,
            Bootstrap = args.Bootstrap,
        };
        await using var store = args.RecordTo is null ? null : cli.OpenTracking(args.RecordTo.TrackingUri);
        var runner = new ExperimentRunner(host.Runner, store, cli.Time, cli.LoggerFactory);
        var total = cases.Count * args.Repeat;
        cli.Error.WriteLine($"experiment {plan.Name}: {cases.Count} cases x {variants.Count} variants x {args.Repeat} repeat(s) of {definition.Name}" +
            (store is null ? string.Empty : $", recorded in {store.TrackingUri}"));
        ExperimentResult result;
        if (cli.ErrorIsTerminal)
        {
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = RedactingWriter.ConsoleOutputFor(cli.Error) });
            result = await console.Progress().AutoClear(false).StartAsync(async ctx =>
            {
                var tasks = variants.ToDictionary(v => v.Name, v => ctx.AddTask($"{v.Name} ({v.BindingsText})", maxValue: total), StringComparer.Ordinal);
                return await runner.RunAsync(plan, args.Cases, new SpectreProgress(tasks), cancellationToken).ConfigureAwait(false);
            }).ConfigureAwait(false);
        }
        else
        {
            result = await runner.RunAsync(plan, args.Cases, new PlainProgress(cli.Error), cancellationToken).ConfigureAwait(false);
        }

        foreach (var problem in result.RecordingProblems.Take(3))
        {
            cli.Error.WriteLine($"warning: not fully recorded in MLflow: {problem}");
        }

        if (args.Json)
        {
            cli.Out.WriteLine(result.ToJson().ToJsonString(Indented));
        }
        else
        {
            foreach (var v in variants)
            {
                cli.Out.WriteLine($"{v.Name}: {(v.BindingsText.Length == 0 ? "(workflow models)" : v.BindingsText)}");
            }

            cli.Out.WriteLine();
            cli.Out.WriteLine(result.Comparison.ToText());
        }

        return ExitCodes.Success;
    }

    private sealed class PlainProgress(TextWriter writer) : IExperimentProgress
    {
        public void TrialFinished(TrialResult trial, int done, int total)
        {
            lock (writer)
            {
                var scores = string.Concat(trial.Scores.Select(s => string.Create(CultureInfo.InvariantCulture, $", {s.Name} {s.Value:0.##}")));
                writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"[{trial.Variant}] {done}/{total} case {trial.Case.Id}{(trial.Repeat > 1 ? $" #{trial.Repeat}" : string.Empty)}: {trial.Run.Status} in {trial.Run.LatencyMs:F0} ms, tokens {trial.Run.InputTokens}/{trial.Run.OutputTokens}{scores} (run {trial.Run.RunId})"));
            }
        }
    }

    private sealed class SpectreProgress(IReadOnlyDictionary<string, ProgressTask> tasks) : IExperimentProgress
    {
        public void TrialFinished(TrialResult trial, int done, int total) => tasks[trial.Variant].Value = done;
    }

    /// <summary>An experiment's (or a workflow's live) comparison, recomputed from its recorded runs.</summary>
    internal sealed record Comparison(MlflowExperiment Experiment, List<Observation> Observations, List<string> Variants, ComparisonTable Table)
    {
        public JsonObject ToJson() => new()
        {
            ["experiment"] = Experiment.Name,
            ["runs"] = Observations.Count,
            ["variants"] = new JsonObject(Variants.Select(v => KeyValuePair.Create(v, (JsonNode?)Observations.Count(o => o.Variant == v)))),
            ["comparison"] = Table.ToJson(),
        };
    }

    /// <summary>Loads the finished runs of experiment <paramref name="experimentName"/> (or workflow <paramref name="workflowName"/>) and compares their variants.</summary>
    internal static async Task<(Comparison? Report, string? Problem)> CompareAsync(
        IMlflowStore store, string? experimentName, string? workflowName, string? filter, ulong seed, CancellationToken cancellationToken)
    {
        var experiment = await store.GetExperimentByNameAsync(experimentName ?? workflowName!, cancellationToken).ConfigureAwait(false);
        if (experiment is null)
        {
            return (null, $"no recorded {(experimentName is null ? "workflow" : "experiment")} '{experimentName ?? workflowName}' in {store.TrackingUri}");
        }

        var observations = new List<Observation>();
        await foreach (var run in store.SearchAllRunsAsync(new MlflowRunQuery { ExperimentIds = [experiment.ExperimentId], Filter = filter, OrderBy = ["attributes.start_time ASC"] }, cancellationToken).ConfigureAwait(false))
        {
            if (run.Info.Status == MlflowRunStatus.Running)
            {
                continue;
            }

            RecordedRun recorded;
            try
            {
                recorded = RecordedRun.FromTranscript(JsonNode.Parse(await store.ReadTextArtifactAsync(run.Info.RunId, RunTranscript.TranscriptPath, cancellationToken).ConfigureAwait(false))!.AsObject());
            }
            catch (MlflowException)
            {
                continue;
            }

            var variant = run.Tag(ExperimentRunner.VariantTag) ?? string.Join(",", recorded.Bindings.Select(b => $"{b.Key}={b.Value}"));
            var pair = run.Tag(ExperimentRunner.CaseTag) is { } c ? $"{c}#{run.Tag(ExperimentRunner.RepeatTag) ?? "1"}" : run.Info.RunId;
            var scores = run.Metrics.Where(m => m.Key.StartsWith("score.", StringComparison.Ordinal)).ToDictionary(m => m.Key["score.".Length..], m => m.Value, StringComparer.Ordinal);
            observations.Add(Observation.FromRun(variant, pair, recorded, scores));
        }

        if (observations.Count == 0)
        {
            return (null, $"no finished runs in '{experiment.Name}'{(filter is null ? string.Empty : " in that window")}");
        }

        var variants = observations.Select(o => o.Variant).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        return (new Comparison(experiment, observations, variants, ComparisonBuilder.Build(observations, variants, new BootstrapOptions(Seed: seed))), null);
    }

    private static Command Report(Func<CliContext> context)
    {
        var name = new Option<string?>("--name") { Description = "Compare the variants of this experiment (the name given to experiment run)." };
        var workflow = new Option<string?>("--workflow", "-w") { Description = "Compare the live variants of this workflow's recorded runs (by variant tag, else by bindings)." };
        var since = new Option<string?>("--since") { Description = "Only runs started within this duration, e.g. 7d, 24h." };
        var seed = new Option<ulong>("--seed") { Description = "Bootstrap seed.", DefaultValueFactory = _ => 42UL };
        var json = CommonOptions.Json();
        var tracking = CommonOptions.TrackingUri();
        var command = new Command("report", "Recompute the comparison table from recorded runs: an experiment's (--name) or a workflow's live traffic (--workflow).")
        {
            name, workflow, since, seed, json, tracking,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var cli = context();
            var experimentName = parse.GetValue(name);
            var workflowName = parse.GetValue(workflow);
            if ((experimentName is null) == (workflowName is null))
            {
                DiagnosticPrinter.PrintError(cli.Error, "give exactly one of --name EXPERIMENT or --workflow WORKFLOW");
                return ExitCodes.BadInput;
            }

            string? filter = null;
            if (parse.GetValue(since) is { } window)
            {
                if (!DurationText.TryParse(window, TimeSpan.Zero, WorkflowLimits.MaxDuration, out var span))
                {
                    DiagnosticPrinter.PrintError(cli.Error, $"--since '{window}' must be a duration {DurationText.Range(TimeSpan.Zero, WorkflowLimits.MaxDuration)}, such as 7d, 24h or 30m");
                    return ExitCodes.BadInput;
                }

                filter = string.Create(CultureInfo.InvariantCulture, $"attributes.start_time >= {(cli.Time.GetUtcNow() - span).ToUnixTimeMilliseconds()}");
            }

            await using var store = cli.OpenTracking(parse.GetValue(tracking));
            var (report, problem) = await CompareAsync(store, experimentName, workflowName, filter, parse.GetValue(seed), cancellationToken).ConfigureAwait(false);
            if (report is null)
            {
                DiagnosticPrinter.PrintError(cli.Error, problem!);
                return ExitCodes.BadInput;
            }

            var (experiment, observations, variants, table) = report;
            if (parse.GetValue(json))
            {
                cli.Out.WriteLine(report.ToJson().ToJsonString(Indented));
            }
            else
            {
                foreach (var v in variants)
                {
                    cli.Out.WriteLine($"{v}: {observations.Count(o => o.Variant == v)} runs");
                }

                cli.Out.WriteLine();
                cli.Out.WriteLine(table.ToText());
            }

            return ExitCodes.Success;
        });
        return command;
    }
}
