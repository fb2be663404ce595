using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace AgentFlow.Cli.Tests;

/// <summary><c>agentflow serve</c> as real processes: the HTTP API, approvals over HTTP, security, takeover.</summary>
public sealed class ServeTests(CliFixture fixture) : IClassFixture<CliFixture>
{
    private (string Dir, Dictionary<string, string> Env) Workspace(IReadOnlyDictionary<string, string>? extra = null)
    {
        var dir = Directory.CreateDirectory(Path.Combine(fixture.Root, Guid.NewGuid().ToString("N"))).FullName;
        Directory.CreateDirectory(Path.Combine(dir, "workflows"));
        var env = new Dictionary<string, string>(fixture.Environment);
        foreach (var (key, value) in extra ?? new Dictionary<string, string>())
        {
            env[key] = value;
        }

        return (dir, env);
    }

    private static async Task<JsonElement> WaitForRunAsync(HttpClient http, string runId, Func<JsonElement, bool> done, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var response = await http.GetAsync(new Uri($"/api/runs/{runId}", UriKind.Relative));
            if (response.IsSuccessStatusCode)
            {
                using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                if (done(json.RootElement))
                {
                    return json.RootElement.Clone();
                }
            }

            if (deadline.Elapsed > timeout)
            {
                throw new TimeoutException($"run {runId} did not get there in {timeout}: {await response.Content.ReadAsStringAsync()}");
            }

            await Task.Delay(200);
        }
    }

    private static string Status(JsonElement run) => run.GetProperty("status").GetString()!;

    [Fact]
    public async Task Serve_StartRunAndApproveOverHttp_RunFinishesWithTheDecision()
    {
        var (dir, env) = Workspace();
        await File.WriteAllTextAsync(Path.Combine(dir, "workflows", "web-approval.yaml"), TestWorkflows.WebApproval);
        await using var serve = await ServeProcess.StartAsync(dir, env);
        using var http = new HttpClient { BaseAddress = serve.Address };

        var start = await http.PostAsJsonAsync("/api/runs", new { workflow = "web-approval", inputs = new { ticket = "refund" } });
        Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
        var runId = (await start.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("run_id").GetString()!;
        var waiting = await WaitForRunAsync(http, runId, r => Status(r) == "waiting", TimeSpan.FromSeconds(60));
        Assert.Equal("review", waiting.GetProperty("waiting").GetProperty("step").GetString());
        var approvals = await http.GetFromJsonAsync<JsonElement>("/api/approvals");
        Assert.Equal(runId, Assert.Single(approvals.EnumerateArray()).GetProperty("run_id").GetString());

        var wrong = await http.PostAsJsonAsync($"/api/runs/{runId}/approvals/draft", new { approve = true });
        Assert.Equal(HttpStatusCode.Conflict, wrong.StatusCode);
        var decide = await http.PostAsJsonAsync($"/api/runs/{runId}/approvals/review", new { approve = true, by = "erin", comment = "fine" });
        Assert.Equal(HttpStatusCode.Accepted, decide.StatusCode);

        var done = await WaitForRunAsync(http, runId, r => Status(r) is "succeeded" or "failed", TimeSpan.FromSeconds(60));
        Assert.Equal("succeeded", Status(done));
        Assert.Equal("approved by erin", done.GetProperty("outputs").GetProperty("decision").GetString());
    }

    private const string Two = """
        name: two
        version: 1
        models: { w: tiny }
        steps:
          - id: a
            agent: { model: w, prompt: "one", max_tokens: 8, temperature: 0 }
          - id: b
            agent: { model: w, prompt: "two {{ steps.a.output }}", max_tokens: 8, temperature: 0 }
        outputs: { out: "{{ steps.b.output }}" }
        """;

    [Fact]
    public async Task Serve_RunEvents_StreamEveryStepLiveUntilTheRunFinishes()
    {
        var (dir, env) = Workspace();
        await File.WriteAllTextAsync(Path.Combine(dir, "workflows", "two.yaml"), Two);
        await using var serve = await ServeProcess.StartAsync(dir, env);
        using var http = new HttpClient { BaseAddress = serve.Address };

        var start = await http.PostAsJsonAsync("/api/runs", new { workflow = "two" });
        var runId = (await start.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("run_id").GetString()!;
        using var stream = new StreamReader(await http.GetStreamAsync(new Uri($"/api/runs/{runId}/events", UriKind.Relative)));
        var events = new List<(string Name, JsonElement Data)>();
        string? name = null;
        while (await stream.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                name = line["event: ".Length..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                events.Add((name!, JsonDocument.Parse(line["data: ".Length..]).RootElement.Clone()));
            }
        }

        var names = events.Select(e => e.Name).ToList();
        Assert.Equal("run_finished", names[^1]);
        Assert.Equal("succeeded", Status(events[^1].Data));
        // A stream that opened mid-run starts with the run so far; every later step arrives as started, chunks, finished.
        Assert.Contains("chunk", names);
        var finished = events.Where(e => e.Name == "step_finished").Select(e => e.Data.GetProperty("id").GetString()).ToList();
        var seen = events[0].Name == "run" ? events[0].Data.GetProperty("steps").EnumerateArray().Where(st => st.GetProperty("status").GetString() == "succeeded").Select(st => st.GetProperty("id").GetString()) : [];
        Assert.Equal(["a", "b"], seen.Concat(finished));
    }

    [Fact]
    public async Task Serve_ListsVerifyAndOpenApi_DescribeWhatIsThere()
    {
        var (dir, env) = Workspace();
        await File.WriteAllTextAsync(Path.Combine(dir, "workflows", "two.yaml"), Two);
        await File.WriteAllTextAsync(Path.Combine(dir, "workflows", "broken.yaml"), "name: Broken\nversion: 1\nsteps: []\n");
        await using var serve = await ServeProcess.StartAsync(dir, env);
        using var http = new HttpClient { BaseAddress = serve.Address };
        var runId = (await (await http.PostAsJsonAsync("/api/runs", new { workflow = "two" })).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("run_id").GetString()!;
        await WaitForRunAsync(http, runId, r => Status(r) == "succeeded", TimeSpan.FromSeconds(60));

        var workflows = await http.GetFromJsonAsync<JsonElement>("/api/workflows");
        var runs = await http.GetFromJsonAsync<JsonElement>("/api/runs?workflow=two&status=succeeded");
        var none = await http.GetFromJsonAsync<JsonElement>("/api/runs?status=failed");
        var verify = await WaitForVerifyAsync(http, runId);
        var openapi = await http.GetStringAsync(new Uri("/openapi/v1.json", UriKind.Relative));

        Assert.Equal([("broken", false), ("two", true)], workflows.EnumerateArray().Select(w => (w.GetProperty("name").GetString(), w.GetProperty("valid").GetBoolean())));
        Assert.Contains("AF0104", workflows[0].GetProperty("diagnostics")[0].GetString(), StringComparison.Ordinal);
        Assert.Equal(runId, Assert.Single(runs.EnumerateArray()).GetProperty("run_id").GetString());
        Assert.Empty(none.EnumerateArray());
        Assert.True(verify.GetProperty("ok").GetBoolean(), verify.ToString());
        Assert.Contains("/api/runs/{id}/approvals/{step}", openapi, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_RunSpans_FinishedRunsTraceWithParentLinksAndOneSpanPerStep()
    {
        var (dir, env) = Workspace();
        await File.WriteAllTextAsync(Path.Combine(dir, "workflows", "two.yaml"), Two);
        await using var serve = await ServeProcess.StartAsync(dir, env);
        using var http = new HttpClient { BaseAddress = serve.Address };
        var runId = (await (await http.PostAsJsonAsync("/api/runs", new { workflow = "two" })).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("run_id").GetString()!;
        var run = await WaitForRunAsync(http, runId, r => Status(r) == "succeeded", TimeSpan.FromSeconds(60));

        var body = await WaitForSpansAsync(http, runId);
        var unknown = await http.GetAsync(new Uri($"/api/runs/{Guid.NewGuid():N}/spans", UriKind.Relative));

        Assert.Equal(runId, body.GetProperty("run_id").GetString());
        Assert.Equal("tr-" + runId, body.GetProperty("trace_id").GetString());
        var spans = body.GetProperty("spans").EnumerateArray().ToList();
        Assert.Equal(["agentflow.run two", "agentflow.step a", "agentflow.step b", "chat tiny", "chat tiny"], spans.Select(s => s.GetProperty("name").GetString()).Order(StringComparer.Ordinal));
        var root = Assert.Single(spans, s => s.GetProperty("parent_id").ValueKind == JsonValueKind.Null);
        var rootId = root.GetProperty("span_id").GetString();
        var steps = spans.Where(s => s.GetProperty("name").GetString()!.StartsWith("agentflow.step", StringComparison.Ordinal)).ToList();
        Assert.All(steps, s => Assert.Equal(rootId, s.GetProperty("parent_id").GetString()));
        Assert.Equal(["a", "b"], steps.Select(s => s.GetProperty("attributes").GetProperty("agentflow.step.id").GetString()).Order(StringComparer.Ordinal));
        foreach (var step in run.GetProperty("steps").EnumerateArray())
        {
            var stepSpan = Assert.Single(steps, s => s.GetProperty("attributes").GetProperty("agentflow.step.id").GetString() == step.GetProperty("id").GetString());
            var chat = Assert.Single(spans, s => s.GetProperty("parent_id").GetString() == stepSpan.GetProperty("span_id").GetString());
            var attributes = chat.GetProperty("attributes");
            Assert.Equal("chat tiny", chat.GetProperty("name").GetString());
            Assert.Equal("tiny", attributes.GetProperty("gen_ai.request.model").GetString());
            Assert.Equal(step.GetProperty("output_tokens").GetInt32(), attributes.GetProperty("gen_ai.usage.output_tokens").GetInt32());
            // The model time: the worker's own (serve's embedded worker answers the steps), within the step's latency.
            var modelMs = attributes.GetProperty("agentflow.model_ms").GetDouble();
            Assert.InRange(modelMs, 0.001, step.GetProperty("latency_ms").GetDouble() + 0.01);
            var worker = step.TryGetProperty("worker", out var w) && w.ValueKind == JsonValueKind.String ? w.GetString() : null;
            var stepAttributes = stepSpan.GetProperty("attributes");
            Assert.Equal(worker, stepAttributes.TryGetProperty("agentflow.worker", out var sw) ? sw.GetString() : null);
            Assert.Equal(worker is not null, stepAttributes.TryGetProperty("agentflow.queue_wait_ms", out var queued) && queued.GetDouble() >= 0);
            Assert.True(chat.GetProperty("duration_ms").GetDouble() > 0, chat.ToString());
            Assert.Equal("OK", chat.GetProperty("status").GetString());
            Assert.False(attributes.TryGetProperty("mlflow.spanInputs", out _), "prompt text is served by the run record, not the spans");
        }

        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    // The trace is written just after the run's end is stored: ask until it is there.
    private static async Task<JsonElement> WaitForSpansAsync(HttpClient http, string runId)
    {
        for (var i = 0; ; i++)
        {
            var response = await http.GetAsync(new Uri($"/api/runs/{runId}/spans", UriKind.Relative));
            var body = await response.Content.ReadFromJsonAsync<JsonElement>();
            if ((response.IsSuccessStatusCode && body.GetProperty("spans").EnumerateArray().All(s => s.GetProperty("end").ValueKind != JsonValueKind.Null)) || i == 50)
            {
                Assert.True(response.IsSuccessStatusCode, body.ToString());
                return body;
            }

            if (!response.IsSuccessStatusCode)
            {
                Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
                Assert.Equal("no trace yet", body.GetProperty("title").GetString());
            }

            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Serve_ExperimentComparison_SameAsTheReportCommand()
    {
        var (dir, env) = Workspace();
        var flow = Path.Combine(dir, "workflows", "hello-exp.yaml");
        await File.WriteAllTextAsync(flow, "name: hello-exp\nversion: 1\ninputs: { name: { required: true } }\nmodels: { writer: tiny }\nsteps:\n  - id: greet\n    agent: { model: writer, prompt: \"Greet {{ inputs.name }}\", max_tokens: 6, temperature: 0 }\noutputs: { text: \"{{ steps.greet.output }}\" }\n");
        await File.WriteAllTextAsync(Path.Combine(dir, "cases.jsonl"), "{\"name\": \"Ada\"}\n{\"name\": \"Bo\"}\n{\"name\": \"Cy\"}\n");
        var experiment = await CliProcess.RunAsync(dir, env, "experiment", "run", flow, "--inputs", "cases.jsonl", "--variant", "A:writer=tiny", "--variant", "B:writer=tiny2", "--name", "served-ab");
        Assert.True(experiment.ExitCode == 0, experiment.ToString());
        var report = await CliProcess.RunAsync(dir, env, "experiment", "report", "--name", "served-ab", "--json");
        await using var serve = await ServeProcess.StartAsync(dir, env);
        using var http = new HttpClient { BaseAddress = serve.Address };

        var served = await http.GetStringAsync(new Uri("/api/experiments/served-ab", UriKind.Relative));
        var missing = await http.GetAsync(new Uri("/api/experiments/nope", UriKind.Relative));

        Assert.Equal(JsonNodeText(report.Stdout), JsonNodeText(served));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    private static string JsonNodeText(string json) => System.Text.Json.Nodes.JsonNode.Parse(json)!.ToJsonString();

    // The MLflow record is written in the background; its final artifacts land just after the run ends.
    private static async Task<JsonElement> WaitForVerifyAsync(HttpClient http, string runId)
    {
        for (var i = 0; ; i++)
        {
            var response = await http.GetAsync(new Uri($"/api/runs/{runId}/verify", UriKind.Relative));
            var body = await response.Content.ReadFromJsonAsync<JsonElement>();
            if ((response.IsSuccessStatusCode && body.GetProperty("ok").GetBoolean()) || i == 50)
            {
                return body;
            }

            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Serve_BadRequests_AreClear4xxNeverA500()
    {
        var (dir, env) = Workspace();
        await File.WriteAllTextAsync(Path.Combine(dir, "workflows", "web-approval.yaml"), TestWorkflows.WebApproval);
        await using var serve = await ServeProcess.StartAsync(dir, env);
        using var http = new HttpClient { BaseAddress = serve.Address };

        var traversal = await http.PostAsJsonAsync("/api/runs", new { workflow = "../etc/passwd" });
        var unknown = await http.PostAsJsonAsync("/api/runs", new { workflow = "nope" });
        var badInput = await http.PostAsJsonAsync("/api/runs", new { workflow = "web-approval", inputs = new { tikket = "x" } });
        var notJson = await http.PostAsync(new Uri("/api/runs", UriKind.Relative), new StringContent("{", null, "application/json"));
        var tooBig = await http.PostAsync(new Uri("/api/runs", UriKind.Relative), new StringContent(new string(' ', 300 * 1024), null, "application/json"));
        var noRun = await http.GetAsync(new Uri("/api/runs/0123456789abcdef", UriKind.Relative));

        Assert.Equal(
            [HttpStatusCode.BadRequest, HttpStatusCode.NotFound, HttpStatusCode.BadRequest, HttpStatusCode.BadRequest, HttpStatusCode.RequestEntityTooLarge, HttpStatusCode.NotFound],
            new[] { traversal, unknown, badInput, notJson, tooBig, noRun }.Select(r => r.StatusCode));
        Assert.Contains("unknown input 'tikket'", await badInput.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_WithToken_RequestsWithoutTheBearerAreRejected()
    {
        var (dir, env) = Workspace(new Dictionary<string, string> { ["AGENTFLOW_API_TOKEN"] = "s3cret-token" });
        await using var serve = await ServeProcess.StartAsync(dir, env);
        using var http = new HttpClient { BaseAddress = serve.Address };

        var none = await http.GetAsync(new Uri("/healthz", UriKind.Relative));
        http.DefaultRequestHeaders.Authorization = new("Bearer", "wrong");
        var wrong = await http.GetAsync(new Uri("/healthz", UriKind.Relative));
        http.DefaultRequestHeaders.Authorization = new("Bearer", "s3cret-token");
        var right = await http.GetAsync(new Uri("/healthz", UriKind.Relative));

        Assert.Equal((HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.OK), (none.StatusCode, wrong.StatusCode, right.StatusCode));
        Assert.DoesNotContain("s3cret", await wrong.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_Metrics_PrometheusTextOfTheRunsBehindTheTokenRule()
    {
        var (dir, env) = Workspace(new Dictionary<string, string> { ["AGENTFLOW_API_TOKEN"] = "m3trics-token" });
        await File.WriteAllTextAsync(Path.Combine(dir, "workflows", "two.yaml"), Two);
        await using var serve = await ServeProcess.StartAsync(dir, env);
        using var http = new HttpClient { BaseAddress = serve.Address };
        var refused = await http.GetAsync(new Uri("/metrics", UriKind.Relative));
        http.DefaultRequestHeaders.Authorization = new("Bearer", "m3trics-token");
        var start = await http.PostAsJsonAsync("/api/runs", new { workflow = "two" });
        var runId = (await start.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("run_id").GetString()!;
        await WaitForRunAsync(http, runId, r => Status(r) is "succeeded" or "failed", TimeSpan.FromSeconds(60));

        var scrape = await http.GetAsync(new Uri("/metrics", UriKind.Relative));
        var text = await scrape.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal(HttpStatusCode.OK, scrape.StatusCode);
        Assert.Equal("text/plain", scrape.Content.Headers.ContentType?.MediaType);
        Assert.Matches("(?m)^agentflow_runs_started_total\\{[^}]*agentflow_workflow=\"two\"[^}]*\\} 1", text);
        Assert.Matches("(?m)^agentflow_runs_finished_total\\{[^}]*agentflow_status=\"succeeded\"[^}]*\\} 1", text);
        Assert.Matches("(?m)^agentflow_step_duration_seconds_count\\{[^}]*agentflow_step_kind=\"agent\"[^}]*\\} 2", text);
        Assert.Matches("(?m)^gen_ai_client_token_usage_bucket\\{", text);
    }

    [Fact]
    public async Task Serve_BeyondLoopbackWithoutToken_RefusesToStart()
    {
        var (dir, env) = Workspace();

        var result = await CliProcess.RunAsync(dir, env, "serve", "--urls", "http://0.0.0.0:0");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("AGENTFLOW_API_TOKEN", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_UrlListWithAWildcardAndNoToken_ExitsWithoutEverAnsweringThere()
    {
        var (dir, env) = Workspace();
        var (loopback, wildcard) = (FreePort(), FreePort());

        var (result, answers) = await ServeUntilExitAsync(dir, env, wildcard, "serve", "--urls", $"http://127.0.0.1:{loopback}/;http://0.0.0.0:{wildcard}");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains($"0.0.0.0:{wildcard}", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("AGENTFLOW_API_TOKEN", result.Stderr, StringComparison.Ordinal);
        Assert.All(answers, status => Assert.Equal(HttpStatusCode.ServiceUnavailable, status));
    }

    [Fact]
    public async Task Serve_KestrelEndpointFromTheEnvironmentBeyondLoopbackAndNoToken_ExitsWithoutEverAnswering()
    {
        var port = FreePort();
        var (dir, env) = Workspace(new Dictionary<string, string> { ["Kestrel__Endpoints__x__Url"] = $"http://0.0.0.0:{port}" });

        var (result, answers) = await ServeUntilExitAsync(dir, env, port, "serve", "--urls", "http://127.0.0.1:0");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains($"0.0.0.0:{port}", result.Stderr, StringComparison.Ordinal);
        Assert.All(answers, status => Assert.Equal(HttpStatusCode.ServiceUnavailable, status));
    }

    [Fact]
    public async Task Serve_CrossSiteRequests_AreRefusedBeforeTheyReachTheApi()
    {
        var (dir, env) = Workspace();
        await File.WriteAllTextAsync(Path.Combine(dir, "workflows", "two.yaml"), Two);
        await using var serve = await ServeProcess.StartAsync(dir, env);
        using var http = new HttpClient { BaseAddress = serve.Address };
        var port = serve.Address.Port;
        var body = """{"workflow": "two"}""";

        var plain = await http.PostAsync(new Uri("/api/runs", UriKind.Relative), new StringContent(body));
        var approvePlain = await http.PostAsync(new Uri("/api/runs/0123456789abcdef/approvals/review", UriKind.Relative), new StringContent("""{"approve": true}"""));
        var foreign = await SendAsync(http, HttpMethod.Post, "/api/runs", body, origin: "http://evil.example");
        var foreignRead = await SendAsync(http, HttpMethod.Get, "/api/approvals", null, origin: "http://evil.example");
        var nullOrigin = await SendAsync(http, HttpMethod.Post, "/api/runs", body, origin: "null");
        var rebound = await SendAsync(http, HttpMethod.Get, "/api/runs", null, host: $"evil.example:{port}");
        var otherPort = await SendAsync(http, HttpMethod.Get, "/healthz", null, host: $"127.0.0.1:{port + 1}");
        var runs = await http.GetFromJsonAsync<JsonElement>("/api/runs");
        var byName = await SendAsync(http, HttpMethod.Get, "/healthz", null, host: $"localhost:{port}");
        var ownOrigin = await SendAsync(http, HttpMethod.Post, "/api/runs/0123456789abcdef/approvals/review", """{"approve": true}""", origin: $"http://localhost:{port}");

        Assert.Equal(
            [HttpStatusCode.UnsupportedMediaType, HttpStatusCode.UnsupportedMediaType, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden, HttpStatusCode.BadRequest, HttpStatusCode.BadRequest],
            new[] { plain, approvePlain, foreign, foreignRead, nullOrigin, rebound, otherPort }.Select(r => r.StatusCode));
        Assert.Empty(runs.EnumerateArray()); // none of them started a run
        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.NotFound), (byName.StatusCode, ownOrigin.StatusCode));
    }

    [Fact]
    public async Task Serve_ApprovalWithToken_RecordsTheTokenCallerNotTheNameInTheBody()
    {
        var (dir, env) = Workspace(new Dictionary<string, string> { ["AGENTFLOW_API_TOKEN"] = "s3cret-token" });
        await File.WriteAllTextAsync(Path.Combine(dir, "workflows", "web-approval.yaml"), TestWorkflows.WebApproval);
        await using var serve = await ServeProcess.StartAsync(dir, env);
        using var http = new HttpClient { BaseAddress = serve.Address };
        http.DefaultRequestHeaders.Authorization = new("Bearer", "s3cret-token");
        var start = await http.PostAsJsonAsync("/api/runs", new { workflow = "web-approval", inputs = new { ticket = "refund" } });
        var runId = (await start.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("run_id").GetString()!;
        await WaitForRunAsync(http, runId, r => Status(r) == "waiting", TimeSpan.FromSeconds(60));

        var decide = await http.PostAsJsonAsync($"/api/runs/{runId}/approvals/review", new { approve = true, by = "the-ceo" });

        Assert.Equal(HttpStatusCode.Accepted, decide.StatusCode);
        var done = await WaitForRunAsync(http, runId, r => Status(r) is "succeeded" or "failed", TimeSpan.FromSeconds(60));
        Assert.Equal("approved by api-token", done.GetProperty("outputs").GetProperty("decision").GetString());
    }

    [Fact]
    public async Task Serve_ProblemDetails_NameWorkflowsRelativeToTheFolderNeverByServerPath()
    {
        var (dir, env) = Workspace();
        await File.WriteAllTextAsync(Path.Combine(dir, "workflows", "broken.yaml"), "name: Broken\nversion: 1\nsteps: []\n");
        await using var serve = await ServeProcess.StartAsync(dir, env);
        using var http = new HttpClient { BaseAddress = serve.Address };

        var texts = new List<string>();
        foreach (var response in new[]
        {
            await http.PostAsJsonAsync("/api/runs", new { workflow = "broken" }),
            await http.PostAsJsonAsync("/api/runs", new { workflow = "nope" }),
            await http.PostAsJsonAsync("/api/runs", new { workflow = "../x" }),
            await http.GetAsync(new Uri("/api/workflows", UriKind.Relative)),
            await http.GetAsync(new Uri("/api/experiments/nope", UriKind.Relative)),
        })
        {
            texts.Add(await response.Content.ReadAsStringAsync());
        }

        Assert.Contains("broken.yaml:1:7: error AF0104", texts[0], StringComparison.Ordinal);
        Assert.All(texts, text => Assert.DoesNotContain(dir, text, StringComparison.Ordinal));
        Assert.All(texts, text => Assert.DoesNotContain(fixture.Root, text, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Serve_RunStartedOverHttp_IsRecordedWithTriggerApi()
    {
        var (dir, env) = Workspace();
        await File.WriteAllTextAsync(Path.Combine(dir, "workflows", "two.yaml"), Two);
        await using var serve = await ServeProcess.StartAsync(dir, env);
        using var http = new HttpClient { BaseAddress = serve.Address };
        var runId = (await (await http.PostAsJsonAsync("/api/runs", new { workflow = "two" })).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("run_id").GetString()!;
        await WaitForRunAsync(http, runId, r => Status(r) == "succeeded", TimeSpan.FromSeconds(60));

        var export = await CliProcess.RunAsync(dir, env, "runs", "export", runId);

        Assert.True(export.ExitCode == 0, export.ToString());
        Assert.Equal("api", JsonDocument.Parse(export.Stdout).RootElement.GetProperty("tags").GetProperty("agentflow.trigger").GetString());
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient http, HttpMethod method, string path, string? json, string? origin = null, string? host = null)
    {
        using var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative));
        if (json is not null)
        {
            request.Content = new StringContent(json, null, "application/json");
        }

        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }

        if (host is not null)
        {
            request.Headers.Host = host;
        }

        return await http.SendAsync(request);
    }

    // Runs serve until it exits (at most 3 minutes), asking http://127.0.0.1:PROBE/healthz all the while: the answers it got.
    private static async Task<(CliResult Result, List<HttpStatusCode> Answers)> ServeUntilExitAsync(string dir, Dictionary<string, string> env, int probe, params string[] args)
    {
        var serve = CliProcess.RunAsync(dir, env, args);
        var answers = new List<HttpStatusCode>();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        while (!serve.IsCompleted)
        {
            try
            {
                answers.Add((await http.GetAsync(new Uri($"http://127.0.0.1:{probe}/healthz"))).StatusCode);
            }
            catch (HttpRequestException)
            {
                // Not listening (yet, or any more).
            }
            catch (TaskCanceledException)
            {
                // Accepted but not answered before it closed.
            }

            await Task.Delay(5);
        }

        return (await serve, answers);
    }

    [RedisFact]
    public async Task Serve_TwoOrchestratorsOnRedis_SurvivorTakesOverTheKilledOwnersRun()
    {
        var (dir, env) = Workspace(new Dictionary<string, string> { ["AGENTFLOW_REDIS"] = RedisFactAttribute.Connection! });
        await File.WriteAllTextAsync(Path.Combine(dir, "agentflow.yaml"), "models:\n  long: { provider: builtin, context: 16384 }\n");
        var steps = string.Concat(Enumerable.Range(1, 4).Select(i =>
            $"  - id: s{i}\n    agent: {{ model: {(i == 2 ? "x" : "w")}, prompt: \"Step {i}\", max_tokens: {(i == 2 ? 3000 : 16)}, temperature: 0 }}\n"));
        await File.WriteAllTextAsync(Path.Combine(dir, "workflows", "chain.yaml"), $"name: chain\nversion: 1\nmodels: {{ w: tiny, x: long }}\nsteps:\n{steps}outputs:\n  last: \"{{{{ steps.s4.output }}}}\"\n");
        var owner = await ServeProcess.StartAsync(dir, env, "--config", "agentflow.yaml");
        string runId;
        using (var http = new HttpClient { BaseAddress = owner.Address })
        {
            var start = await http.PostAsJsonAsync("/api/runs", new { workflow = "chain" });
            Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
            runId = (await start.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("run_id").GetString()!;
            await WaitForRunAsync(http, runId, r => r.GetProperty("steps").EnumerateArray().Any(s => s.GetProperty("id").GetString() == "s2"), TimeSpan.FromSeconds(60));
        }

        owner.Kill(); // SIGKILL mid-s2: its Redis lease is no longer renewed
        await owner.DisposeAsync();
        await using var survivor = await ServeProcess.StartAsync(dir, env, "--config", "agentflow.yaml", "--sweep", "1");
        using var client = new HttpClient { BaseAddress = survivor.Address };
        var done = await WaitForRunAsync(client, runId, r => Status(r) is "succeeded" or "failed", TimeSpan.FromSeconds(90));

        Assert.Equal("succeeded", Status(done));
        var records = done.GetProperty("steps").EnumerateArray().Select(s => (s.GetProperty("id").GetString()!, s.GetProperty("attempt").GetInt32(), s.GetProperty("status").GetString()!)).ToList();
        Assert.Equal([("s1", 1, "succeeded"), ("s2", 1, "failed"), ("s2", 2, "succeeded"), ("s3", 1, "succeeded"), ("s4", 1, "succeeded")], records);
        Assert.Contains($"continuing run {runId}", survivor.Log, StringComparison.Ordinal);
    }
}
