using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace AgentFlow.Tracking.MLflow.Tests;

public sealed class RestStoreTests
{
    private const string RunId = "0123456789abcdef0123456789abcdef";

    private static string RunJson(string artifactUri = "mlflow-artifacts:/3/" + RunId + "/artifacts") => $$$"""
        {"run": {"info": {"run_id": "{{{RunId}}}", "run_uuid": "{{{RunId}}}", "run_name": "triage #1", "experiment_id": "3",
                          "user_id": "tester", "status": "RUNNING", "start_time": 1700000000123, "artifact_uri": "{{{artifactUri}}}",
                          "lifecycle_stage": "active"},
                 "data": {"metrics": [{"key": "loss", "value": 0.5, "timestamp": "1700000000200", "step": 2},
                                      {"key": "broken", "value": "NaN", "timestamp": 1, "step": 0}],
                          "params": [{"key": "model.planner", "value": "builtin/tiny"}],
                          "tags": [{"key": "mlflow.runName", "value": "triage #1"}]},
                 "inputs": {} } }
        """;

    [Fact]
    public async Task GetOrCreateExperiment_Missing_GetsByNameCreatesThenReads()
    {
        await using var server = new FakeMlflowServer(r => (r.Method, r.Path) switch
        {
            ("GET", "/api/2.0/mlflow/experiments/get-by-name") =>
                CannedResponse.Error(404, "RESOURCE_DOES_NOT_EXIST", "Could not find experiment with name 'triage & co'"),
            ("POST", "/api/2.0/mlflow/experiments/create") => CannedResponse.Json("""{"experiment_id": "7"}"""),
            ("GET", "/api/2.0/mlflow/experiments/get") => CannedResponse.Json(
                """{"experiment": {"experiment_id": "7", "name": "triage & co", "artifact_location": "mlflow-artifacts:/7", "lifecycle_stage": "active", "creation_time": 5, "last_update_time": 6}}"""),
            _ => new CannedResponse(404, "nope", "text/plain"),
        });
        await using var store = server.Store();

        var experiment = await store.GetOrCreateExperimentAsync("triage & co");

        Assert.Equal(new MlflowExperiment("7", "triage & co", "mlflow-artifacts:/7", "active", 5, 6), experiment);
        var requests = server.All;
        Assert.Equal(3, requests.Count);
        Assert.Equal("triage & co", requests[0].QueryValue("experiment_name"));
        Assert.Equal("application/json; charset=utf-8", requests[1].Header("Content-Type"));
        Assert.Equal(["name"], requests[1].Json.Select(p => p.Key));
        Assert.Equal("triage & co", requests[1].Json["name"]!.GetValue<string>());
        Assert.Equal("7", requests[2].QueryValue("experiment_id"));
    }

    [Fact]
    public async Task ListExperiments_TwoPages_SearchesActiveExperimentsFollowingTheToken()
    {
        await using var server = new FakeMlflowServer(r => r.Json?["page_token"]?.GetValue<string>() switch
        {
            null => CannedResponse.Json("""{"experiments": [{"experiment_id": "0", "name": "Default", "lifecycle_stage": "active"}], "next_page_token": "p2"}"""),
            "p2" => CannedResponse.Json("""{"experiments": [{"experiment_id": "4", "name": "triage", "lifecycle_stage": "active"}]}"""),
            _ => new CannedResponse(500),
        });
        await using var store = server.Store();

        var experiments = await store.ListExperimentsAsync();

        Assert.Equal(["Default", "triage"], experiments.Select(e => e.Name));
        var requests = server.All;
        Assert.All(requests, r => Assert.Equal(("POST", "/api/2.0/mlflow/experiments/search"), (r.Method, r.Path)));
        Assert.Equal("ACTIVE_ONLY", requests[0].Json["view_type"]!.GetValue<string>());
        Assert.Equal(1000, requests[0].Json["max_results"]!.GetValue<int>());
        Assert.Equal("p2", requests[1].Json["page_token"]!.GetValue<string>());
    }

