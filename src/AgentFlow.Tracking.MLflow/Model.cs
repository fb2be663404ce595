namespace AgentFlow.Tracking.MLflow;

/// <summary>Status of an MLflow run (MLflow's <c>RunStatus</c> enum; on the wire its upper-case name).</summary>
public enum MlflowRunStatus
{
    /// <summary><c>RUNNING</c>: the run has been initiated.</summary>
    Running,

    /// <summary><c>SCHEDULED</c>: the run is scheduled to run later.</summary>
    Scheduled,

    /// <summary><c>FINISHED</c>: the run has completed.</summary>
    Finished,

    /// <summary><c>FAILED</c>: the run failed.</summary>
    Failed,

    /// <summary><c>KILLED</c>: the run was killed (cancelled).</summary>
    Killed,
}

/// <summary>An MLflow experiment.</summary>
/// <param name="ExperimentId">Experiment id (MLflow ids are strings on the wire; the SQL store uses integers).</param>
/// <param name="Name">Unique experiment name.</param>
/// <param name="ArtifactLocation">Root of the experiment's artifacts (a path or URI).</param>
/// <param name="LifecycleStage"><c>active</c> or <c>deleted</c>.</param>
/// <param name="CreationTime">Creation time, Unix milliseconds.</param>
/// <param name="LastUpdateTime">Last update time, Unix milliseconds.</param>
public sealed record MlflowExperiment(
    string ExperimentId,
    string Name,
    string? ArtifactLocation,
    string LifecycleStage,
    long? CreationTime,
    long? LastUpdateTime);

/// <summary>A metric value at a step.</summary>
/// <param name="Key">Metric key (≤ 250 characters, <c>^[/\w.\- :]*$</c>).</param>
/// <param name="Value">Value; NaN and ±∞ are allowed (the SQL store keeps NaN as <c>is_nan</c>).</param>
/// <param name="Timestamp">Unix milliseconds when it was recorded.</param>
/// <param name="Step">Step (0 unless the metric is a series).</param>
public sealed record MlflowMetric(string Key, double Value, long Timestamp, long Step = 0);

/// <summary>A run parameter. Params are write-once: logging a different value for a key again fails.</summary>
/// <param name="Key">Param key (≤ 250 characters).</param>
/// <param name="Value">Value (≤ 6000 characters).</param>
public sealed record MlflowParam(string Key, string Value);

/// <summary>A run tag; tags can be overwritten.</summary>
/// <param name="Key">Tag key (≤ 250 characters).</param>
/// <param name="Value">Value (≤ 8000 characters).</param>
public sealed record MlflowTag(string Key, string Value);

/// <summary>Metadata of a run.</summary>
/// <param name="RunId">Run id (32 lowercase hex characters for runs MLflow or AgentFlow create).</param>
/// <param name="ExperimentId">Owning experiment.</param>
/// <param name="RunName">Run name (mirrored in tag <c>mlflow.runName</c>).</param>
/// <param name="UserId">User who started it.</param>
/// <param name="Status">Where the run is or how it ended.</param>
/// <param name="StartTime">Start, Unix milliseconds.</param>
/// <param name="EndTime">End, Unix milliseconds; null while running.</param>
/// <param name="ArtifactUri">Where the run's artifacts live.</param>
/// <param name="LifecycleStage"><c>active</c> or <c>deleted</c>.</param>
public sealed record MlflowRunInfo(
    string RunId,
    string ExperimentId,
    string? RunName,
    string? UserId,
    MlflowRunStatus Status,
    long? StartTime,
    long? EndTime,
    string? ArtifactUri,
    string LifecycleStage);

