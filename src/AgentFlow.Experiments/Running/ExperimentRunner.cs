using System.Globalization;
using System.Text.Json.Nodes;
using AgentFlow.Definitions;
using AgentFlow.Execution;
using AgentFlow.Experiments.Cases;
using AgentFlow.Experiments.Comparison;
using AgentFlow.Experiments.Runs;
using AgentFlow.Experiments.Scoring;
using AgentFlow.Experiments.Statistics;
using AgentFlow.Tracking.MLflow;
using AgentFlow.Tracking.MLflow.Recording;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Experiments.Running;

/// <summary>What an experiment runs.</summary>
public sealed record ExperimentPlan
{
    /// <summary>Experiment name (the MLflow experiment the runs are recorded in).</summary>
    public required string Name { get; init; }

    /// <summary>The workflow.</summary>
    public required WorkflowDefinition Definition { get; init; }

    /// <summary>The dataset.</summary>
    public required IReadOnlyList<ExperimentCase> Cases { get; init; }

    /// <summary>The variants; the first is the baseline of differences.</summary>
    public required IReadOnlyList<Variant> Variants { get; init; }

    /// <summary>Runs of each case under each variant.</summary>
    public int Repeat { get; init; } = 1;

    /// <summary>Runs at once.</summary>
    public int Concurrency { get; init; } = 1;

    /// <summary>Scorers applied to each run's output.</summary>
    public IReadOnlyList<IScorer> Scorers { get; init; } = [];

    /// <summary>The workflow output scored; null for the first declared output.</summary>
    public string? Output { get; init; }

    /// <summary>Bootstrap settings of the comparison.</summary>
    public BootstrapOptions Bootstrap { get; init; } = new();
}

/// <summary>One run of one case under one variant.</summary>
/// <param name="Variant">Variant name.</param>
/// <param name="Case">The case.</param>
/// <param name="Repeat">1-based repeat.</param>
/// <param name="Run">What the run recorded.</param>
/// <param name="Scores">Its scores.</param>
public sealed record TrialResult(string Variant, ExperimentCase Case, int Repeat, RecordedRun Run, IReadOnlyList<Score> Scores)
{
    /// <summary>What pairs this trial with the same case under other variants.</summary>
    public string PairKey => string.Create(CultureInfo.InvariantCulture, $"{Case.Id}#{Repeat}");
}

/// <summary>An experiment's trials and comparison.</summary>
/// <param name="Plan">What ran.</param>
/// <param name="Trials">Every trial, in the order they finished.</param>
/// <param name="Comparison">The comparison table.</param>
/// <param name="RecordingProblems">MLflow writes that failed (the runs themselves are unaffected).</param>
public sealed record ExperimentResult(ExperimentPlan Plan, IReadOnlyList<TrialResult> Trials, ComparisonTable Comparison, IReadOnlyList<string> RecordingProblems)
{
    /// <summary>Everything as JSON: plan, trials (run ids, status, latency, scores) and the comparison.</summary>
    public JsonObject ToJson()
    {
        var variants = new JsonArray();
        foreach (var v in Plan.Variants)
        {
            var variant = new JsonObject { ["name"] = v.Name, ["bindings"] = new JsonObject(v.Bindings.Select(b => KeyValuePair.Create(b.Key, (JsonNode?)b.Value))) };
            if (!v.Retrieval.IsEmpty)
            {
                variant["collections"] = new JsonObject(v.Retrieval.Collections.Select(c => KeyValuePair.Create(c.Key, (JsonNode?)c.Value)));
                variant["top_k"] = v.Retrieval.TopK;
            }

            variants.Add(variant);
        }

        var trials = new JsonArray();
        foreach (var t in Trials.OrderBy(t => t.Variant, StringComparer.Ordinal).ThenBy(t => t.Case.Line).ThenBy(t => t.Repeat))
        {
            trials.Add(new JsonObject
            {
                ["variant"] = t.Variant,
                ["case"] = t.Case.Id,
                ["repeat"] = t.Repeat,
                ["run_id"] = t.Run.RunId,
                ["status"] = t.Run.Status,
                ["latency_ms"] = Math.Round(t.Run.LatencyMs, 3),
                ["input_tokens"] = t.Run.InputTokens,
                ["output_tokens"] = t.Run.OutputTokens,
                ["cost_usd"] = t.Run.CostUsd,
                ["scores"] = new JsonObject(t.Scores.Select(s => KeyValuePair.Create(s.Name, (JsonNode?)s.Value))),
            });
        }

        return new JsonObject
        {
            ["experiment"] = Plan.Name,
            ["workflow"] = Plan.Definition.Name,
            ["cases"] = Plan.Cases.Count,
            ["repeat"] = Plan.Repeat,
            ["variants"] = variants,
            ["scorers"] = new JsonArray([.. Plan.Scorers.Select(s => (JsonNode?)s.Name)]),
            ["comparison"] = Comparison.ToJson(),
            ["trials"] = trials,
        };
    }
}

