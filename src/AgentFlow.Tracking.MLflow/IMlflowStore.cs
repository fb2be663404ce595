namespace AgentFlow.Tracking.MLflow;

/// <summary>
/// Where AgentFlow records runs in MLflow's model: experiments, runs, metrics, params, tags and artifacts.
/// Two implementations, picked by <see cref="MlflowStoreFactory.Create"/> from the tracking URI:
/// <see cref="MlflowRestStore"/> for an MLflow tracking server (<c>http(s)://</c>) and
/// <see cref="MlflowSqliteStore"/> writing MLflow's own SQLite schema (<c>sqlite:///path</c>).
/// Every key and value is checked against MLflow's limits first (<see cref="MlflowValidation"/>);
/// failures are <see cref="MlflowException"/> with MLflow's error code.
/// </summary>
public interface IMlflowStore : IAsyncDisposable
{
    /// <summary>The tracking URI this store writes to, as given (or defaulted).</summary>
    string TrackingUri { get; }

    /// <summary>
    /// The experiment named <paramref name="name"/>, created when missing. Safe against a concurrent creator:
    /// a <c>RESOURCE_ALREADY_EXISTS</c> answer makes it read the experiment again.
    /// Fails with <c>INVALID_STATE</c> when the experiment exists but is deleted.
    /// </summary>
    Task<MlflowExperiment> GetOrCreateExperimentAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>The experiment named <paramref name="name"/> (active or deleted), or null.</summary>
    Task<MlflowExperiment?> GetExperimentByNameAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Every active experiment (MLflow <c>experiments/search</c>), by name.</summary>
    Task<IReadOnlyList<MlflowExperiment>> ListExperimentsAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Starts a run (status <c>RUNNING</c>) in <paramref name="experimentId"/>. Tags <c>mlflow.runName</c> and
    /// <c>mlflow.user</c> are added unless given.
    /// </summary>
    /// <param name="experimentId">Experiment id from <see cref="GetOrCreateExperimentAsync"/>.</param>
    /// <param name="runName">Run name; a name derived from the run id when null.</param>
    /// <param name="startTimeMs">Start, Unix milliseconds.</param>
    /// <param name="tags">Initial tags.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    Task<MlflowRun> CreateRunAsync(
        string experimentId,
        string? runName,
        long startTimeMs,
        IReadOnlyList<MlflowTag>? tags = null,
        CancellationToken cancellationToken = default);

    /// <summary>
    /// Logs metrics, params and tags. The REST store splits the batch to MLflow's limits (≤ 1000 metrics, ≤ 100 params,
    /// ≤ 100 tags, ≤ 1000 entries and ≤ 1 MB per request); the SQLite store writes it in one transaction.
    /// </summary>
    Task LogBatchAsync(
        string runId,
        IReadOnlyList<MlflowMetric>? metrics,
        IReadOnlyList<MlflowParam>? parameters,
        IReadOnlyList<MlflowTag>? tags,
        CancellationToken cancellationToken = default);

    /// <summary>Sets the run's status and end time (null keeps the end time as it is).</summary>
    Task<MlflowRunInfo> UpdateRunAsync(string runId, MlflowRunStatus status, long? endTimeMs, CancellationToken cancellationToken = default);

    /// <summary>Sets (or overwrites) one tag on a run.</summary>
    Task SetTagAsync(string runId, string key, string value, CancellationToken cancellationToken = default);

    /// <summary>The run with the latest value of each metric; <c>RESOURCE_DOES_NOT_EXIST</c> when unknown.</summary>
    Task<MlflowRun> GetRunAsync(string runId, CancellationToken cancellationToken = default);

    /// <summary>Active runs of the given experiments matching the filter, in the given order, one page at a time.</summary>
    Task<MlflowRunsPage> SearchRunsAsync(MlflowRunQuery query, CancellationToken cancellationToken = default);

    /// <summary>Stores <paramref name="content"/> as artifact <paramref name="relativePath"/> of the run (overwriting).</summary>
    /// <param name="runId">The run.</param>
    /// <param name="relativePath">Path under the run's artifact root, '/'-separated, e.g. <c>transcript.json</c>.</param>
    /// <param name="content">Bytes to store, read from the current position to the end.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    Task LogArtifactAsync(string runId, string relativePath, Stream content, CancellationToken cancellationToken = default);

    /// <summary>The files and folders directly under <paramref name="path"/> (the artifact root when null).</summary>
    Task<IReadOnlyList<MlflowFileInfo>> ListArtifactsAsync(string runId, string? path = null, CancellationToken cancellationToken = default);

    /// <summary>The bytes of artifact <paramref name="path"/>; <c>RESOURCE_DOES_NOT_EXIST</c> when missing.</summary>
    Task<byte[]> ReadArtifactAsync(string runId, string path, CancellationToken cancellationToken = default);
}

/// <summary>Conveniences over <see cref="IMlflowStore"/>.</summary>
public static class MlflowStoreExtensions
{
    /// <summary>Stores <paramref name="content"/> as artifact <paramref name="relativePath"/>.</summary>
    public static async Task LogArtifactAsync(
        this IMlflowStore store, string runId, string relativePath, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var stream = new MemoryStream(content.ToArray(), writable: false);
        await using (stream.ConfigureAwait(false))
        {
            await store.LogArtifactAsync(runId, relativePath, stream, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Stores <paramref name="text"/> (UTF-8, no BOM) as artifact <paramref name="relativePath"/>.</summary>
    public static Task LogTextArtifactAsync(
        this IMlflowStore store, string runId, string relativePath, string text, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        return store.LogArtifactAsync(runId, relativePath, System.Text.Encoding.UTF8.GetBytes(text), cancellationToken);
    }

    /// <summary>Reads artifact <paramref name="path"/> as UTF-8 text.</summary>
    public static async Task<string> ReadTextArtifactAsync(
        this IMlflowStore store, string runId, string path, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var bytes = await store.ReadArtifactAsync(runId, path, cancellationToken).ConfigureAwait(false);
        return System.Text.Encoding.UTF8.GetString(bytes);
    }

    /// <summary>Every page of a search, in order.</summary>
    public static async IAsyncEnumerable<MlflowRun> SearchAllRunsAsync(
        this IMlflowStore store,
        MlflowRunQuery query,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(query);
        var page = await store.SearchRunsAsync(query, cancellationToken).ConfigureAwait(false);
        while (true)
        {
            foreach (var run in page.Runs)
            {
                yield return run;
            }

            if (string.IsNullOrEmpty(page.NextPageToken))
            {
                yield break;
            }

            page = await store.SearchRunsAsync(query with { PageToken = page.NextPageToken }, cancellationToken).ConfigureAwait(false);
        }
    }
}
