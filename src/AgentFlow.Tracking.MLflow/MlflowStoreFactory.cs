using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentFlow.Tracking.MLflow;

/// <summary>Creates the <see cref="IMlflowStore"/> a tracking URI names.</summary>
public static class MlflowStoreFactory
{
    /// <summary>The tracking URI used when none is given: an embedded database in <c>.agentflow/</c> of the working folder.</summary>
    public const string DefaultTrackingUri = "sqlite:///.agentflow/mlflow.db";

    /// <summary>Environment variable MLflow reads its tracking URI from.</summary>
    public const string TrackingUriVariable = "MLFLOW_TRACKING_URI";

    /// <summary>
    /// The tracking URI to use: <paramref name="trackingUri"/> when given, else <c>MLFLOW_TRACKING_URI</c> from
    /// <paramref name="environment"/>, else <see cref="DefaultTrackingUri"/>.
    /// </summary>
    public static string ResolveTrackingUri(string? trackingUri, IReadOnlyDictionary<string, string>? environment)
    {
        if (!string.IsNullOrWhiteSpace(trackingUri))
        {
            return trackingUri.Trim();
        }

        if (environment is not null && environment.TryGetValue(TrackingUriVariable, out var fromEnvironment) &&
            !string.IsNullOrWhiteSpace(fromEnvironment))
        {
            return fromEnvironment.Trim();
        }

        return DefaultTrackingUri;
    }

    /// <summary>
    /// Opens the store for <paramref name="trackingUri"/> (resolved by <see cref="ResolveTrackingUri"/>):
    /// <c>http://</c> or <c>https://</c> → <see cref="MlflowRestStore"/>; <c>sqlite:///relative/path.db</c> or
    /// <c>sqlite:////absolute/path.db</c> → <see cref="MlflowSqliteStore"/> (created with MLflow's full schema when new).
    /// Anything else (a plain path, <c>file:</c>, <c>databricks</c>) fails with <see cref="MlflowConfigurationException"/>.
    /// </summary>
    /// <param name="trackingUri">Tracking URI; null or empty for <c>MLFLOW_TRACKING_URI</c> or the default.</param>
    /// <param name="options">Store options; defaults when null.</param>
    /// <param name="loggerFactory">Logging; none when null.</param>
    public static IMlflowStore Create(string? trackingUri, MlflowStoreOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        options ??= new MlflowStoreOptions();
        options.Validate();
        loggerFactory ??= NullLoggerFactory.Instance;
        var environment = options.ResolveEnvironment();
        var uri = ResolveTrackingUri(trackingUri, environment);

        if (uri.StartsWith("http://", StringComparison.OrdinalIgnoreCase) ||
            uri.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            return new MlflowRestStore(uri, options, loggerFactory.CreateLogger<MlflowRestStore>());
        }

        if (uri.StartsWith("sqlite:", StringComparison.OrdinalIgnoreCase))
        {
            var databasePath = SqliteDatabasePath(uri, options.ResolveWorkingDirectory());
            return MlflowSqliteStore.Open(uri, databasePath, options, loggerFactory.CreateLogger<MlflowSqliteStore>());
        }

        if (uri.StartsWith("file:", StringComparison.OrdinalIgnoreCase) || !uri.Contains("://", StringComparison.Ordinal))
        {
            throw new MlflowConfigurationException(
                $"Tracking URI '{uri}' names MLflow's file store, which is deprecated and not supported here. " +
                $"Use '{DefaultTrackingUri}' (or another sqlite:/// path) or an http(s):// MLflow server.");
        }

        throw new MlflowConfigurationException(
            $"Tracking URI '{uri}' is not supported: use sqlite:///path/to/mlflow.db or http(s)://host:port of an MLflow server.");
    }

    /// <summary>The database file a <c>sqlite:///</c> URI names, resolved against <paramref name="workingDirectory"/>.</summary>
    internal static string SqliteDatabasePath(string uri, string workingDirectory)
    {
        const string Prefix = "sqlite:///";
        if (!uri.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase))
        {
            throw new MlflowConfigurationException(
                $"SQLite tracking URI '{uri}' must start with '{Prefix}' (sqlite:///relative.db or sqlite:////absolute.db).");
        }

        var path = uri[Prefix.Length..];
        var query = path.IndexOf('?', StringComparison.Ordinal);
        if (query >= 0)
        {
            path = path[..query];
        }

        path = Uri.UnescapeDataString(path);
        if (path.Length == 0 || path == ":memory:")
        {
            throw new MlflowConfigurationException(
                $"SQLite tracking URI '{uri}' must name a database file (in-memory databases are not supported).");
        }

        return Path.GetFullPath(Path.IsPathRooted(path) ? path : Path.Combine(workingDirectory, path));
    }
}
