using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using AgentFlow.Tracking.MLflow.Rest;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace AgentFlow.Tracking.MLflow;

/// <summary>
/// <see cref="IMlflowStore"/> over an MLflow tracking server's REST API (<c>{uri}/api/2.0/mlflow/…</c>).
/// Auth from MLflow's own variables: <c>MLFLOW_TRACKING_USERNAME</c> + <c>MLFLOW_TRACKING_PASSWORD</c> → Basic,
/// else <c>MLFLOW_TRACKING_TOKEN</c> → Bearer; <c>MLFLOW_TRACKING_INSECURE_TLS=true</c> skips certificate checks.
/// 429, 5xx and transport failures are retried with exponential backoff and jitter (honouring <c>Retry-After</c>);
/// other failures throw <see cref="MlflowException"/> with the server's <c>error_code</c> and <c>message</c>.
/// Artifacts go through the server's artifact proxy (<c>{uri}/api/2.0/mlflow-artifacts/artifacts/…</c>).
/// </summary>
public sealed class MlflowRestStore : IMlflowStore
{
    private const string ApiPrefix = "/api/2.0/mlflow/";
    private const string ArtifactsPrefix = "/api/2.0/mlflow-artifacts/artifacts/";
    private const string ProxyScheme = "mlflow-artifacts:";

    private readonly string _baseUri;
    private readonly HttpClient _http;
    private readonly AuthenticationHeaderValue? _authorization;
    private readonly ResiliencePipeline<HttpResponseMessage> _pipeline;
    private readonly ILogger _logger;
    private readonly string _user;
    private readonly ConcurrentDictionary<string, string> _artifactUris = new(StringComparer.Ordinal);

    internal MlflowRestStore(string trackingUri, MlflowStoreOptions options, ILogger<MlflowRestStore> logger)
    {
        TrackingUri = trackingUri;
        _baseUri = trackingUri.TrimEnd('/');
        _logger = logger;
        var environment = options.ResolveEnvironment();
        _user = options.ResolveUser(environment);
        _authorization = Authorization(environment);

        HttpMessageHandler handler;
        var disposeHandler = false;
        if (options.HttpMessageHandler is { } given)
        {
            handler = given;
        }
        else
        {
            var sockets = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) };
            if (IsTrue(environment, "MLFLOW_TRACKING_INSECURE_TLS"))
            {
                Log.InsecureTls(_logger, trackingUri);
#pragma warning disable CA5359 // The user asked for it with MLFLOW_TRACKING_INSECURE_TLS, as MLflow's own client allows.
                sockets.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
#pragma warning restore CA5359
            }

