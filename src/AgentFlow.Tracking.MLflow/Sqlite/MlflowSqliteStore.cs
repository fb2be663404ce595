using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using AgentFlow.Tracking.MLflow.Sqlite;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Tracking.MLflow;

/// <summary>
/// <see cref="IMlflowStore"/> writing MLflow's own SQLite schema, so that <c>mlflow ui --backend-store-uri sqlite:///…</c>
/// (or <c>mlflow server</c>) opens what AgentFlow recorded. A new database gets MLflow's complete schema at alembic
/// revision <see cref="SchemaRevision"/> (all tables and indexes, <c>alembic_version</c>, experiment 0 "Default"), in WAL
/// mode so several processes can write; each call is one transaction. Artifacts are plain files under
/// <c>&lt;artifact root&gt;/&lt;experiment_id&gt;/&lt;run_id&gt;/artifacts/</c>, and experiments/runs record that absolute
/// location as MLflow's local artifact repository expects.
/// </summary>
public sealed partial class MlflowSqliteStore : IMlflowStore
{
    /// <summary>Alembic revision of the schema this store creates (head of MLflow 3.5.0).</summary>
    public const string SchemaRevision = "bf29a5ff90ea";

    /// <summary>Name of the experiment MLflow keeps as id 0.</summary>
    public const string DefaultExperimentName = "Default";

    private const string SchemaResource = "AgentFlow.Tracking.MLflow.Schema.mlflow-sqlite-schema.sql";
    private const int SqliteConstraint = 19;
    private const string RunColumns = "r.run_uuid, r.experiment_id, r.name, r.user_id, r.status, r.start_time, r.end_time, r.artifact_uri, r.lifecycle_stage";

    private readonly string _connectionString;
    private readonly string _connectionPragmas;
    private readonly TimeProvider _time;
    private readonly string _user;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, string> _artifactDirectories = new(StringComparer.Ordinal);