/// <summary>A run: metadata, the latest value of each metric, params and tags.</summary>
/// <param name="Info">Metadata.</param>
/// <param name="Metrics">Latest value of each metric key.</param>
/// <param name="Params">Params, ordered by key.</param>
/// <param name="Tags">Tags, ordered by key.</param>
public sealed record MlflowRun(
    MlflowRunInfo Info,
    IReadOnlyList<MlflowMetric> Metrics,
    IReadOnlyList<MlflowParam> Params,
    IReadOnlyList<MlflowTag> Tags)
{
    /// <summary>The latest value of metric <paramref name="key"/>, or null when the run has none.</summary>
    public double? Metric(string key) => Metrics.FirstOrDefault(m => string.Equals(m.Key, key, StringComparison.Ordinal))?.Value;

    /// <summary>The value of param <paramref name="key"/>, or null.</summary>
    public string? Param(string key) => Params.FirstOrDefault(p => string.Equals(p.Key, key, StringComparison.Ordinal))?.Value;

    /// <summary>The value of tag <paramref name="key"/>, or null.</summary>
    public string? Tag(string key) => Tags.FirstOrDefault(t => string.Equals(t.Key, key, StringComparison.Ordinal))?.Value;
}

/// <summary>One page of a run search.</summary>
/// <param name="Runs">The runs on this page, in the requested order.</param>
/// <param name="NextPageToken">Opaque token for the next page; null when there are no more runs.</param>
public sealed record MlflowRunsPage(IReadOnlyList<MlflowRun> Runs, string? NextPageToken);

/// <summary>A run search (MLflow <c>runs/search</c>).</summary>
public sealed record MlflowRunQuery
{
    /// <summary>Experiments to search (at least one).</summary>
    public required IReadOnlyList<string> ExperimentIds { get; init; }

    /// <summary>
    /// Filter in MLflow's grammar: clauses joined by <c>and</c>, e.g.
    /// <c>metrics.latency_ms &lt; 1500 and params."model.planner" = 'llama' and tags.variant LIKE 'b%'</c>.
    /// </summary>
    public string? Filter { get; init; }

    /// <summary>Order, e.g. <c>metrics.latency_ms ASC</c> or <c>attributes.start_time DESC</c>; default newest first.</summary>
    public IReadOnlyList<string>? OrderBy { get; init; }

    /// <summary>Page size, 1 to 50 000 (MLflow's default is 1000).</summary>
    public int MaxResults { get; init; } = 1000;

    /// <summary>Token of the page to fetch, from <see cref="MlflowRunsPage.NextPageToken"/>; null for the first page.</summary>
    public string? PageToken { get; init; }
}

/// <summary>An artifact file or folder of a run.</summary>
/// <param name="Path">Path relative to the run's artifact root, '/'-separated.</param>
/// <param name="IsDir">Whether it is a folder.</param>
/// <param name="FileSize">Size in bytes; null for folders.</param>
public sealed record MlflowFileInfo(string Path, bool IsDir, long? FileSize);

/// <summary>Names of MLflow's system tags that AgentFlow writes.</summary>
public static class MlflowTags
{
    /// <summary>Run name, mirrored from <c>runs.name</c>.</summary>
    public const string RunName = "mlflow.runName";

    /// <summary>User who started the run.</summary>
    public const string User = "mlflow.user";

    /// <summary>Source type of the run (<c>LOCAL</c>).</summary>
    public const string SourceType = "mlflow.source.type";

    /// <summary>Source name of the run (program or file that ran).</summary>
    public const string SourceName = "mlflow.source.name";
}

internal static class MlflowRunStatusNames
{
    public static string ToWire(MlflowRunStatus status) => status switch
    {
        MlflowRunStatus.Running => "RUNNING",
        MlflowRunStatus.Scheduled => "SCHEDULED",
        MlflowRunStatus.Finished => "FINISHED",
        MlflowRunStatus.Failed => "FAILED",
        MlflowRunStatus.Killed => "KILLED",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "Unknown run status."),
    };

    public static MlflowRunStatus FromWire(string? status) => status switch
    {
        "RUNNING" or null or "" => MlflowRunStatus.Running,
        "SCHEDULED" => MlflowRunStatus.Scheduled,
        "FINISHED" => MlflowRunStatus.Finished,
        "FAILED" => MlflowRunStatus.Failed,
        "KILLED" => MlflowRunStatus.Killed,
        _ => throw new MlflowException(MlflowErrorCodes.InvalidParameterValue, $"Unknown MLflow run status '{status}'."),
    };
}