            handler = sockets;
            disposeHandler = true;
        }

        _http = new HttpClient(handler, disposeHandler) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("AgentFlow", typeof(MlflowRestStore).Assembly.GetName().Version?.ToString(3) ?? "0"));
        _pipeline = BuildPipeline(options);
    }

    /// <inheritdoc />
    public string TrackingUri { get; }

    /// <summary>The <c>Authorization</c> header MLflow's variables give: Basic, Bearer or none.</summary>
    internal static AuthenticationHeaderValue? Authorization(IReadOnlyDictionary<string, string> environment)
    {
        environment.TryGetValue("MLFLOW_TRACKING_USERNAME", out var username);
        environment.TryGetValue("MLFLOW_TRACKING_PASSWORD", out var password);
        if (!string.IsNullOrEmpty(username) && !string.IsNullOrEmpty(password))
        {
            return new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{username}:{password}")));
        }

        if (environment.TryGetValue("MLFLOW_TRACKING_TOKEN", out var token) && !string.IsNullOrEmpty(token))
        {
            return new AuthenticationHeaderValue("Bearer", token);
        }

        return null;
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

        string experimentId;
        try
        {
            var created = await SendJsonAsync(
                HttpMethod.Post, "experiments/create", new CreateExperimentRequest { Name = name },
                MlflowJson.Context.CreateExperimentRequest, MlflowJson.Context.CreateExperimentResponse,
                cancellationToken).ConfigureAwait(false);
            experimentId = created.ExperimentId ?? throw Malformed("experiments/create", "experiment_id");
        }
        catch (MlflowException e) when (e.ErrorCode == MlflowErrorCodes.ResourceAlreadyExists)
        {
            Log.ExperimentCreatedConcurrently(_logger, name);
            var raced = await GetExperimentByNameAsync(name, cancellationToken).ConfigureAwait(false)
                ?? throw new MlflowException(MlflowErrorCodes.ResourceDoesNotExist,
                    $"Experiment '{name}' was reported as existing but cannot be read.", innerException: e);
            return EnsureActive(raced);
        }

        Log.ExperimentCreated(_logger, name, experimentId);
        var response = await GetJsonAsync(
            "experiments/get?experiment_id=" + Uri.EscapeDataString(experimentId), MlflowJson.Context.ExperimentResponse,
            cancellationToken).ConfigureAwait(false);
        return ToExperiment(response.Experiment ?? throw Malformed("experiments/get", "experiment"));
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<MlflowExperiment>> ListExperimentsAsync(CancellationToken cancellationToken = default)
    {
        var experiments = new List<MlflowExperiment>();
        string? token = null;
        do
        {
            var page = await SendJsonAsync(
                HttpMethod.Post, "experiments/search", new SearchExperimentsRequest { MaxResults = 1000, PageToken = token },
                MlflowJson.Context.SearchExperimentsRequest, MlflowJson.Context.SearchExperimentsResponse,
                cancellationToken).ConfigureAwait(false);
            experiments.AddRange((page.Experiments ?? []).Select(ToExperiment));
            token = string.IsNullOrEmpty(page.NextPageToken) ? null : page.NextPageToken;
        }
        while (token is not null);

        return experiments;
    }

    /// <inheritdoc />
    public async Task<MlflowExperiment?> GetExperimentByNameAsync(string name, CancellationToken cancellationToken = default)
    {
        MlflowValidation.ValidateExperimentName(name);
        try
        {
            var response = await GetJsonAsync(
                "experiments/get-by-name?experiment_name=" + Uri.EscapeDataString(name), MlflowJson.Context.ExperimentResponse,
                cancellationToken).ConfigureAwait(false);
            return ToExperiment(response.Experiment ?? throw Malformed("experiments/get-by-name", "experiment"));
        }
        catch (MlflowException e) when (e.ErrorCode == MlflowErrorCodes.ResourceDoesNotExist)
        {
            return null;
        }
    }

    /// <inheritdoc />
    public async Task<MlflowRun> CreateRunAsync(
        string experimentId, string? runName, long startTimeMs, IReadOnlyList<MlflowTag>? tags = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(experimentId);
        var allTags = RunTags.ForNewRun(runName, tags, _user);
        var request = new CreateRunRequest
        {
            ExperimentId = experimentId,
            UserId = _user,
            RunName = runName,
            StartTime = startTimeMs,
            Tags = allTags.Select(t => new WireKeyValue { Key = t.Key, Value = t.Value }).ToList(),
        };
        var response = await SendJsonAsync(
            HttpMethod.Post, "runs/create", request, MlflowJson.Context.CreateRunRequest, MlflowJson.Context.RunResponse,
            cancellationToken).ConfigureAwait(false);
        var run = ToRun(response.Run ?? throw Malformed("runs/create", "run"));
        if (run.Info.ArtifactUri is { } artifactUri)
        {
            _artifactUris[run.Info.RunId] = artifactUri;
        }

        return run;
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
        var requests = LogBatchSplitter.Split(runId, metrics, parameters, tags);
        Log.BatchSplit(_logger, runId, metrics.Count, parameters.Count, tags.Count, requests.Count);
        foreach (var request in requests)
        {
            await SendJsonAsync(
                HttpMethod.Post, "runs/log-batch", request, MlflowJson.Context.LogBatchRequest, MlflowJson.Context.EmptyResponse,
                cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async Task<MlflowRunInfo> UpdateRunAsync(string runId, MlflowRunStatus status, long? endTimeMs, CancellationToken cancellationToken = default)
    {
        MlflowValidation.ValidateRunId(runId);
        var request = new UpdateRunRequest { RunId = runId, RunUuid = runId, Status = MlflowRunStatusNames.ToWire(status), EndTime = endTimeMs };
        var response = await SendJsonAsync(
            HttpMethod.Post, "runs/update", request, MlflowJson.Context.UpdateRunRequest, MlflowJson.Context.UpdateRunResponse,
            cancellationToken).ConfigureAwait(false);
        return ToRunInfo(response.RunInfo ?? throw Malformed("runs/update", "run_info"));
    }

    /// <inheritdoc />
    public async Task SetTagAsync(string runId, string key, string value, CancellationToken cancellationToken = default)
    {
        MlflowValidation.ValidateRunId(runId);
        MlflowValidation.ValidateTag(new MlflowTag(key, value));
        var request = new SetTagRequest { RunId = runId, RunUuid = runId, Key = key, Value = value };
        await SendJsonAsync(
            HttpMethod.Post, "runs/set-tag", request, MlflowJson.Context.SetTagRequest, MlflowJson.Context.EmptyResponse,
            cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<MlflowRun> GetRunAsync(string runId, CancellationToken cancellationToken = default)
    {
        MlflowValidation.ValidateRunId(runId);
        var response = await GetJsonAsync(
            "runs/get?run_id=" + Uri.EscapeDataString(runId), MlflowJson.Context.RunResponse, cancellationToken).ConfigureAwait(false);
        var run = ToRun(response.Run ?? throw Malformed("runs/get", "run"));
        if (run.Info.ArtifactUri is { } artifactUri)
        {
            _artifactUris[run.Info.RunId] = artifactUri;
        }

        return run;
    }

    /// <inheritdoc />
    public async Task<MlflowRunsPage> SearchRunsAsync(MlflowRunQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        SearchQueryChecks.Validate(query);
        var request = new SearchRunsRequest
        {
            ExperimentIds = [.. query.ExperimentIds],
            Filter = string.IsNullOrWhiteSpace(query.Filter) ? null : query.Filter,
            MaxResults = query.MaxResults,
            OrderBy = query.OrderBy is { Count: > 0 } order ? [.. order] : null,
            PageToken = string.IsNullOrEmpty(query.PageToken) ? null : query.PageToken,
        };
        var response = await SendJsonAsync(
            HttpMethod.Post, "runs/search", request, MlflowJson.Context.SearchRunsRequest, MlflowJson.Context.SearchRunsResponse,
            cancellationToken).ConfigureAwait(false);
        var runs = (response.Runs ?? []).Select(ToRun).ToList();
        return new MlflowRunsPage(runs, string.IsNullOrEmpty(response.NextPageToken) ? null : response.NextPageToken);
    }

    /// <inheritdoc />
    public async Task LogArtifactAsync(string runId, string relativePath, Stream content, CancellationToken cancellationToken = default)
    {
        MlflowValidation.ValidateRunId(runId);
        ArgumentNullException.ThrowIfNull(content);
        var path = MlflowValidation.ValidateArtifactPath(relativePath);
        var proxyPath = await ProxyPathAsync(runId, "upload", cancellationToken).ConfigureAwait(false);

        // Buffered so that a retried attempt can send the same bytes again.
        byte[] bytes;
        var buffer = new MemoryStream();
        await using (buffer.ConfigureAwait(false))
        {
            await content.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
            bytes = buffer.ToArray();
        }

        var url = _baseUri + ArtifactsPrefix + EscapePath(proxyPath + "/" + path);
        using var response = await SendAsync(
            () =>
            {
                var request = new HttpRequestMessage(HttpMethod.Put, url) { Content = new ByteArrayContent(bytes) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                return request;
            },
            "PUT", "mlflow-artifacts/artifacts/" + path, cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(response, "PUT", "mlflow-artifacts/artifacts", cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<MlflowFileInfo>> ListArtifactsAsync(string runId, string? path = null, CancellationToken cancellationToken = default)
    {
        MlflowValidation.ValidateRunId(runId);
        var folder = MlflowValidation.ValidateArtifactPath(path ?? string.Empty, allowEmpty: true);
        var files = new List<MlflowFileInfo>();
        string? pageToken = null;
        do
        {
            var query = "artifacts/list?run_id=" + Uri.EscapeDataString(runId);
            if (folder.Length > 0)
            {
                query += "&path=" + Uri.EscapeDataString(folder);
            }

            if (pageToken is not null)
            {
                query += "&page_token=" + Uri.EscapeDataString(pageToken);
            }

            var response = await GetJsonAsync(query, MlflowJson.Context.ListArtifactsResponse, cancellationToken).ConfigureAwait(false);
            foreach (var file in response.Files ?? [])
            {
                files.Add(new MlflowFileInfo(file.Path ?? string.Empty, file.IsDir, file.IsDir ? null : file.FileSize));
            }

            pageToken = string.IsNullOrEmpty(response.NextPageToken) ? null : response.NextPageToken;
        }
        while (pageToken is not null);

        return files;
    }

    /// <inheritdoc />
    public async Task<byte[]> ReadArtifactAsync(string runId, string path, CancellationToken cancellationToken = default)
    {
        MlflowValidation.ValidateRunId(runId);
        var artifactPath = MlflowValidation.ValidateArtifactPath(path);
        var artifactUri = await ArtifactUriAsync(runId, cancellationToken).ConfigureAwait(false);
        var url = ProxyRelativePath(artifactUri) is { } proxyPath
            ? _baseUri + ArtifactsPrefix + EscapePath(proxyPath + "/" + artifactPath)
            : _baseUri + "/get-artifact?path=" + Uri.EscapeDataString(artifactPath) + "&run_uuid=" + Uri.EscapeDataString(runId);
        using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Get, url), "GET", "artifact " + artifactPath, cancellationToken)
            .ConfigureAwait(false);
        await EnsureSuccessAsync(response, "GET", "artifact " + artifactPath, cancellationToken).ConfigureAwait(false);
        return await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        _http.Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task<string> ArtifactUriAsync(string runId, CancellationToken cancellationToken)
    {
        if (_artifactUris.TryGetValue(runId, out var known))
        {
            return known;
        }

        var run = await GetRunAsync(runId, cancellationToken).ConfigureAwait(false);
        return run.Info.ArtifactUri
            ?? throw new MlflowException(MlflowErrorCodes.InvalidState, $"Run {runId} has no artifact_uri.");
    }

    private async Task<string> ProxyPathAsync(string runId, string purpose, CancellationToken cancellationToken)
    {
        var artifactUri = await ArtifactUriAsync(runId, cancellationToken).ConfigureAwait(false);
        return ProxyRelativePath(artifactUri) ?? throw new MlflowException(
            MlflowErrorCodes.InvalidState,
            $"Run {runId} keeps its artifacts at '{artifactUri}', which AgentFlow cannot {purpose} through {TrackingUri}: " +
            "start the MLflow server with artifact proxying (the default, --serve-artifacts) so that runs get mlflow-artifacts:/ URIs.");
    }

    /// <summary>
    /// The path under the artifact proxy for an <c>mlflow-artifacts:</c> URI (<c>mlflow-artifacts:/1/abc/artifacts</c> or
    /// <c>mlflow-artifacts://host:port/1/abc/artifacts</c> → <c>1/abc/artifacts</c>); null for any other URI.
    /// </summary>
    internal static string? ProxyRelativePath(string artifactUri)
    {
        if (!artifactUri.StartsWith(ProxyScheme, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var rest = artifactUri[ProxyScheme.Length..];
        if (rest.StartsWith("//", StringComparison.Ordinal))
        {
            var slash = rest.IndexOf('/', 2);
            rest = slash < 0 ? string.Empty : rest[slash..];
        }

        return rest.Trim('/');
    }

    private static string EscapePath(string path) => string.Join('/', path.Split('/').Select(Uri.EscapeDataString));

    private Task<TResponse> GetJsonAsync<TResponse>(string pathAndQuery, JsonTypeInfo<TResponse> responseInfo, CancellationToken cancellationToken) =>
        SendJsonAsync<EmptyResponse, TResponse>(HttpMethod.Get, pathAndQuery, null, null, responseInfo, cancellationToken);

    private async Task<TResponse> SendJsonAsync<TRequest, TResponse>(
        HttpMethod method,
        string pathAndQuery,
        TRequest? body,
        JsonTypeInfo<TRequest>? requestInfo,
        JsonTypeInfo<TResponse> responseInfo,
        CancellationToken cancellationToken)
        where TRequest : class
    {
        var url = _baseUri + ApiPrefix + pathAndQuery;
        var endpoint = pathAndQuery.Split('?', 2)[0];
        var payload = body is null || requestInfo is null ? null : JsonSerializer.SerializeToUtf8Bytes(body, requestInfo);
        using var response = await SendAsync(
            () =>
            {
                var request = new HttpRequestMessage(method, url);
                if (payload is not null)
                {
                    request.Content = new ByteArrayContent(payload);
                    request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
                }

                return request;
            },
            method.Method, endpoint, cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(response, method.Method, endpoint, cancellationToken).ConfigureAwait(false);
        var json = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        if (json.Length == 0)
        {
            json = "{}"u8.ToArray();
        }

        try
        {
            return JsonSerializer.Deserialize(json, responseInfo) ?? throw Malformed(endpoint, "body");
        }
        catch (JsonException e)
        {
            throw new MlflowException(MlflowErrorCodes.InternalError,
                $"MLflow {method.Method} {endpoint} returned a body that is not the expected JSON: {e.Message}", response.StatusCode, e);
        }
    }

    private async Task<HttpResponseMessage> SendAsync(Func<HttpRequestMessage> createRequest, string method, string path, CancellationToken cancellationToken)
    {
        var state = (Store: this, CreateRequest: createRequest);
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(MethodKey, method);
        context.Properties.Set(PathKey, path);
        try
        {
            var outcome = await _pipeline.ExecuteOutcomeAsync(
                static async (ctx, s) =>
                {
                    try
                    {
                        using var request = s.CreateRequest();
                        if (s.Store._authorization is { } authorization)
                        {
                            request.Headers.Authorization = authorization;
                        }

                        var response = await s.Store._http.SendAsync(request, HttpCompletionOption.ResponseContentRead, ctx.CancellationToken)
                            .ConfigureAwait(false);
                        return Outcome.FromResult(response);
                    }
#pragma warning disable CA1031 // Every failure becomes an outcome for the retry strategy to judge.
                    catch (Exception e)
#pragma warning restore CA1031
                    {
                        return Outcome.FromException<HttpResponseMessage>(e);
                    }
                },
                context,
                state).ConfigureAwait(false);

            if (outcome.Exception is { } exception)
            {
                if (exception is OperationCanceledException && cancellationToken.IsCancellationRequested)
                {
                    throw new OperationCanceledException("The MLflow request was cancelled.", exception, cancellationToken);
                }

                throw new MlflowException(
                    MlflowErrorCodes.TransportError,
                    $"MLflow {method} {path} at {TrackingUri} failed: {exception.Message}",
                    innerException: exception);
            }

            return outcome.Result!;
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private static readonly ResiliencePropertyKey<string> MethodKey = new("mlflow.method");
    private static readonly ResiliencePropertyKey<string> PathKey = new("mlflow.path");

    private ResiliencePipeline<HttpResponseMessage> BuildPipeline(MlflowStoreOptions options)
    {
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = options.TimeProvider };
        if (options.MaxRetries > 0)
        {
            builder.AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = options.MaxRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.RetryBaseDelay,
                MaxDelay = options.RetryMaxDelay,
                ShouldHandle = args => ValueTask.FromResult(IsTransient(args.Outcome, args.Context.CancellationToken)),
                DelayGenerator = args =>
                {
                    var retryAfter = args.Outcome.Result?.Headers.RetryAfter;
                    TimeSpan? delay = retryAfter?.Delta ?? (retryAfter?.Date is { } date ? date - options.TimeProvider.GetUtcNow() : null);
                    return ValueTask.FromResult(delay is { } d && d > TimeSpan.Zero ? (TimeSpan?)(d < options.RetryMaxDelay ? d : options.RetryMaxDelay) : null);
                },
                OnRetry = args =>
                {
                    var method = args.Context.Properties.GetValue(MethodKey, "?");
                    var path = args.Context.Properties.GetValue(PathKey, "?");
                    if (args.Outcome.Exception is { } e)
                    {
                        Log.RetryingAfterException(_logger, method, path, e.Message, args.AttemptNumber + 1, args.RetryDelay.TotalMilliseconds);
                    }
                    else
                    {
                        Log.Retrying(_logger, method, path, args.Outcome.Result?.StatusCode, args.AttemptNumber + 1, args.RetryDelay.TotalMilliseconds);
                    }

                    return ValueTask.CompletedTask;
                },
            });
        }

        builder.AddTimeout(options.RequestTimeout);
        return builder.Build();
    }

    private static bool IsTransient(Outcome<HttpResponseMessage> outcome, CancellationToken cancellationToken)
    {
        if (outcome.Exception is { } exception)
        {
            return exception switch
            {
                OperationCanceledException when cancellationToken.IsCancellationRequested => false,
                HttpRequestException or TimeoutRejectedException or IOException => true,
                _ => false,
            };
        }

        var status = outcome.Result?.StatusCode;
        return status is HttpStatusCode.TooManyRequests || (int?)status >= 500;
    }

    private async Task EnsureSuccessAsync(HttpResponseMessage response, string method, string endpoint, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        ErrorResponse? error = null;
        try
        {
            error = text.Length > 0 ? JsonSerializer.Deserialize(text, MlflowJson.Context.ErrorResponse) : null;
        }
        catch (JsonException)
        {
            // Not an MLflow error body (a proxy's HTML page, plain text): reported as text below.
        }

        var code = string.IsNullOrEmpty(error?.ErrorCode) ? CodeForStatus(response.StatusCode) : error.ErrorCode;
        var detail = !string.IsNullOrEmpty(error?.Message)
            ? error.Message
            : text.Length > 0 ? (text.Length > 500 ? text[..500] + "…" : text) : response.ReasonPhrase ?? string.Empty;
        throw new MlflowException(
            code,
            $"MLflow {method} {endpoint} at {TrackingUri} failed with {(int)response.StatusCode} {code}: {detail}",
            response.StatusCode);
    }

    private static string CodeForStatus(HttpStatusCode status) => status switch
    {
        HttpStatusCode.BadRequest => MlflowErrorCodes.InvalidParameterValue,
        HttpStatusCode.Unauthorized => MlflowErrorCodes.Unauthenticated,
        HttpStatusCode.Forbidden => MlflowErrorCodes.PermissionDenied,
        HttpStatusCode.NotFound => MlflowErrorCodes.EndpointNotFound,
        HttpStatusCode.TooManyRequests => MlflowErrorCodes.RequestLimitExceeded,
        HttpStatusCode.InternalServerError => MlflowErrorCodes.InternalError,
        _ when (int)status >= 500 => MlflowErrorCodes.TemporarilyUnavailable,
        _ => "HTTP_" + ((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    private static bool IsTrue(IReadOnlyDictionary<string, string> environment, string name) =>
        environment.TryGetValue(name, out var value) &&
        (string.Equals(value, "true", StringComparison.OrdinalIgnoreCase) || value == "1");

    private static MlflowExperiment EnsureActive(MlflowExperiment experiment) =>
        string.Equals(experiment.LifecycleStage, "deleted", StringComparison.Ordinal)
            ? throw new MlflowException(MlflowErrorCodes.InvalidState,
                $"Experiment '{experiment.Name}' ({experiment.ExperimentId}) is deleted; restore it or delete it permanently to create it again.")
            : experiment;

    private static MlflowException Malformed(string endpoint, string field) =>
        new(MlflowErrorCodes.InternalError, $"MLflow {endpoint} answered without '{field}'.");

    private static MlflowExperiment ToExperiment(WireExperiment e) => new(
        e.ExperimentId ?? string.Empty,
        e.Name ?? string.Empty,
        e.ArtifactLocation,
        e.LifecycleStage ?? "active",
        e.CreationTime,
        e.LastUpdateTime);

    private static MlflowRunInfo ToRunInfo(WireRunInfo i) => new(
        i.RunId ?? i.RunUuid ?? string.Empty,
        i.ExperimentId ?? string.Empty,
        i.RunName,
        i.UserId,
        MlflowRunStatusNames.FromWire(i.Status),
        i.StartTime,
        i.EndTime,
        i.ArtifactUri,
        i.LifecycleStage ?? "active");

    private static MlflowRun ToRun(WireRun run)
    {
        var info = ToRunInfo(run.Info ?? throw Malformed("run", "info"));
        var data = run.Data;
        return new MlflowRun(
            info,
            (data?.Metrics ?? []).Select(m => new MlflowMetric(m.Key ?? string.Empty, m.Value, m.Timestamp, m.Step))
                .OrderBy(m => m.Key, StringComparer.Ordinal).ToList(),
            (data?.Params ?? []).Select(p => new MlflowParam(p.Key ?? string.Empty, p.Value ?? string.Empty))
                .OrderBy(p => p.Key, StringComparer.Ordinal).ToList(),
            (data?.Tags ?? []).Select(t => new MlflowTag(t.Key ?? string.Empty, t.Value ?? string.Empty))
                .OrderBy(t => t.Key, StringComparer.Ordinal).ToList());
    }
}