/// <summary>Told about each finished trial (called from several threads when trials run concurrently).</summary>
public interface IExperimentProgress
{
    /// <summary>A trial finished; <paramref name="done"/> of <paramref name="total"/> trials of its variant are done.</summary>
    void TrialFinished(TrialResult trial, int done, int total);
}

/// <summary>
/// Runs every case under every variant (same inputs, only the bindings differ), <see cref="ExperimentPlan.Repeat"/>
/// times, at most <see cref="ExperimentPlan.Concurrency"/> at once; records each run in MLflow experiment
/// <see cref="ExperimentPlan.Name"/> with tags <c>agentflow.experiment</c>, <c>agentflow.variant</c>,
/// <c>agentflow.case</c>, <c>agentflow.repeat</c> and metrics <c>score.NAME</c>; then builds the comparison.
/// </summary>
public sealed partial class ExperimentRunner(WorkflowRunner runner, IMlflowStore? store, TimeProvider time, ILoggerFactory loggers)
{
    /// <summary>Tag naming the experiment of a run.</summary>
    public const string ExperimentTag = "agentflow.experiment";

    /// <summary>Tag naming the variant of a run.</summary>
    public const string VariantTag = "agentflow.variant";

    /// <summary>Tag naming the case of a run.</summary>
    public const string CaseTag = "agentflow.case";

    /// <summary>Tag with the repeat number of a run.</summary>
    public const string RepeatTag = "agentflow.repeat";

    private readonly ILogger _logger = loggers.CreateLogger<ExperimentRunner>();

    /// <summary>Runs the plan. Inputs of every case are checked first; a bad case fails before any run.</summary>
    /// <exception cref="ExperimentInputException">A case's inputs do not match the workflow (names file line and input).</exception>
    public async Task<ExperimentResult> RunAsync(ExperimentPlan plan, string casesPath, IExperimentProgress? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plan);
        Check(plan, casesPath);
        await CheckCollectionsAsync(plan, cancellationToken).ConfigureAwait(false);
        var outputName = plan.Output ?? (plan.Definition.Outputs.Count > 0 ? plan.Definition.Outputs[0].Name : null);
        var trials = new List<(Variant Variant, ExperimentCase Case, int Repeat)>();
        for (var r = 1; r <= plan.Repeat; r++)
        {
            foreach (var c in plan.Cases)
            {
                trials.AddRange(plan.Variants.Select(v => (v, c, r)));
            }
        }