    [Fact]
    public async Task GetOrCreateExperiment_CreateRacesAlreadyExists_ReadsItAgain()
    {
        var lookups = 0;
        await using var server = new FakeMlflowServer(r => r.Path switch
        {
            "/api/2.0/mlflow/experiments/get-by-name" when Interlocked.Increment(ref lookups) == 1 =>
                CannedResponse.Error(404, "RESOURCE_DOES_NOT_EXIST", "missing"),
            "/api/2.0/mlflow/experiments/get-by-name" => CannedResponse.Json(
                """{"experiment": {"experiment_id": "9", "name": "raced", "lifecycle_stage": "active"}}"""),
            "/api/2.0/mlflow/experiments/create" =>
                CannedResponse.Error(400, "RESOURCE_ALREADY_EXISTS", "Experiment(name=raced) already exists."),
            _ => new CannedResponse(500),
        });
        await using var store = server.Store();

        var experiment = await store.GetOrCreateExperimentAsync("raced");

        Assert.Equal("9", experiment.ExperimentId);
        Assert.Equal(["GET experiments/get-by-name", "POST experiments/create", "GET experiments/get-by-name"],
            server.All.Select(r => r.Method + " " + r.Path["/api/2.0/mlflow/".Length..]));
    }

    [Fact]
    public async Task GetOrCreateExperiment_Deleted_ThrowsInvalidState()
    {
        await using var server = new FakeMlflowServer(_ => CannedResponse.Json(
            """{"experiment": {"experiment_id": "4", "name": "gone", "lifecycle_stage": "deleted"}}"""));
        await using var store = server.Store();
        var error = await Assert.ThrowsAsync<MlflowException>(() => store.GetOrCreateExperimentAsync("gone"));
        Assert.Equal(MlflowErrorCodes.InvalidState, error.ErrorCode);
    }

    [Fact]
    public async Task CreateRun_SendsMlflowFieldsAndParsesRun()
    {
        await using var server = new FakeMlflowServer(_ => CannedResponse.Json(RunJson()));
        await using var store = server.Store();

        var run = await store.CreateRunAsync("3", "triage #1", 1_700_000_000_123, [new MlflowTag("trigger", "cli")]);

        var request = Assert.Single(server.All);
        Assert.Equal("POST", request.Method);
        Assert.Equal("/api/2.0/mlflow/runs/create", request.Path);
        var body = request.Json;
        Assert.Equal(["experiment_id", "user_id", "run_name", "start_time", "tags"], body.Select(p => p.Key));
        Assert.Equal("3", body["experiment_id"]!.GetValue<string>());
        Assert.Equal("tester", body["user_id"]!.GetValue<string>());
        Assert.Equal("triage #1", body["run_name"]!.GetValue<string>());
        Assert.Equal(JsonValueKindNumber, body["start_time"]!.GetValueKind());
        Assert.Equal(1_700_000_000_123, body["start_time"]!.GetValue<long>());
        Assert.Equal(
            """[{"key":"trigger","value":"cli"},{"key":"mlflow.user","value":"tester"},{"key":"mlflow.source.type","value":"LOCAL"}]""",
            body["tags"]!.ToJsonString());

        Assert.Equal(RunId, run.Info.RunId);
        Assert.Equal("3", run.Info.ExperimentId);
        Assert.Equal(MlflowRunStatus.Running, run.Info.Status);
        Assert.Equal(1_700_000_000_123, run.Info.StartTime);
        Assert.Equal(0.5, run.Metric("loss"));
        Assert.Equal(1_700_000_000_200, run.Metrics.Single(m => m.Key == "loss").Timestamp);
        Assert.True(double.IsNaN(run.Metric("broken")!.Value));
        Assert.Equal("builtin/tiny", run.Param("model.planner"));
    }

    private const System.Text.Json.JsonValueKind JsonValueKindNumber = System.Text.Json.JsonValueKind.Number;

