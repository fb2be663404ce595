using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace AgentFlow.Cli.Tests;

/// <summary>
/// A tool with <c>approve: true</c> through real <c>./agentflow</c> and <c>serve</c> processes on the built-in tiny
/// model: the run parks before the call, and another process decides it.
/// </summary>
public sealed class ToolApprovalTests(CliFixture fixture) : IClassFixture<CliFixture>
{
    internal const string Workflow = """
        name: order-refund
        version: 1
        inputs:
          orders_url: { type: string, required: true }
        models: { writer: tiny }
        tools:
          lookup_order:
            description: Look up an order by its id.
            parameters: { type: object, properties: { order_id: { type: string, pattern: "^[A-Z0-9-]{1,20}$" } }, required: [order_id] }
            http: { url: "{{ inputs.orders_url }}/orders/{{ args.order_id }}", timeout: 5s }
            approve: true
        steps:
          - id: resolve
            agent: { model: writer, prompt: "Where is order A-1?", tools: [lookup_order], tool_choice: lookup_order, max_tool_calls: 1, max_tokens: 96, temperature: 0, seed: 7 }
        outputs:
          answer: "{{ steps.resolve.output }}"
        """;

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

    [Fact]
    public async Task Approve_ToolCallFromAnotherProcess_ListShowsToolAndArgumentsThenTheCallRunsOnce()
    {
        await using var orders = new OrderServer();
        var (dir, env) = Workspace();
        var file = Path.Combine(dir, "workflows", "order-refund.yaml");
        await File.WriteAllTextAsync(file, Workflow);

        var parked = await CliProcess.RunAsync(dir, env, "run", file, "--input", $"orders_url={orders.Url}", "--json");

        Assert.True(parked.ExitCode == 3, parked.ToString());
        Assert.Contains("waiting for approval of a call of tool 'lookup_order' at step 'resolve'", parked.Stderr, StringComparison.Ordinal);
        Assert.Empty(orders.Paths);
        string runId;
        string orderId;
        using (var json = JsonDocument.Parse(parked.Stdout))
        {
            runId = json.RootElement.GetProperty("run_id").GetString()!;
        }

        var list = await CliProcess.RunAsync(dir, env, "approvals", "list", "--json");
        using (var waiting = JsonDocument.Parse(list.Stdout))
        {
            var entry = Assert.Single(waiting.RootElement.EnumerateArray());
            Assert.Equal((runId, "resolve", "lookup_order"), (entry.GetProperty("run_id").GetString(), entry.GetProperty("step").GetString(), entry.GetProperty("tool").GetString()));
            orderId = entry.GetProperty("arguments").GetProperty("order_id").GetString()!;
            Assert.Matches("^[A-Z0-9-]{1,20}$", orderId);
        }

        var waitingShow = await CliProcess.RunAsync(dir, env, "runs", "show", runId);
        Assert.Contains("(waiting for a decision)", waitingShow.Stdout, StringComparison.Ordinal);
        var text = await CliProcess.RunAsync(dir, env, "approvals", "list");
        Assert.Contains($"tool: lookup_order  arguments: {{\"order_id\":\"{orderId}\"}}", text.Stdout, StringComparison.Ordinal);

        var decided = await CliProcess.RunAsync(dir, env, "approve", runId, "resolve", "--comment", "go ahead", "--as", "dave", "--json");

        Assert.True(decided.ExitCode == 0, decided.ToString());
        Assert.Equal([$"/orders/{orderId}"], orders.Paths);
        using (var json = JsonDocument.Parse(decided.Stdout))
        {
            var root = json.RootElement;
            Assert.Equal("succeeded", root.GetProperty("status").GetString());
            var call = Assert.Single(root.GetProperty("steps").EnumerateArray()).GetProperty("tool_calls")[0];
            Assert.Equal("succeeded", call.GetProperty("status").GetString());
            var approval = call.GetProperty("approval");
            Assert.Equal(("approved", "dave", "go ahead"), (approval.GetProperty("decision").GetString(), approval.GetProperty("decided_by").GetString(), approval.GetProperty("comment").GetString()));
        }

        Assert.Equal("[]", (await CliProcess.RunAsync(dir, env, "approvals", "list", "--json")).Stdout.Trim());
        var show = await CliProcess.RunAsync(dir, env, "runs", "show", runId);
        Assert.Contains("(approved by dave at ", show.Stdout, StringComparison.Ordinal);
        Assert.Contains(": go ahead)", show.Stdout, StringComparison.Ordinal);

        // The decision is in the MLflow transcript and covered by its audit chain.
        var verify = await CliProcess.RunAsync(dir, env, "runs", "verify", runId);
        Assert.True(verify.ExitCode == 0, verify.ToString());
        var export = await CliProcess.RunAsync(dir, env, "runs", "export", runId);
        Assert.Contains("\"decided_by\": \"dave\"", export.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_RejectToolCallOverHttpWithToken_ServerNeverCalledAndDecidedByTheTokenCaller()
    {
        await using var orders = new OrderServer();
        var (dir, env) = Workspace(new Dictionary<string, string> { ["AGENTFLOW_API_TOKEN"] = "s3cret-token" });
        await File.WriteAllTextAsync(Path.Combine(dir, "workflows", "order-refund.yaml"), Workflow);
        await using var serve = await ServeProcess.StartAsync(dir, env);
        using var http = new HttpClient { BaseAddress = serve.Address };
        http.DefaultRequestHeaders.Authorization = new("Bearer", "s3cret-token");
        var start = await http.PostAsJsonAsync("/api/runs", new { workflow = "order-refund", inputs = new { orders_url = orders.Url } });
        Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
        var runId = (await start.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("run_id").GetString()!;
        var parked = await WaitForRunAsync(http, runId, r => Status(r) == "waiting");
        Assert.Equal("lookup_order", parked.GetProperty("waiting").GetProperty("tool").GetString());
        var listed = Assert.Single((await http.GetFromJsonAsync<JsonElement>("/api/approvals")).EnumerateArray());
        Assert.Equal(JsonValueKind.Object, listed.GetProperty("arguments").ValueKind);

        var decide = await http.PostAsJsonAsync($"/api/runs/{runId}/approvals/resolve", new { approve = false, by = "the-ceo", comment = "not now" });

        Assert.Equal(HttpStatusCode.Accepted, decide.StatusCode);
        var done = await WaitForRunAsync(http, runId, r => Status(r) is "succeeded" or "failed");
        Assert.Equal("succeeded", Status(done));
        Assert.Empty(orders.Paths);
        var call = done.GetProperty("steps")[0].GetProperty("tool_calls")[0];
        Assert.Equal("refused", call.GetProperty("status").GetString());
        Assert.Equal(("rejected", "api-token"), (call.GetProperty("approval").GetProperty("decision").GetString(), call.GetProperty("approval").GetProperty("decided_by").GetString()));
    }

    private static string Status(JsonElement run) => run.GetProperty("status").GetString()!;

    private static async Task<JsonElement> WaitForRunAsync(HttpClient http, string runId, Func<JsonElement, bool> done)
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

            if (deadline.Elapsed > TimeSpan.FromSeconds(60))
            {
                throw new TimeoutException($"run {runId} did not get there: {await response.Content.ReadAsStringAsync()}");
            }

            await Task.Delay(200);
        }
    }
}