        var results = new List<TrialResult>();
        var problems = new List<string>();
        var done = plan.Variants.ToDictionary(v => v.Name, _ => 0, StringComparer.Ordinal);
        var perVariant = plan.Cases.Count * plan.Repeat;
        await Parallel.ForEachAsync(
            trials,
            new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, plan.Concurrency), CancellationToken = cancellationToken },
            async (trial, ct) =>
            {
                var (result, problem) = await RunTrialAsync(plan, outputName, trial.Variant, trial.Case, trial.Repeat, ct).ConfigureAwait(false);
                int count;
                lock (results)
                {
                    results.Add(result);
                    if (problem is not null)
                    {
                        problems.Add(problem);
                    }

                    count = ++done[trial.Variant.Name];
                }

                progress?.TrialFinished(result, count, perVariant);
            }).ConfigureAwait(false);

        var observations = results.Select(t => Observation.FromRun(t.Variant, t.PairKey, t.Run, t.Scores.ToDictionary(s => s.Name, s => s.Value, StringComparer.Ordinal))).ToList();
        var table = ComparisonBuilder.Build(observations, [.. plan.Variants.Select(v => v.Name)], plan.Bootstrap);
        return new ExperimentResult(plan, results, table, problems);
    }

    private static void Check(ExperimentPlan plan, string casesPath)
    {
        var problems = new List<string>();
        foreach (var c in plan.Cases)
        {
            try
            {
                RunInputs.Resolve(plan.Definition, c.Inputs);
            }
            catch (InputException ex)
            {
                problems.AddRange(ex.Message.Split(Environment.NewLine).Select(m => $"{casesPath}:{c.Line}: case '{c.Id}': {m.Replace("; pass --input", "; add field", StringComparison.Ordinal)}"));
            }

            if (c.Expected is null && plan.Scorers.FirstOrDefault(s => s.NeedsExpected) is { } scorer)
            {
                problems.Add($"{casesPath}:{c.Line}: case '{c.Id}' has no 'expected' field, which scorer '{scorer.Name}' needs");
            }
        }

        foreach (var matcher in plan.Scorers.OfType<MatchScorer>())
        {
            problems.AddRange(matcher.Check(plan.Cases, casesPath));
        }

        // recall_at_k and mrr come in pairs over the same search: its problems once.
        foreach (var retrieval in plan.Scorers.OfType<RetrievalScorer>().DistinctBy(r => r.Target))
        {
            problems.AddRange(retrieval.Check(plan.Definition, plan.Cases, casesPath));
        }

        if (plan.Output is { } output && plan.Definition.Outputs.All(o => o.Name != output))
        {
            problems.Add($"--output '{output}': workflow '{plan.Definition.Name}' has no output '{output}' (outputs: {string.Join(", ", plan.Definition.Outputs.Select(o => o.Name))})");
        }

        if (plan.Repeat < 1 || plan.Concurrency < 1)
        {
            problems.Add($"--repeat and --concurrency must be at least 1 (got {plan.Repeat} and {plan.Concurrency})");
        }

        if (problems.Count > 0)
        {
            throw new ExperimentInputException(string.Join(Environment.NewLine, problems));
        }
    }

    // Every collection a variant searches (its swaps applied) must exist and be searchable before any run.
    private async Task CheckCollectionsAsync(ExperimentPlan plan, CancellationToken cancellationToken)
    {
        var searched = plan.Variants.SelectMany(v => v.Retrieval.SearchedBy(plan.Definition).Select(c => (Variant: v.Name, Collection: c))).ToList();
        if (searched.Count == 0 || runner.Retriever is not { } retriever)
        {
            return; // no searches, or a host without retrieval: the run itself says so
        }

        var problems = await retriever.CheckAsync([.. searched.Select(s => s.Collection).Distinct(StringComparer.Ordinal)], cancellationToken).ConfigureAwait(false);
        var messages = searched.Where(s => problems.ContainsKey(s.Collection))
            .Select(s => $"--variant {s.Variant}: collection '{s.Collection}': {problems[s.Collection]}")
            .ToList();
        if (messages.Count > 0)
        {
            throw new ExperimentInputException(string.Join(Environment.NewLine, messages));
        }
    }

    private async Task<(TrialResult Result, string? Problem)> RunTrialAsync(
        ExperimentPlan plan, string? outputName, Variant variant, ExperimentCase c, int repeat, CancellationToken cancellationToken)
    {
        MlflowRunRecorder? recorder = null;
        if (store is not null)
        {
            List<MlflowTag> tags =
            [
                new(ExperimentTag, plan.Name),
                new(VariantTag, variant.Name),
                new(CaseTag, c.Id),
                new(RepeatTag, repeat.ToString(CultureInfo.InvariantCulture)),
            ];
            recorder = await MlflowRunRecorder.StartAsync(store, plan.Definition, "experiment", plan.Name, tags, time, loggers.CreateLogger<MlflowRunRecorder>(), cancellationToken).ConfigureAwait(false);
        }

        RunRecord record;
        try
        {
            var request = new RunRequest(variant.Retrieval.Apply(plan.Definition)) { Inputs = c.Inputs, Bindings = variant.Bindings, RunId = recorder?.RunId };
            record = await runner.RunAsync(request, recorder, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (recorder is not null)
            {
                await recorder.DisposeAsync().ConfigureAwait(false);
            }
        }

        var run = RecordedRun.FromRecord(record);
        var output = record.Status == RunStatus.Succeeded && outputName is not null ? record.Outputs.GetValueOrDefault(outputName) : null;
        var scores = new List<Score>();
        foreach (var scorer in plan.Scorers)
        {
            scores.Add(await scorer.ScoreAsync(new ScoringContext(c, output, run), cancellationToken).ConfigureAwait(false));
        }

        LogTrial(_logger, variant.Name, c.Id, repeat, record.RunId, record.Status);
        string? problem = recorder is { Problems.Count: > 0 } ? $"run {record.RunId}: {recorder.Problems[0]}" : null;
        if (store is not null && scores.Count > 0)
        {
            try
            {
                var now = time.GetUtcNow().ToUnixTimeMilliseconds();
                await store.LogBatchAsync(record.RunId, [.. scores.Select(s => new MlflowMetric($"score.{s.Name}", s.Value, now))], null, null, cancellationToken).ConfigureAwait(false);
                if (store is MlflowSqliteStore embedded)
                {
                    // The scores as MLflow feedback on the run's trace too, so MLflow's evaluation views compare the variants.
                    foreach (var score in scores)
                    {
                        await embedded.LogAssessmentAsync(new Tracking.MLflow.Traces.MlflowAssessment(
                            Tracking.MLflow.Traces.MlflowTrace.IdOf(record.RunId), score.Name, score.Value, score.Record is null ? "CODE" : "LLM_JUDGE", score.Name, record.RunId, score.Detail),
                            cancellationToken).ConfigureAwait(false);
                    }
                }
                var records = new JsonArray([.. scores.Where(s => s.Record is not null).Select(s => (JsonNode?)s.Record!.DeepClone())]);
                if (records.Count > 0)
                {
                    await store.LogTextArtifactAsync(record.RunId, "judge.json", RunTranscript.Serialize(records), cancellationToken).ConfigureAwait(false);
                }
            }
            catch (MlflowException ex)
            {
                problem ??= $"run {record.RunId}: scores not recorded: {ex.Message}";
            }
        }

        return (new TrialResult(variant.Name, c, repeat, run, scores), problem);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Experiment trial {Variant}/{Case}#{Repeat}: run {RunId} {Status}")]
    private static partial void LogTrial(ILogger logger, string variant, string @case, int repeat, string runId, RunStatus status);
}
