using System.Globalization;
using AgentFlow.Definitions;
using AgentFlow.Experiments.Cases;
using AgentFlow.Experiments.Runs;
using AgentFlow.Retrieval;

namespace AgentFlow.Experiments.Scoring;

/// <summary>What a <see cref="RetrievalScorer"/> measures.</summary>
public enum RetrievalMetric
{
    /// <summary>Share of the case's <c>expected_sources</c> found among the chunks the search returned (its top_k).</summary>
    RecallAtK,

    /// <summary>1 / the rank of the first chunk from an expected source (0 when none): averaged over cases, the MRR.</summary>
    ReciprocalRank,
}

/// <summary>
/// Scores a run's search against the case's <c>expected_sources</c>: <c>recall_at_k</c> and <c>mrr</c>. The search is
/// the run's first recorded one (a retrieve step's, or a retrieve tool call's), or the first of the step or tool
/// named with <c>--score retrieval=NAME</c>. Sources compare as indexed (paths relative to the indexed folder, '/').
/// A failed run, or one that searched nothing, scores 0.
/// </summary>
public sealed class RetrievalScorer : IScorer
{
    private readonly RetrievalMetric _metric;

    private RetrievalScorer(RetrievalMetric metric, string? target)
    {
        _metric = metric;
        Target = target;
    }

    /// <summary>The retrieve step id or retrieve tool name whose search is scored; null for the run's first search.</summary>
    public string? Target { get; }

    /// <inheritdoc />
    public string Name => _metric == RetrievalMetric.RecallAtK ? "recall_at_k" : "mrr";

    /// <inheritdoc />
    public bool NeedsExpected => false;

    /// <summary>Both scorers of <c>--score retrieval[=NAME]</c>: recall@k and MRR of the same search.</summary>
    public static IReadOnlyList<RetrievalScorer> Create(string? target) =>
        [new(RetrievalMetric.RecallAtK, target), new(RetrievalMetric.ReciprocalRank, target)];

    /// <summary>
    /// Problems that stop the experiment before any run: a workflow that never searches (or has no retrieve step or
    /// retrieve tool named <see cref="Target"/>), cases without <c>expected_sources</c>. Each names file and line.
    /// </summary>
    public IEnumerable<string> Check(WorkflowDefinition definition, IReadOnlyList<ExperimentCase> cases, string path)
    {
        ArgumentNullException.ThrowIfNull(definition);
        ArgumentNullException.ThrowIfNull(cases);
        var searches = definition.AllSteps().OfType<RetrieveStepDefinition>().Select(s => s.Id)
            .Concat(definition.Tools.Where(t => t.Source is RetrieveToolSource).Select(t => t.Name)).ToList();
        if (searches.Count == 0)
        {
            yield return $"--score retrieval: workflow '{definition.Name}' has no retrieve step or retrieve tool to score";
        }
        else if (Target is { } target && !searches.Contains(target, StringComparer.Ordinal))
        {
            yield return $"--score retrieval={target}: workflow '{definition.Name}' has no retrieve step or retrieve tool '{target}' (it has: {string.Join(", ", searches)})";
        }

        foreach (var c in cases.Where(c => c.ExpectedSources is null))
        {
            yield return $"{path}:{c.Line}: case '{c.Id}' has no '{CaseFile.ExpectedSourcesField}' field, which --score retrieval needs (e.g. \"{CaseFile.ExpectedSourcesField}\": [\"refunds.md\"])";
        }
    }

    /// <inheritdoc />
    public Task<Score> ScoreAsync(ScoringContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var expected = context.Case.ExpectedSources ?? [];
        if (context.Run is not { Succeeded: true } run)
        {
            return Task.FromResult(new Score(Name, 0, "the run failed"));
        }

        if (Search(run) is not { } chunks)
        {
            return Task.FromResult(new Score(Name, 0, Target is null ? "the run searched nothing" : $"'{Target}' searched nothing in this run"));
        }

        var (recall, reciprocal, rank) = Measure(chunks, expected);
        var found = string.Join(", ", chunks.Select(c => c.Source).Distinct(StringComparer.Ordinal));
        return Task.FromResult(_metric == RetrievalMetric.RecallAtK
            ? new Score(Name, recall, string.Create(CultureInfo.InvariantCulture, $"{recall * expected.Count:0}/{expected.Count} expected sources in the top {chunks.Count}: {found}"))
            : new Score(Name, reciprocal, rank is { } r ? string.Create(CultureInfo.InvariantCulture, $"first expected source at rank {r}") : $"no expected source among: {found}"));
    }

    /// <summary>
    /// Recall (expected sources found among <paramref name="chunks"/> / expected sources), reciprocal rank (1 / the
    /// 1-based rank of the first chunk from an expected source, 0 when none) and that rank.
    /// </summary>
    public static (double Recall, double ReciprocalRank, int? Rank) Measure(IReadOnlyList<RetrievedChunk> chunks, IReadOnlyList<string> expected)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        ArgumentNullException.ThrowIfNull(expected);
        var wanted = expected.Select(Normalize).ToHashSet(StringComparer.Ordinal);
        if (wanted.Count == 0)
        {
            return (0, 0, null);
        }

        var sources = chunks.Select(c => Normalize(c.Source)).ToList();
        var recall = (double)wanted.Count(sources.Contains) / wanted.Count;
        var index = sources.FindIndex(wanted.Contains);
        return index < 0 ? (recall, 0, null) : (recall, 1.0 / (index + 1), index + 1);
    }

    private static string Normalize(string source) => source.Replace('\\', '/').TrimStart('.', '/');

    // The first search of the run (or of the target), in start order: retrieve steps, then tool calls within a step.
    private IReadOnlyList<RetrievedChunk>? Search(RecordedRun run)
    {
        foreach (var step in run.FinalSteps())
        {
            if (step.Retrieved is { } retrieved && (Target is null || step.Id == Target))
            {
                return retrieved;
            }

            if (step.ToolCalls.FirstOrDefault(c => c.Retrieval is not null && (Target is null || c.Tool == Target)) is { } call)
            {
                return call.Retrieval!.Chunks;
            }
        }

        return null;
    }
}