    private MlflowSqliteStore(string trackingUri, string databasePath, string artifactRoot, MlflowStoreOptions options, string user, ILogger logger)
    {
        TrackingUri = trackingUri;
        DatabasePath = databasePath;
        ArtifactRoot = artifactRoot;
        _time = options.TimeProvider;
        _user = user;
        _logger = logger;
        // synchronous = NORMAL under WAL: a commit is appended to the WAL without an fsync (the WAL is synced at
        // checkpoints). What was committed survives the process crashing or being killed (the OS has the write); a
        // power loss or OS crash may lose the last commits, never corrupt the database. Per connection, so set on each.
        _connectionPragmas = string.Create(CultureInfo.InvariantCulture,
            $"PRAGMA busy_timeout = {(int)options.SqliteBusyTimeout.TotalMilliseconds}; PRAGMA synchronous = NORMAL;");
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = databasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            ForeignKeys = true,
            DefaultTimeout = Math.Max(1, (int)Math.Ceiling(options.SqliteBusyTimeout.TotalSeconds)),
        }.ToString();
    }

    /// <inheritdoc />
    public string TrackingUri { get; }

    /// <summary>Full path of the database file.</summary>
    public string DatabasePath { get; }

    /// <summary>Full path of the artifact root (experiment folders live directly under it).</summary>
    public string ArtifactRoot { get; }

    /// <summary>Opens (creating when new) the database at <paramref name="databasePath"/> with MLflow's schema.</summary>
    internal static MlflowSqliteStore Open(string trackingUri, string databasePath, MlflowStoreOptions options, ILogger logger)
    {
        var directory = Path.GetDirectoryName(databasePath) ?? options.ResolveWorkingDirectory();
        var artifactRoot = options.ArtifactRoot is { Length: > 0 } root
            ? Path.GetFullPath(Path.IsPathRooted(root) ? root : Path.Combine(options.ResolveWorkingDirectory(), root))
            : Path.Combine(directory, "mlartifacts");
        try
        {
            Directory.CreateDirectory(directory);
            Directory.CreateDirectory(artifactRoot);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MlflowConfigurationException($"Cannot create the MLflow store folders '{directory}' and '{artifactRoot}': {e.Message}", e);
        }

        var store = new MlflowSqliteStore(trackingUri, databasePath, artifactRoot, options, options.ResolveUser(options.ResolveEnvironment()), logger);
        try
        {
            store.Initialize();
        }
        catch (SqliteException e)
        {
            throw new MlflowConfigurationException($"Cannot open the MLflow database '{databasePath}': {e.Message}", e);
        }

        return store;
    }

    /// <summary>MLflow's schema as this store creates it (the embedded copy of the reference SQL).</summary>
    internal static string ReadSchemaSql()
    {
        using var stream = typeof(MlflowSqliteStore).Assembly.GetManifestResourceStream(SchemaResource)
            ?? throw new InvalidOperationException($"Embedded resource {SchemaResource} is missing.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    private void Initialize()
    {
        using var connection = new SqliteConnection(_connectionString);
        connection.Open();
        Execute(connection, null, _connectionPragmas);
        Execute(connection, null, "PRAGMA journal_mode = WAL;");

        using var transaction = connection.BeginTransaction(deferred: false);
        var hasSchema = Scalar<long>(connection, transaction,
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'experiments';") > 0;
        if (!hasSchema)
        {
            Execute(connection, transaction, ReadSchemaSql());
            Log.SchemaCreated(_logger, SchemaRevision, DatabasePath);
        }
        else
        {
            var found = Scalar<string>(connection, transaction, "SELECT version_num FROM alembic_version LIMIT 1;");
            if (!string.Equals(found, SchemaRevision, StringComparison.Ordinal))
            {
                Log.SchemaRevisionDiffers(_logger, DatabasePath, found ?? "(none)", SchemaRevision);
            }
        }

        // As MLflow's SqlAlchemyStore does on start: experiment 0 "Default" when missing.
        var now = NowMs();
        Execute(connection, transaction,
            "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time) " +
            "SELECT 0, $name, $location, 'active', $now, $now WHERE NOT EXISTS (SELECT 1 FROM experiments WHERE experiment_id = 0);",
            ("$name", DefaultExperimentName), ("$location", ExperimentArtifactLocation(0)), ("$now", now));
        transaction.Commit();
    }

    /// <inheritdoc />
    public async Task<MlflowExperiment> GetOrCreateExperimentAsync(string name, CancellationToken cancellationToken = default)
    {
        MlflowValidation.ValidateExperimentName(name);
        var existing = await GetExperimentByNameAsync(name, cancellationToken).ConfigureAwait(false);
        if (existing is not null)
        {
            return EnsureActive(existing);
        }

        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            try
            {
                using var transaction = connection.BeginTransaction(deferred: false);
                var now = NowMs();
                var id = Scalar<long>(connection, transaction,
                    "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, last_update_time) " +
                    "VALUES ($name, NULL, 'active', $now, $now) RETURNING experiment_id;",
                    ("$name", name), ("$now", now));
                Execute(connection, transaction, "UPDATE experiments SET artifact_location = $location WHERE experiment_id = $id;",
                    ("$location", ExperimentArtifactLocation(id)), ("$id", id));
                transaction.Commit();
                var idText = id.ToString(CultureInfo.InvariantCulture);
                Log.ExperimentCreated(_logger, name, idText);
            }
            catch (SqliteException e) when (e.SqliteErrorCode == SqliteConstraint)
            {
                Log.ExperimentCreatedConcurrently(_logger, name);
            }
        }

        var created = await GetExperimentByNameAsync(name, cancellationToken).ConfigureAwait(false)
            ?? throw new MlflowException(MlflowErrorCodes.ResourceDoesNotExist, $"Experiment '{name}' was created but cannot be read.");
        return EnsureActive(created);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<MlflowExperiment>> ListExperimentsAsync(CancellationToken cancellationToken = default)
    {
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var names = new List<string>();
            using (var command = Command(connection, null, "SELECT name FROM experiments WHERE lifecycle_stage = 'active' ORDER BY experiment_id;"))
            {
                var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        names.Add(reader.GetString(0));
                    }
                }
            }

            var experiments = new List<MlflowExperiment>();
            foreach (var name in names)
            {
                if (await ReadExperimentAsync(connection, "name = $key", name, cancellationToken).ConfigureAwait(false) is { } experiment)
                {
                    experiments.Add(experiment);
                }
            }

            return experiments;
        }
    }

    /// <inheritdoc />
    public async Task<MlflowExperiment?> GetExperimentByNameAsync(string name, CancellationToken cancellationToken = default)
    {
        MlflowValidation.ValidateExperimentName(name);
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            return await ReadExperimentAsync(connection, "name = $key", name, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async Task<MlflowRun> CreateRunAsync(
        string experimentId, string? runName, long startTimeMs, IReadOnlyList<MlflowTag>? tags = null, CancellationToken cancellationToken = default)
    {
        var experimentKey = ParseExperimentId(experimentId);
        var allTags = RunTags.ForNewRun(runName, tags, _user);
        var runId = Guid.NewGuid().ToString("N");
        var name = runName ?? allTags.FirstOrDefault(t => t.Key == MlflowTags.RunName)?.Value ?? "run-" + runId[..8];
        if (!allTags.Any(t => t.Key == MlflowTags.RunName))
        {
            allTags.Add(new MlflowTag(MlflowTags.RunName, name));
        }

        var user = allTags.First(t => t.Key == MlflowTags.User).Value;
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var experiment = await ReadExperimentAsync(connection, "experiment_id = $key", experimentKey, cancellationToken).ConfigureAwait(false)
                ?? throw new MlflowException(MlflowErrorCodes.ResourceDoesNotExist, $"No experiment with id={experimentId} exists.");
            EnsureActive(experiment);
            var artifactUri = AppendToUri(experiment.ArtifactLocation ?? ExperimentArtifactLocation(experimentKey), runId, "artifacts");

            using var transaction = connection.BeginTransaction(deferred: false);
            Execute(connection, transaction,
                "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, start_time, end_time, " +
                "source_version, lifecycle_stage, artifact_uri, experiment_id, deleted_time) VALUES " +
                "($id, $name, 'LOCAL', '', '', $user, 'RUNNING', $start, NULL, '', 'active', $artifactUri, $experiment, NULL);",
                ("$id", runId), ("$name", name), ("$user", user), ("$start", startTimeMs), ("$artifactUri", artifactUri),
                ("$experiment", experimentKey));
            foreach (var tag in allTags)
            {
                UpsertTag(connection, transaction, runId, tag);
            }

            transaction.Commit();
        }

        return await GetRunAsync(runId, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task LogBatchAsync(
        string runId,
        IReadOnlyList<MlflowMetric>? metrics,
        IReadOnlyList<MlflowParam>? parameters,
        IReadOnlyList<MlflowTag>? tags,
        CancellationToken cancellationToken = default)
    {
        MlflowValidation.ValidateRunId(runId);
        metrics ??= [];
        parameters ??= [];
        tags ??= [];
        MlflowValidation.ValidateBatch(metrics, parameters, tags);
        if (metrics.Count + parameters.Count + tags.Count == 0)
        {
            return;
        }

        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var transaction = connection.BeginTransaction(deferred: false);
            EnsureRunActive(connection, transaction, runId);
            foreach (var param in parameters)
            {
                cancellationToken.ThrowIfCancellationRequested();
                LogParam(connection, transaction, runId, param);
            }

            foreach (var tag in tags)
            {
                cancellationToken.ThrowIfCancellationRequested();
                UpsertTag(connection, transaction, runId, tag);
            }

            LogMetrics(connection, transaction, runId, metrics, cancellationToken);
            transaction.Commit();
        }
    }

    /// <inheritdoc />
    public async Task<MlflowRunInfo> UpdateRunAsync(string runId, MlflowRunStatus status, long? endTimeMs, CancellationToken cancellationToken = default)
    {
        MlflowValidation.ValidateRunId(runId);
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using (var transaction = connection.BeginTransaction(deferred: false))
            {
                EnsureRunActive(connection, transaction, runId);
                Execute(connection, transaction,
                    "UPDATE runs SET status = $status, end_time = COALESCE($end, end_time) WHERE run_uuid = $id;",
                    ("$status", MlflowRunStatusNames.ToWire(status)), ("$end", endTimeMs), ("$id", runId));
                transaction.Commit();
            }

            var runs = await ReadRunsAsync(connection, [runId], cancellationToken, infoOnly: true).ConfigureAwait(false);
            return runs[0].Info;
        }
    }

    /// <inheritdoc />
    public async Task SetTagAsync(string runId, string key, string value, CancellationToken cancellationToken = default)
    {
        MlflowValidation.ValidateRunId(runId);
        var tag = new MlflowTag(key, value);
        MlflowValidation.ValidateTag(tag);
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var transaction = connection.BeginTransaction(deferred: false);
            EnsureRunActive(connection, transaction, runId);
            UpsertTag(connection, transaction, runId, tag);
            transaction.Commit();
        }
    }

    /// <inheritdoc />
    public async Task<MlflowRun> GetRunAsync(string runId, CancellationToken cancellationToken = default)
    {
        MlflowValidation.ValidateRunId(runId);
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var runs = await ReadRunsAsync(connection, [runId], cancellationToken).ConfigureAwait(false);
            return runs.Count == 1 ? runs[0] : throw RunNotFound(runId);
        }
    }

    /// <inheritdoc />
    public async Task<MlflowRunsPage> SearchRunsAsync(MlflowRunQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        SearchQueryChecks.Validate(query);
        var clauses = SearchFilter.ParseFilter(query.Filter);
        var order = SearchFilter.ParseOrderBy(query.OrderBy);
        var offset = SearchFilter.ParsePageToken(query.PageToken);
        var experimentIds = query.ExperimentIds.Select(ParseExperimentId).Distinct().ToList();

        var parameters = new List<(string, object?)>();
        string Bind(object? value)
        {
            var name = "$p" + parameters.Count.ToString(CultureInfo.InvariantCulture);
            parameters.Add((name, value));
            return name;
        }

        var inner = new StringBuilder("SELECT ").Append(RunColumns);
        for (var i = 0; i < order.Count; i++)
        {
            var term = order[i];
            var table = term.Entity switch
            {
                SearchEntity.Metric => "latest_metrics",
                SearchEntity.Param => "params",
                SearchEntity.Tag => "tags",
                _ => null,
            };
            if (table is null)
            {
                continue;
            }

            var key = Bind(term.Key);
            inner.Append(CultureInfo.InvariantCulture, $", (SELECT o.value FROM {table} o WHERE o.run_uuid = r.run_uuid AND o.key = {key}) AS o{i}v");
            if (term.Entity == SearchEntity.Metric)
            {
                inner.Append(CultureInfo.InvariantCulture, $", (SELECT o.is_nan FROM latest_metrics o WHERE o.run_uuid = r.run_uuid AND o.key = {key}) AS o{i}n");
            }
        }

        inner.Append(" FROM runs r WHERE r.lifecycle_stage = 'active' AND r.experiment_id IN (")
            .AppendJoin(", ", experimentIds.Select(id => Bind(id))).Append(')');
        foreach (var clause in clauses)
        {
            inner.Append(" AND ").Append(ClauseSql(clause, Bind));
        }

        var sql = new StringBuilder("SELECT * FROM (").Append(inner).Append(") r ORDER BY ");
        var orderSql = new List<string>();
        var ordersByStart = false;
        for (var i = 0; i < order.Count; i++)
        {
            var term = order[i];
            var direction = term.Ascending ? "ASC" : "DESC";
            switch (term.Entity)
            {
                case SearchEntity.Metric:
                    // As MLflow: runs without the metric last, NaN before them, whatever the direction.
                    orderSql.Add($"CASE WHEN o{i}v IS NULL THEN 2 WHEN o{i}n = 1 THEN 1 ELSE 0 END");
                    orderSql.Add($"o{i}v {direction}");
                    break;
                case SearchEntity.Param or SearchEntity.Tag:
                    orderSql.Add($"CASE WHEN o{i}v IS NULL THEN 1 ELSE 0 END");
                    orderSql.Add($"o{i}v {direction}");
                    break;
                default:
                    orderSql.Add($"r.{term.Key} {direction}");
                    ordersByStart |= term.Key == "start_time";
                    break;
            }
        }

        if (!ordersByStart)
        {
            orderSql.Add("r.start_time DESC");
        }

        orderSql.Add("r.run_uuid ASC");
        sql.AppendJoin(", ", orderSql)
            .Append(" LIMIT ").Append(Bind(query.MaxResults + 1))
            .Append(" OFFSET ").Append(Bind(offset)).Append(';');

        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var ids = new List<string>();
            using (var command = Command(connection, null, sql.ToString(), [.. parameters]))
            {
                var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        ids.Add(reader.GetString(0));
                    }
                }
            }

            var hasMore = ids.Count > query.MaxResults;
            if (hasMore)
            {
                ids.RemoveAt(ids.Count - 1);
            }

            var runs = await ReadRunsAsync(connection, ids, cancellationToken).ConfigureAwait(false);
            return new MlflowRunsPage(runs, hasMore ? SearchFilter.CreatePageToken(offset + query.MaxResults) : null);
        }
    }

    /// <inheritdoc />
    public async Task LogArtifactAsync(string runId, string relativePath, Stream content, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        var path = MlflowValidation.ValidateArtifactPath(relativePath);
        var root = await RunArtifactDirectoryAsync(runId, cancellationToken).ConfigureAwait(false);
        var target = Path.Combine(root, path.Replace('/', Path.DirectorySeparatorChar));
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        var temporary = Path.Combine(Path.GetDirectoryName(target)!, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.tmp");
        try
        {
            var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, useAsync: true);
            await using (file.ConfigureAwait(false))
            {
                await content.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
            }

            File.Move(temporary, target, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary))
            {
                File.Delete(temporary);
            }
        }
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<MlflowFileInfo>> ListArtifactsAsync(string runId, string? path = null, CancellationToken cancellationToken = default)
    {
        var folder = MlflowValidation.ValidateArtifactPath(path ?? string.Empty, allowEmpty: true);
        var root = await RunArtifactDirectoryAsync(runId, cancellationToken).ConfigureAwait(false);
        var directory = folder.Length == 0 ? root : Path.Combine(root, folder.Replace('/', Path.DirectorySeparatorChar));
        if (!Directory.Exists(directory))
        {
            return [];
        }

        var prefix = folder.Length == 0 ? string.Empty : folder + "/";
        var result = new List<MlflowFileInfo>();
        foreach (var entry in new DirectoryInfo(directory).EnumerateFileSystemInfos())
        {
            if (entry.Name.StartsWith('.') && entry.Name.EndsWith(".tmp", StringComparison.Ordinal))
            {
                continue;
            }

            result.Add(entry is FileInfo file
                ? new MlflowFileInfo(prefix + entry.Name, false, file.Length)
                : new MlflowFileInfo(prefix + entry.Name, true, null));
        }

        return [.. result.OrderBy(f => f.Path, StringComparer.Ordinal)];
    }

    /// <inheritdoc />
    public async Task<byte[]> ReadArtifactAsync(string runId, string path, CancellationToken cancellationToken = default)
    {
        var artifactPath = MlflowValidation.ValidateArtifactPath(path);
        var root = await RunArtifactDirectoryAsync(runId, cancellationToken).ConfigureAwait(false);
        var file = Path.Combine(root, artifactPath.Replace('/', Path.DirectorySeparatorChar));
        if (!File.Exists(file))
        {
            throw new MlflowException(MlflowErrorCodes.ResourceDoesNotExist, $"Run {runId} has no artifact '{artifactPath}'.");
        }

        return await File.ReadAllBytesAsync(file, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        // Pooled connections keep the file (and its -wal/-shm) open; release them so the folder can be moved or deleted.
        using (var connection = new SqliteConnection(_connectionString))
        {
            SqliteConnection.ClearPool(connection);
        }

        return ValueTask.CompletedTask;
    }

    private string ExperimentArtifactLocation(long experimentId) =>
        AppendToUri(ArtifactRoot.Replace(Path.DirectorySeparatorChar, '/'), experimentId.ToString(CultureInfo.InvariantCulture));

    private static string AppendToUri(string baseUri, params string[] segments) =>
        baseUri.TrimEnd('/') + "/" + string.Join('/', segments);

    private long NowMs() => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            Execute(connection, null, _connectionPragmas);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task<string> RunArtifactDirectoryAsync(string runId, CancellationToken cancellationToken)
    {
        // A run's artifact location never changes: looked up once per run (a recorder writes several artifacts).
        if (_artifactDirectories.TryGetValue(runId, out var known))
        {
            return known;
        }

        var directory = await LookUpArtifactDirectoryAsync(runId, cancellationToken).ConfigureAwait(false);
        if (_artifactDirectories.Count >= 1024)
        {
            _artifactDirectories.Clear();
        }

        _artifactDirectories[runId] = directory;
        return directory;
    }

    private async Task<string> LookUpArtifactDirectoryAsync(string runId, CancellationToken cancellationToken)
    {
        // Only the artifact location: reading the whole run (params, tags, every metric) for each artifact write
        // grew with the run and dominated interim transcript writes.
        MlflowValidation.ValidateRunId(runId);
        string? uri;
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var command = Command(connection, null, "SELECT count(*), max(artifact_uri) FROM runs WHERE run_uuid = $id;", ("$id", runId));
            using var reader = command.ExecuteReader();
            reader.Read();
            if (reader.GetInt64(0) == 0)
            {
                throw RunNotFound(runId);
            }

            uri = reader.IsDBNull(1) ? null : reader.GetString(1);
        }

        uri = uri ?? throw new MlflowException(MlflowErrorCodes.InvalidState, $"Run {runId} has no artifact_uri.");
        return LocalArtifactPath(uri)
            ?? throw new MlflowException(MlflowErrorCodes.InvalidState,
                $"Run {runId} keeps its artifacts at '{uri}', which is not a local folder this store can use.");
    }

    /// <summary>The local folder an artifact URI names: a path, a <c>file:</c> URI, or <c>mlflow-artifacts:/…</c> under the artifact root.</summary>
    internal string? LocalArtifactPath(string artifactUri)
    {
        if (artifactUri.StartsWith("file:", StringComparison.OrdinalIgnoreCase) &&
            Uri.TryCreate(artifactUri, UriKind.Absolute, out var fileUri) && fileUri.IsFile)
        {
            return fileUri.LocalPath;
        }

        if (MlflowRestStore.ProxyRelativePath(artifactUri) is { } proxied)
        {
            return Path.Combine(ArtifactRoot, proxied.Replace('/', Path.DirectorySeparatorChar));
        }

        return Path.IsPathRooted(artifactUri) && !artifactUri.Contains("://", StringComparison.Ordinal) ? artifactUri : null;
    }

    private static long ParseExperimentId(string experimentId)
    {
        ArgumentException.ThrowIfNullOrEmpty(experimentId);
        return long.TryParse(experimentId, NumberStyles.None, CultureInfo.InvariantCulture, out var id)
            ? id
            : throw new MlflowValidationException($"Invalid experiment id '{experimentId}': the SQL store uses integer ids.");
    }

    private static MlflowExperiment EnsureActive(MlflowExperiment experiment) =>
        string.Equals(experiment.LifecycleStage, "deleted", StringComparison.Ordinal)
            ? throw new MlflowException(MlflowErrorCodes.InvalidState,
                $"Experiment '{experiment.Name}' ({experiment.ExperimentId}) is deleted; restore it or delete it permanently to create it again.")
            : experiment;

    private static MlflowException RunNotFound(string runId) =>
        new(MlflowErrorCodes.ResourceDoesNotExist, $"Run with id={runId} not found.");

    private static void EnsureRunActive(SqliteConnection connection, SqliteTransaction transaction, string runId)
    {
        var stage = Scalar<string>(connection, transaction, "SELECT lifecycle_stage FROM runs WHERE run_uuid = $id;", ("$id", runId))
            ?? throw RunNotFound(runId);
        if (!string.Equals(stage, "active", StringComparison.Ordinal))
        {
            throw new MlflowException(MlflowErrorCodes.InvalidParameterValue,
                $"The run {runId} must be in the 'active' state. Current state is {stage}.");
        }
    }

    private static void LogParam(SqliteConnection connection, SqliteTransaction transaction, string runId, MlflowParam param)
    {
        var existing = Scalar<string>(connection, transaction,
            "SELECT value FROM params WHERE run_uuid = $id AND key = $key;", ("$id", runId), ("$key", param.Key));
        if (existing is null)
        {
            Execute(connection, transaction, "INSERT INTO params (key, value, run_uuid) VALUES ($key, $value, $id);",
                ("$key", param.Key), ("$value", param.Value), ("$id", runId));
        }
        else if (!string.Equals(existing, param.Value, StringComparison.Ordinal))
        {
            throw new MlflowException(MlflowErrorCodes.InvalidParameterValue,
                $"Changing param values is not allowed. Param with key='{param.Key}' was already logged with value='{existing}' " +
                $"for run ID='{runId}'. Attempted logging new value '{param.Value}'.");
        }
    }

    private static void UpsertTag(SqliteConnection connection, SqliteTransaction transaction, string runId, MlflowTag tag)
    {
        Execute(connection, transaction,
            "INSERT INTO tags (key, value, run_uuid) VALUES ($key, $value, $id) ON CONFLICT (key, run_uuid) DO UPDATE SET value = excluded.value;",
            ("$key", tag.Key), ("$value", tag.Value), ("$id", runId));
        if (tag.Key == MlflowTags.RunName)
        {
            Execute(connection, transaction, "UPDATE runs SET name = $name WHERE run_uuid = $id;", ("$name", tag.Value), ("$id", runId));
        }
    }

    /// <summary>Metric rows (duplicates ignored, as MLflow) and <c>latest_metrics</c> by MLflow's rule: (step, timestamp, value) greatest.</summary>
    private static void LogMetrics(
        SqliteConnection connection, SqliteTransaction transaction, string runId, IReadOnlyList<MlflowMetric> metrics, CancellationToken cancellationToken)
    {
        if (metrics.Count == 0)
        {
            return;
        }

        var latest = new Dictionary<string, (double Value, long Timestamp, long Step, bool IsNan, bool Changed)>(StringComparer.Ordinal);
        using (var existing = Command(connection, transaction,
            "SELECT key, value, timestamp, step, is_nan FROM latest_metrics WHERE run_uuid = $id;", ("$id", runId)))
        using (var reader = existing.ExecuteReader())
        {
            while (reader.Read())
            {
                latest[reader.GetString(0)] = (reader.GetDouble(1), reader.IsDBNull(2) ? 0 : reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4) != 0, false);
            }
        }

        using var insert = Command(connection, transaction,
            "INSERT OR IGNORE INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES ($key, $value, $timestamp, $id, $step, $isNan);",
            ("$key", string.Empty), ("$value", 0.0), ("$timestamp", 0L), ("$id", runId), ("$step", 0L), ("$isNan", 0L));
        foreach (var metric in metrics)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (isNan, value) = Sanitize(metric.Value);
            insert.Parameters["$key"].Value = metric.Key;
            insert.Parameters["$value"].Value = value;
            insert.Parameters["$timestamp"].Value = metric.Timestamp;
            insert.Parameters["$step"].Value = metric.Step;
            insert.Parameters["$isNan"].Value = isNan ? 1L : 0L;
            insert.ExecuteNonQuery();

            if (!latest.TryGetValue(metric.Key, out var current) ||
                (metric.Step, metric.Timestamp, value).CompareTo((current.Step, current.Timestamp, current.Value)) > 0)
            {
                latest[metric.Key] = (value, metric.Timestamp, metric.Step, isNan, true);
            }
        }

        using var upsert = Command(connection, transaction,
            "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES ($key, $value, $timestamp, $step, $isNan, $id) " +
            "ON CONFLICT (key, run_uuid) DO UPDATE SET value = excluded.value, timestamp = excluded.timestamp, step = excluded.step, is_nan = excluded.is_nan;",
            ("$key", string.Empty), ("$value", 0.0), ("$timestamp", 0L), ("$step", 0L), ("$isNan", 0L), ("$id", runId));
        foreach (var (key, entry) in latest)
        {
            if (!entry.Changed)
            {
                continue;
            }

            upsert.Parameters["$key"].Value = key;
            upsert.Parameters["$value"].Value = entry.Value;
            upsert.Parameters["$timestamp"].Value = entry.Timestamp;
            upsert.Parameters["$step"].Value = entry.Step;
            upsert.Parameters["$isNan"].Value = entry.IsNan ? 1L : 0L;
            upsert.ExecuteNonQuery();
        }
    }

    /// <summary>As MLflow's <c>sanitize_metric_value</c>: NaN → 0 with <c>is_nan</c>; ±∞ → ±double.MaxValue.</summary>
    internal static (bool IsNan, double Value) Sanitize(double value) =>
        double.IsNaN(value) ? (true, 0.0)
        : double.IsPositiveInfinity(value) ? (false, double.MaxValue)
        : double.IsNegativeInfinity(value) ? (false, double.MinValue)
        : (false, value);

    private static string ClauseSql(SearchClause clause, Func<object?, string> bind)
    {
        switch (clause.Entity)
        {
            case SearchEntity.Metric:
                return $"EXISTS (SELECT 1 FROM latest_metrics f WHERE f.run_uuid = r.run_uuid AND f.key = {bind(clause.Key)} " +
                       $"AND f.is_nan = 0 AND f.value {clause.Comparator} {bind(clause.Value)})";
            case SearchEntity.Param or SearchEntity.Tag:
                var table = clause.Entity == SearchEntity.Param ? "params" : "tags";
                return $"EXISTS (SELECT 1 FROM {table} f WHERE f.run_uuid = r.run_uuid AND f.key = {bind(clause.Key)} " +
                       $"AND {StringPredicate("f.value", clause, bind)})";
            default:
                return clause.Value is double number
                    ? $"r.{clause.Key} {clause.Comparator} {bind((long)number)}"
                    : StringPredicate("r." + clause.Key, clause, bind);
        }
    }

    private static string StringPredicate(string column, SearchClause clause, Func<object?, string> bind) => clause.Comparator switch
    {
        // MLflow's LIKE is case-sensitive; SQLite's LIKE is not, so LIKE becomes GLOB and ILIKE becomes LIKE.
        "LIKE" => $"{column} GLOB {bind(LikeToGlob((string)clause.Value))}",
        "ILIKE" => $"{column} LIKE {bind(clause.Value)}",
        "IN" or "NOT IN" => $"{column} {clause.Comparator} ({string.Join(", ", ((List<string>)clause.Value).Select(v => bind(v)))})",
        _ => $"{column} {clause.Comparator} {bind(clause.Value)}",
    };

    internal static string LikeToGlob(string pattern)
    {
        var builder = new StringBuilder(pattern.Length + 8);
        foreach (var c in pattern)
        {
            builder.Append(c switch
            {
                '%' => "*",
                '_' => "?",
                '*' => "[*]",
                '?' => "[?]",
                '[' => "[[]",
                _ => c.ToString(),
            });
        }

        return builder.ToString();
    }

    private static async Task<MlflowExperiment?> ReadExperimentAsync(SqliteConnection connection, string where, object key, CancellationToken cancellationToken)
    {
        using var command = Command(connection, null,
            $"SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time FROM experiments WHERE {where};",
            ("$key", key));
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                return null;
            }

            return new MlflowExperiment(
                reader.GetInt64(0).ToString(CultureInfo.InvariantCulture),
                reader.GetString(1),
                reader.IsDBNull(2) ? null : reader.GetString(2),
                reader.IsDBNull(3) ? "active" : reader.GetString(3),
                reader.IsDBNull(4) ? null : reader.GetInt64(4),
                reader.IsDBNull(5) ? null : reader.GetInt64(5));
        }
    }

    /// <summary>Full runs (info, latest metrics, params, tags) in the order of <paramref name="runIds"/>; unknown ids are left out.</summary>
    // infoOnly: the runs rows alone (UpdateRun returns only the info; reading every metric of a long run cost more
    // than the update).
    private static async Task<List<MlflowRun>> ReadRunsAsync(SqliteConnection connection, List<string> runIds, CancellationToken cancellationToken, bool infoOnly = false)
    {
        if (runIds.Count == 0)
        {
            return [];
        }

        var names = runIds.Select((_, i) => "$r" + i.ToString(CultureInfo.InvariantCulture)).ToList();
        var bindings = runIds.Select((id, i) => (names[i], (object?)id)).ToArray();
        var inList = string.Join(", ", names);

        var infos = new Dictionary<string, MlflowRunInfo>(StringComparer.Ordinal);
        using (var command = Command(connection, null, $"SELECT {RunColumns} FROM runs r WHERE r.run_uuid IN ({inList});", bindings))
        {
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    var id = reader.GetString(0);
                    infos[id] = new MlflowRunInfo(
                        id,
                        reader.IsDBNull(1) ? string.Empty : reader.GetInt64(1).ToString(CultureInfo.InvariantCulture),
                        reader.IsDBNull(2) ? null : reader.GetString(2),
                        reader.IsDBNull(3) ? null : reader.GetString(3),
                        MlflowRunStatusNames.FromWire(reader.IsDBNull(4) ? null : reader.GetString(4)),
                        reader.IsDBNull(5) ? null : reader.GetInt64(5),
                        reader.IsDBNull(6) ? null : reader.GetInt64(6),
                        reader.IsDBNull(7) ? null : reader.GetString(7),
                        reader.IsDBNull(8) ? "active" : reader.GetString(8));
                }
            }
        }

        var metrics = new Dictionary<string, List<MlflowMetric>>(StringComparer.Ordinal);
        var parameters = new Dictionary<string, List<MlflowParam>>(StringComparer.Ordinal);
        var tags = new Dictionary<string, List<MlflowTag>>(StringComparer.Ordinal);
        if (infoOnly)
        {
            return [.. runIds.Where(infos.ContainsKey).Select(id => new MlflowRun(infos[id], [], [], []))];
        }

        using (var command = Command(connection, null,
            $"SELECT run_uuid, key, value, timestamp, step, is_nan FROM latest_metrics WHERE run_uuid IN ({inList}) ORDER BY key;", bindings))
        {
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    var value = reader.GetInt64(5) != 0 ? double.NaN : reader.GetDouble(2);
                    Add(metrics, reader.GetString(0), new MlflowMetric(reader.GetString(1), value, reader.IsDBNull(3) ? 0 : reader.GetInt64(3), reader.GetInt64(4)));
                }
            }
        }

        foreach (var (table, isParam) in new[] { ("params", true), ("tags", false) })
        {
            using var command = Command(connection, null, $"SELECT run_uuid, key, value FROM {table} WHERE run_uuid IN ({inList}) ORDER BY key;", bindings);
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    var value = reader.IsDBNull(2) ? string.Empty : reader.GetString(2);
                    if (isParam)
                    {
                        Add(parameters, reader.GetString(0), new MlflowParam(reader.GetString(1), value));
                    }
                    else
                    {
                        Add(tags, reader.GetString(0), new MlflowTag(reader.GetString(1), value));
                    }
                }
            }
        }

        var runs = new List<MlflowRun>(runIds.Count);
        foreach (var id in runIds)
        {
            if (infos.TryGetValue(id, out var info))
            {
                runs.Add(new MlflowRun(
                    info,
                    metrics.GetValueOrDefault(id) ?? [],
                    parameters.GetValueOrDefault(id) ?? [],
                    tags.GetValueOrDefault(id) ?? []));
            }
        }

        return runs;

        static void Add<T>(Dictionary<string, List<T>> map, string key, T item)
        {
            if (!map.TryGetValue(key, out var list))
            {
                map[key] = list = [];
            }

            list.Add(item);
        }
    }

    private static SqliteCommand Command(SqliteConnection connection, SqliteTransaction? transaction, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
#pragma warning disable CA2100 // SQL text is built from fixed fragments; every value is a bound parameter.
        command.CommandText = sql;
#pragma warning restore CA2100
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return command;
    }

    private static void Execute(SqliteConnection connection, SqliteTransaction? transaction, string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(connection, transaction, sql, parameters);
        command.ExecuteNonQuery();
    }

    private static T? Scalar<T>(SqliteConnection connection, SqliteTransaction? transaction, string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(connection, transaction, sql, parameters);
        var value = command.ExecuteScalar();
        return value is null or DBNull ? default : (T)Convert.ChangeType(value, typeof(T), CultureInfo.InvariantCulture);
    }
}