    [Fact]
    public async Task LogBatch_OverLimits_SplitsAt1000MetricsAnd100Params()
    {
        await using var server = new FakeMlflowServer(_ => CannedResponse.Json("{}"));
        await using var store = server.Store();
        var metrics = Enumerable.Range(0, 3500).Select(i => new MlflowMetric("m" + i, i * 0.5, 1000 + i, i % 3)).ToList();
        var parameters = Enumerable.Range(0, 250).Select(i => new MlflowParam("p" + i, "v" + i)).ToList();
        var tags = Enumerable.Range(0, 10).Select(i => new MlflowTag("t" + i, "x")).ToList();

        await store.LogBatchAsync(RunId, metrics, parameters, tags);

        var requests = server.All;
        Assert.All(requests, r => Assert.Equal("/api/2.0/mlflow/runs/log-batch", r.Path));
        var bodies = requests.Select(r => r.Json).ToList();
        int Count(JsonObject body, string field) => body[field]?.AsArray().Count ?? 0;

        Assert.Equal([(100, 10, 890), (100, 0, 900), (50, 0, 950), (0, 0, 760)],
            bodies.Select(b => (Count(b, "params"), Count(b, "tags"), Count(b, "metrics"))));
        Assert.All(bodies, b =>
        {
            Assert.Equal(RunId, b["run_id"]!.GetValue<string>());
            Assert.True(Count(b, "metrics") <= 1000 && Count(b, "params") <= 100 && Count(b, "tags") <= 100);
            Assert.True(Count(b, "metrics") + Count(b, "params") + Count(b, "tags") <= 1000);
        });
        Assert.All(requests, r => Assert.True(r.Body.Length <= 1_000_000));

        // Every entry sent once, in order, with MLflow's field names.
        var sentMetrics = bodies.SelectMany(b => b["metrics"]?.AsArray() ?? []).Select(m => m!.AsObject()).ToList();
        Assert.Equal(metrics.Select(m => m.Key), sentMetrics.Select(m => m["key"]!.GetValue<string>()));
        Assert.Equal(["key", "value", "timestamp", "step"], sentMetrics[3].Select(p => p.Key));
        Assert.Equal("""{"key":"m3","value":1.5,"timestamp":1003,"step":0}""", sentMetrics[3].ToJsonString());
        Assert.Equal(parameters.Select(p => p.Key),
            bodies.SelectMany(b => b["params"]?.AsArray() ?? []).Select(p => p!["key"]!.GetValue<string>()));
        Assert.Equal("""{"key":"p0","value":"v0"}""", bodies[0]["params"]![0]!.ToJsonString());
    }

    [Fact]
    public async Task LogBatch_LargeValues_SplitsToStayUnderOneMegabyte()
    {
        await using var server = new FakeMlflowServer(_ => CannedResponse.Json("{}"));
        await using var store = server.Store();
        // 100 params of 6000 two-byte characters: 1.2 MB of JSON in one request, so it must split.
        var parameters = Enumerable.Range(0, 100).Select(i => new MlflowParam("p" + i, new string('é', 6000))).ToList();

        await store.LogBatchAsync(RunId, null, parameters, null);

        var requests = server.All;
        Assert.Equal(2, requests.Count);
        Assert.All(requests, r => Assert.True(r.Body.Length <= 1_000_000, $"{r.Body.Length} bytes"));
        Assert.Equal(100, requests.Sum(r => r.Json["params"]!.AsArray().Count));
    }

    [Fact]
    public async Task LogBatch_NaNMetric_SentAsProtobufJsonString()
    {
        await using var server = new FakeMlflowServer(_ => CannedResponse.Json("{}"));
        await using var store = server.Store();
        await store.LogBatchAsync(RunId, [new MlflowMetric("x", double.NaN, 1)], null, null);
        Assert.Equal("""{"run_id":"0123456789abcdef0123456789abcdef","metrics":[{"key":"x","value":"NaN","timestamp":1,"step":0}]}""",
            Assert.Single(server.All).Text);
    }

