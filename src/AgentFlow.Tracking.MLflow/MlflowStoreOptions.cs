using System.Collections;

namespace AgentFlow.Tracking.MLflow;

/// <summary>Settings of an MLflow store. Every property has a stated default; <see cref="Validate"/> runs when a store is created.</summary>
public sealed class MlflowStoreOptions
{
    /// <summary>Folder that relative <c>sqlite:///</c> paths are resolved against. Default: the process's current directory.</summary>
    public string? WorkingDirectory { get; set; }

    /// <summary>
    /// Environment variables to read (<c>MLFLOW_TRACKING_URI</c>, <c>MLFLOW_TRACKING_USERNAME</c>, <c>MLFLOW_TRACKING_PASSWORD</c>,
    /// <c>MLFLOW_TRACKING_TOKEN</c>, <c>MLFLOW_TRACKING_INSECURE_TLS</c>, <c>USER</c>). Default: a snapshot of the process environment.
    /// Tests pass their own dictionary.
    /// </summary>
    public IReadOnlyDictionary<string, string>? Environment { get; set; }

    /// <summary>Clock for experiment/metric timestamps the store sets itself and for retry delays. Default: <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>User recorded as <c>user_id</c> and tag <c>mlflow.user</c>. Default: <c>USER</c>/<c>USERNAME</c> from <see cref="Environment"/>, else the OS user name.</summary>
    public string? User { get; set; }

    /// <summary>
    /// SQLite store only: root folder of artifacts (<c>&lt;root&gt;/&lt;experiment_id&gt;/&lt;run_id&gt;/artifacts/…</c>).
    /// Relative paths resolve against <see cref="WorkingDirectory"/>. Default: <c>mlartifacts</c> beside the database file.
    /// </summary>
    public string? ArtifactRoot { get; set; }

    /// <summary>SQLite store only: how long a writer waits for another process's lock. Default: 30 seconds.</summary>
    public TimeSpan SqliteBusyTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>REST store only: retries after a 429, a 5xx or a transport failure (0 disables retrying). Default: 5.</summary>
    public int MaxRetries { get; set; } = 5;

    /// <summary>REST store only: first retry delay; each further retry doubles it, with jitter. Default: 1 second.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>REST store only: longest single retry delay (also caps a server's <c>Retry-After</c>). Default: 30 seconds.</summary>
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>REST store only: timeout of one HTTP attempt. Default: 120 seconds (MLflow's <c>MLFLOW_HTTP_REQUEST_TIMEOUT</c> default).</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>
    /// REST store only: handler to send requests through (a test server, a proxy, a DI-managed handler). The store does not dispose it.
    /// Default: null, the store creates its own <see cref="SocketsHttpHandler"/> honouring <c>MLFLOW_TRACKING_INSECURE_TLS</c>.
    /// </summary>
    public HttpMessageHandler? HttpMessageHandler { get; set; }

    /// <summary>Throws <see cref="MlflowConfigurationException"/> when a setting is out of range.</summary>
    public void Validate()
    {
        if (TimeProvider is null)
        {
            throw new MlflowConfigurationException("MLflow store options: TimeProvider must be set.");
        }

        if (MaxRetries is < 0 or > 20)
        {
            throw new MlflowConfigurationException($"MLflow store options: MaxRetries must be 0 to 20 (was {MaxRetries}).");
        }

        if (RetryBaseDelay <= TimeSpan.Zero || RetryMaxDelay < RetryBaseDelay)
        {
            throw new MlflowConfigurationException(
                $"MLflow store options: RetryBaseDelay must be positive and at most RetryMaxDelay (were {RetryBaseDelay} and {RetryMaxDelay}).");
        }

        if (RequestTimeout <= TimeSpan.Zero)
        {
            throw new MlflowConfigurationException($"MLflow store options: RequestTimeout must be positive (was {RequestTimeout}).");
        }

        if (SqliteBusyTimeout < TimeSpan.Zero || SqliteBusyTimeout > TimeSpan.FromHours(1))
        {
            throw new MlflowConfigurationException($"MLflow store options: SqliteBusyTimeout must be 0 to 1 hour (was {SqliteBusyTimeout}).");
        }

        if (User is { Length: 0 })
        {
            throw new MlflowConfigurationException("MLflow store options: User must not be empty when set.");
        }

        if (WorkingDirectory is { Length: 0 })
        {
            throw new MlflowConfigurationException("MLflow store options: WorkingDirectory must not be empty when set.");
        }
    }

    internal IReadOnlyDictionary<string, string> ResolveEnvironment()
    {
        if (Environment is not null)
        {
            return Environment;
        }

        var snapshot = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in System.Environment.GetEnvironmentVariables())
        {
            if (entry.Key is string key && entry.Value is string value)
            {
                snapshot[key] = value;
            }
        }

        return snapshot;
    }

    internal string ResolveWorkingDirectory() => Path.GetFullPath(WorkingDirectory ?? Directory.GetCurrentDirectory());

    internal string ResolveUser(IReadOnlyDictionary<string, string> environment)
    {
        if (!string.IsNullOrEmpty(User))
        {
            return User;
        }

        if (environment.TryGetValue("USER", out var user) && !string.IsNullOrEmpty(user))
        {
            return user;
        }

        if (environment.TryGetValue("USERNAME", out user) && !string.IsNullOrEmpty(user))
        {
            return user;
        }

        return string.IsNullOrEmpty(System.Environment.UserName) ? "unknown" : System.Environment.UserName;
    }
}