    [Theory]
    [InlineData("user", "pass", null, "Basic dXNlcjpwYXNz")]
    [InlineData("user", "pass", "tok", "Basic dXNlcjpwYXNz")]
    [InlineData(null, null, "tok", "Bearer tok")]
    [InlineData("user", null, "tok", "Bearer tok")]
    [InlineData(null, null, null, null)]
    public async Task Request_MlflowCredentialVariables_SendMatchingAuthorization(string? user, string? password, string? token, string? expected)
    {
        await using var server = new FakeMlflowServer(_ => CannedResponse.Json("{}"));
        var environment = new Dictionary<string, string>();
        if (user is not null)
        {
            environment["MLFLOW_TRACKING_USERNAME"] = user;
        }

        if (password is not null)
        {
            environment["MLFLOW_TRACKING_PASSWORD"] = password;
        }

        if (token is not null)
        {
            environment["MLFLOW_TRACKING_TOKEN"] = token;
        }

        await using var store = server.Store(environment);
        await store.SetTagAsync(RunId, "k", "v");

        var request = Assert.Single(server.All);
        Assert.Equal(expected, request.Header("Authorization"));
        Assert.StartsWith("AgentFlow/", request.Header("User-Agent"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Request_429Then503ThenOk_RetriesAndSucceeds()
    {
        var calls = 0;
        await using var server = new FakeMlflowServer(_ => Interlocked.Increment(ref calls) switch
        {
            1 => CannedResponse.Error(429, "REQUEST_LIMIT_EXCEEDED", "slow down"),
            2 => CannedResponse.Error(503, "TEMPORARILY_UNAVAILABLE", "busy"),
            _ => CannedResponse.Json("{}"),
        });
        await using var store = server.Store();

        await store.SetTagAsync(RunId, "status", "ok");

        var requests = server.All;
        Assert.Equal(3, requests.Count);
        Assert.All(requests, r => Assert.Equal("""{"run_id":"0123456789abcdef0123456789abcdef","run_uuid":"0123456789abcdef0123456789abcdef","key":"status","value":"ok"}""", r.Text));
    }

    [Fact]
    public async Task Request_AlwaysUnavailable_GivesUpAfterMaxRetries()
    {
        await using var server = new FakeMlflowServer(_ => new CannedResponse(502, "<html>bad gateway</html>", "text/html"));
        await using var store = server.Store(maxRetries: 2);

        var error = await Assert.ThrowsAsync<MlflowException>(() => store.GetRunAsync(RunId));

        Assert.Equal(3, server.All.Count);
        Assert.Equal(MlflowErrorCodes.TemporarilyUnavailable, error.ErrorCode);
        Assert.Equal(HttpStatusCode.BadGateway, error.StatusCode);
        Assert.Contains("bad gateway", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Request_400WithErrorCode_SurfacedWithoutRetry()
    {
        await using var server = new FakeMlflowServer(_ =>
            CannedResponse.Error(400, "INVALID_PARAMETER_VALUE", "Changing param values is not allowed. Param with key='v'"));
        await using var store = server.Store();

        var error = await Assert.ThrowsAsync<MlflowException>(() =>
            store.LogBatchAsync(RunId, null, [new MlflowParam("v", "2")], null));

        Assert.Single(server.All);
        Assert.Equal(MlflowErrorCodes.InvalidParameterValue, error.ErrorCode);
        Assert.Equal(HttpStatusCode.BadRequest, error.StatusCode);
        Assert.Contains("Changing param values is not allowed", error.Message, StringComparison.Ordinal);
        Assert.IsAssignableFrom<AgentFlowException>(error);
    }

    [Fact]
    public async Task Request_ServerDown_ThrowsTransportError()
    {
        string uri;
        await using (var server = new FakeMlflowServer(_ => CannedResponse.Json("{}")))
        {
            uri = server.Uri;
        }

        await using var store = (MlflowRestStore)MlflowStoreFactory.Create(uri, new MlflowStoreOptions
        {
            Environment = new Dictionary<string, string>(),
            MaxRetries = 1,
            RetryBaseDelay = TimeSpan.FromMilliseconds(5),
            RetryMaxDelay = TimeSpan.FromMilliseconds(5),
        });
        var error = await Assert.ThrowsAsync<MlflowException>(() => store.GetRunAsync(RunId));
        Assert.Equal(MlflowErrorCodes.TransportError, error.ErrorCode);
    }

    [Fact]
    public async Task GetExperimentByName_WrongBaseUrl404_IsNotTreatedAsMissing()
    {
        await using var server = new FakeMlflowServer(_ => new CannedResponse(404, "Not Found", "text/plain"));
        await using var store = server.Store();
        var error = await Assert.ThrowsAsync<MlflowException>(() => store.GetExperimentByNameAsync("x"));
        Assert.Equal(MlflowErrorCodes.EndpointNotFound, error.ErrorCode);
    }

    [Fact]
    public async Task UpdateRun_Finished_SendsStatusNameAndEndTime()
    {
        await using var server = new FakeMlflowServer(_ => CannedResponse.Json(
            $$$"""{"run_info": {"run_id": "{{{RunId}}}", "experiment_id": "3", "status": "FINISHED", "start_time": 1, "end_time": 99, "lifecycle_stage": "active"}}"""));
        await using var store = server.Store();

        var info = await store.UpdateRunAsync(RunId, MlflowRunStatus.Finished, 99);

        var request = Assert.Single(server.All);
        Assert.Equal("/api/2.0/mlflow/runs/update", request.Path);
        Assert.Equal($$"""{"run_id":"{{RunId}}","run_uuid":"{{RunId}}","status":"FINISHED","end_time":99}""", request.Text);
        Assert.Equal(MlflowRunStatus.Finished, info.Status);
        Assert.Equal(99, info.EndTime);
    }

    [Fact]
    public async Task GetRun_SendsRunIdQuery()
    {
        await using var server = new FakeMlflowServer(_ => CannedResponse.Json(RunJson()));
        await using var store = server.Store();
        var run = await store.GetRunAsync(RunId);

        var request = Assert.Single(server.All);
        Assert.Equal(("GET", "/api/2.0/mlflow/runs/get", RunId), (request.Method, request.Path, request.QueryValue("run_id")));
        Assert.Equal("mlflow-artifacts:/3/" + RunId + "/artifacts", run.Info.ArtifactUri);
    }

    [Fact]
    public async Task SearchRuns_SendsSearchFieldsAndReturnsNextToken()
    {
        await using var server = new FakeMlflowServer(_ => CannedResponse.Json(
            "{\"runs\": [" + RunJson()[RunJson().IndexOf('{', 1)..RunJson().LastIndexOf('}')] + "], \"next_page_token\": \"tok2\"}"));
        await using var store = server.Store();

        var page = await store.SearchRunsAsync(new MlflowRunQuery
        {
            ExperimentIds = ["3", "4"],
            Filter = "metrics.latency_ms < 1500 and params.\"model.planner\" = 'llama'",
            OrderBy = ["metrics.latency_ms ASC"],
            MaxResults = 50,
            PageToken = "tok1",
        });

        var request = Assert.Single(server.All);
        Assert.Equal("/api/2.0/mlflow/runs/search", request.Path);
        Assert.Equal(
            """{"experiment_ids":["3","4"],"filter":"metrics.latency_ms < 1500 and params.\"model.planner\" = 'llama'","run_view_type":"ACTIVE_ONLY","max_results":50,"order_by":["metrics.latency_ms ASC"],"page_token":"tok1"}""",
            request.Text);
        Assert.Equal("metrics.latency_ms < 1500 and params.\"model.planner\" = 'llama'", request.Json["filter"]!.GetValue<string>());
        Assert.Equal(RunId, Assert.Single(page.Runs).Info.RunId);
        Assert.Equal("tok2", page.NextPageToken);
    }

    [Fact]
    public async Task LogArtifact_ProxiedArtifactUri_PutsBytesThroughArtifactProxy()
    {
        await using var server = new FakeMlflowServer(r => r.Path switch
        {
            "/api/2.0/mlflow/runs/get" => CannedResponse.Json(RunJson()),
            _ when r.Path.StartsWith("/api/2.0/mlflow-artifacts/artifacts/", StringComparison.Ordinal) && r.Method == "PUT" => CannedResponse.Json("{}"),
            _ when r.Path.StartsWith("/api/2.0/mlflow-artifacts/artifacts/", StringComparison.Ordinal) => new CannedResponse(200, "{\"steps\":[]}", "application/octet-stream"),
            "/api/2.0/mlflow/artifacts/list" => CannedResponse.Json(
                """{"root_uri": "mlflow-artifacts:/3/x/artifacts", "files": [{"path": "steps", "is_dir": true}, {"path": "transcript.json", "is_dir": false, "file_size": 12}]}"""),
            _ => new CannedResponse(404, "no", "text/plain"),
        });
        await using var store = server.Store();

        await store.LogTextArtifactAsync(RunId, "steps/plan prompt.txt", "Plan it");
        await store.LogTextArtifactAsync(RunId, "transcript.json", "{\"steps\":[]}");
        var text = await store.ReadTextArtifactAsync(RunId, "transcript.json");
        var files = await store.ListArtifactsAsync(RunId, "");

        var requests = server.All;
        Assert.Equal("GET /api/2.0/mlflow/runs/get", requests[0].Method + " " + requests[0].Path);
        Assert.Equal("PUT", requests[1].Method);
        Assert.Equal($"/api/2.0/mlflow-artifacts/artifacts/3/{RunId}/artifacts/steps/plan%20prompt.txt", requests[1].Path);
        Assert.Equal("Plan it", requests[1].Text);
        Assert.Equal("application/octet-stream", requests[1].Header("Content-Type"));
        Assert.Equal($"/api/2.0/mlflow-artifacts/artifacts/3/{RunId}/artifacts/transcript.json", requests[2].Path);
        Assert.Equal(("GET", $"/api/2.0/mlflow-artifacts/artifacts/3/{RunId}/artifacts/transcript.json"), (requests[3].Method, requests[3].Path));
        Assert.Equal("{\"steps\":[]}", text);
        Assert.Equal(("/api/2.0/mlflow/artifacts/list", RunId, null), (requests[4].Path, requests[4].QueryValue("run_id"), requests[4].QueryValue("path")));
        Assert.Equal([new MlflowFileInfo("steps", true, null), new MlflowFileInfo("transcript.json", false, 12)], files);
        Assert.Equal(5, requests.Count);
    }

    [Fact]
    public async Task LogArtifact_NonProxiedArtifactUri_ThrowsInvalidState()
    {
        await using var server = new FakeMlflowServer(_ => CannedResponse.Json(RunJson("s3://bucket/3/" + RunId + "/artifacts")));
        await using var store = server.Store();
        var error = await Assert.ThrowsAsync<MlflowException>(() => store.LogTextArtifactAsync(RunId, "a.txt", "x"));
        Assert.Equal(MlflowErrorCodes.InvalidState, error.ErrorCode);
        Assert.Contains("--serve-artifacts", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("mlflow-artifacts:/3/abc/artifacts", "3/abc/artifacts")]
    [InlineData("mlflow-artifacts://host:5000/3/abc/artifacts", "3/abc/artifacts")]
    [InlineData("mlflow-artifacts:///3/abc/artifacts/", "3/abc/artifacts")]
    [InlineData("s3://bucket/3", null)]
    [InlineData("/var/mlruns/3", null)]
    public void ProxyRelativePath_ArtifactUri_MapsToProxyPath(string uri, string? expected) =>
        Assert.Equal(expected, MlflowRestStore.ProxyRelativePath(uri));

    [Fact]
    public async Task LogBatch_InvalidKey_FailsBeforeAnyRequest()
    {
        await using var server = new FakeMlflowServer(_ => CannedResponse.Json("{}"));
        await using var store = server.Store();
        await Assert.ThrowsAsync<MlflowValidationException>(() => store.LogBatchAsync(RunId, [new MlflowMetric("bad|key", 1, 1)], null, null));
        Assert.Empty(server.All);
    }

    [Fact]
    public void Authorization_BasicHeader_IsBase64OfUserColonPassword()
    {
        var header = MlflowRestStore.Authorization(new Dictionary<string, string>
        {
            ["MLFLOW_TRACKING_USERNAME"] = "ünï",
            ["MLFLOW_TRACKING_PASSWORD"] = "p:w",
        })!;
        Assert.Equal("Basic", header.Scheme);
        Assert.Equal("ünï:p:w", Encoding.UTF8.GetString(Convert.FromBase64String(header.Parameter!)));
    }
}
