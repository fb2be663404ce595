using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;

namespace AgentFlow.Cli.Tests;

/// <summary>
/// The dashboard of <c>agentflow serve</c> in headless Chromium (the Debian package, driven by Playwright): a real serve
/// process, real runs on the built-in model, clicks in a real browser.
/// </summary>
public sealed class DashboardTests(CliFixture fixture) : IClassFixture<CliFixture>
{
    private const string Brief = """
        name: brief
        version: 1
        description: Two angles side by side, then a summary.
        inputs: { topic: { required: true } }
        models: { w: tiny }
        steps:
          - id: research
            parallel:
              - { id: pros, agent: { model: w, prompt: "Pros of {{ inputs.topic }}", max_tokens: 24, temperature: 0 } }
              - { id: cons, agent: { model: w, prompt: "Cons of {{ inputs.topic }}", max_tokens: 24, temperature: 0 } }
          - id: summary
            agent: { model: w, prompt: "Summarise: {{ steps.pros.output }} {{ steps.cons.output }}", max_tokens: 24, temperature: 0 }
        outputs:
          summary: "{{ steps.summary.output }}"
        """;

    // Exactly the flags of issue 9; a fresh --user-data-dir per test (the persistent context's folder).
    private static readonly string[] ChromiumFlags =
        ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(90);

    [ChromiumFact]
    public async Task Dashboard_StartRunFromForm_RunPageShowsSucceededLive()
    {
        var dir = Workspace();
        await File.WriteAllTextAsync(Path.Combine(dir, "workflows", "brief.yaml"), Brief);
        await using var serve = await ServeProcess.StartAsync(dir, fixture.Environment);
        await using var browser = await Browser.OpenAsync(dir);
        var page = browser.Page;

        await page.GotoAsync(serve.Address.ToString());
        await FillWorkflowAsync(page, "brief");
        await page.GetByLabel("Inputs (name=value per line)").FillAsync("topic=remote work");
        await page.GetByRole(AriaRole.Button, new() { Name = "Start run" }).ClickAsync();
        await page.WaitForURLAsync(new System.Text.RegularExpressions.Regex("#/runs/[0-9a-f]+$"));
        // A mark in the page's memory: it survives only if the page updates itself (no reload, no navigation).
        await page.EvaluateAsync("() => { window.__sameDocument = true; }");

        var status = page.Locator("#run-status");
        await Assertions.Expect(status).ToHaveTextAsync("succeeded", new() { Timeout = (float)RunTimeout.TotalMilliseconds });

        Assert.True(await page.EvaluateAsync<bool>("() => window.__sameDocument === true"), "the run page reloaded instead of updating live");
        Assert.Equal(["cons", "pros", "research", "summary"], (await page.Locator("#run-steps .step h3").AllTextContentsAsync()).Order(StringComparer.Ordinal));
        Assert.Equal(1, await page.Locator("#run-graph .row:has([data-step='pros']):has([data-step='cons'])").CountAsync());   // the parallel branches side by side
        // Once the run's trace is stored the timeline is drawn from its spans: a bar per span, nested run → steps → chats.
        await Assertions.Expect(page.Locator("#run-timeline[data-source='spans']")).ToHaveCountAsync(1, new() { Timeout = 30_000 });
        using (var http = new HttpClient { BaseAddress = serve.Address })
        {
            var runId = page.Url[(page.Url.LastIndexOf('/') + 1)..];
            var spans = (await http.GetFromJsonAsync<JsonElement>($"/api/runs/{runId}/spans")).GetProperty("spans").EnumerateArray().ToList();
            Assert.Equal(8, spans.Count);   // run, research, pros, cons, summary and the three model calls
            Assert.Equal(
                spans.Select(x => x.GetProperty("span_id").GetString()!).Order(StringComparer.Ordinal),
                (await page.Locator("#run-timeline .bar").EvaluateAllAsync<string[]>("bars => bars.map(b => b.dataset.span)")).Order(StringComparer.Ordinal));
        }

        var chats = page.Locator("#run-timeline .bar[data-type='CHAT_MODEL']");
        Assert.Equal(3, await chats.CountAsync());
        Assert.All(await chats.AllTextContentsAsync(), text => Assert.Matches(@"^chat tiny · .* · model \d+(\.\d)? (ms|s)", text));
        Assert.Equal(1, await page.Locator("#run-timeline .lane[data-depth='0']").CountAsync());   // the run
        Assert.Equal(4, await page.Locator("#run-timeline .lane[data-depth='1']").CountAsync());   // its step attempts
        Assert.Equal(3, await page.Locator("#run-timeline .lane[data-depth='2'] .bar[data-type='CHAT_MODEL']").CountAsync());   // each model call under its step
        await Assertions.Expect(page.Locator("#run-outputs")).ToContainTextAsync("summary");
        await Assertions.Expect(page.Locator("#run-verify")).Not.ToBeEmptyAsync();

        var screenshots = Directory.CreateDirectory(Path.Combine(CliProcess.RepoRoot, "artifacts", "screenshots")).FullName;
        var shot = Path.Combine(screenshots, "run-page.png");
        await page.ScreenshotAsync(new() { Path = shot, FullPage = true });
        Assert.True(new FileInfo(shot).Length > 10_000, "the screenshot is empty");
    }

    [ChromiumFact]
    public async Task Dashboard_ExperimentPage_ChartsEachMetricPerVariantWithIntervals()
    {
        var dir = Workspace();
        var flow = Path.Combine(dir, "workflows", "greet.yaml");
        await File.WriteAllTextAsync(flow, "name: greet\nversion: 1\ninputs: { name: { required: true } }\nmodels: { writer: tiny }\nsteps:\n  - id: hi\n    agent: { model: writer, prompt: \"Greet {{ inputs.name }}\", max_tokens: 6, temperature: 0 }\noutputs: { text: \"{{ steps.hi.output }}\" }\n");
        await File.WriteAllTextAsync(Path.Combine(dir, "cases.jsonl"), "{\"name\": \"Ada\"}\n{\"name\": \"Bo\"}\n{\"name\": \"Cy\"}\n");
        var experiment = await CliProcess.RunAsync(dir, fixture.Environment, "experiment", "run", flow, "--inputs", "cases.jsonl", "--variant", "A:writer=tiny", "--variant", "B:writer=tiny2", "--name", "greet-ab");
        Assert.True(experiment.ExitCode == 0, experiment.ToString());
        await using var serve = await ServeProcess.StartAsync(dir, fixture.Environment);
        using var http = new HttpClient { BaseAddress = serve.Address };
        var rows = (await http.GetFromJsonAsync<JsonElement>("/api/experiments/greet-ab")).GetProperty("comparison").GetProperty("rows").GetArrayLength();
        await using var browser = await Browser.OpenAsync(dir);
        var page = browser.Page;

        await page.GotoAsync(new Uri(serve.Address, "/#/experiments/greet-ab").ToString());

        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Experiment greet-ab" })).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("svg.chart")).ToHaveCountAsync(rows);
        Assert.True(rows > 0);
        Assert.Equal(2 * rows, await page.Locator("svg.chart rect.chart-bar").CountAsync());   // one bar per variant
        Assert.Equal(2 * rows, await page.Locator("svg.chart line.chart-ci").CountAsync());    // with its interval
        await Assertions.Expect(page.Locator("section[aria-label='Comparison']")).ToContainTextAsync("B−A");
        var screenshots = Directory.CreateDirectory(Path.Combine(CliProcess.RepoRoot, "artifacts", "screenshots")).FullName;
        await page.ScreenshotAsync(new() { Path = Path.Combine(screenshots, "experiment-page.png"), FullPage = true });
    }

    [ChromiumFact]
    public async Task Dashboard_RunWithWorkflowStep_LinksToTheChildRunAndBack()
    {
        var dir = Workspace();
        await File.WriteAllTextAsync(Path.Combine(dir, "workflows", "child.yaml"), """
            name: child
            version: 1
            inputs: { text: { required: true } }
            models: { w: tiny }
            steps:
              - id: s
                agent: { model: w, prompt: "Summarise: {{ inputs.text }}", max_tokens: 8, temperature: 0 }
            outputs: { summary: "{{ steps.s.output }}" }
            """);
        await File.WriteAllTextAsync(Path.Combine(dir, "workflows", "with-child.yaml"), """
            name: with-child
            version: 1
            inputs: { topic: { required: true } }
            steps:
              - id: summarize
                workflow: { file: child.yaml, inputs: { text: "{{ inputs.topic }}" } }
            outputs: { summary: "{{ steps.summarize.output.summary }}" }
            """);
        await using var serve = await ServeProcess.StartAsync(dir, fixture.Environment);
        using var http = new HttpClient { BaseAddress = serve.Address };
        var start = await http.PostAsJsonAsync("/api/runs", new { workflow = "with-child", inputs = new { topic = "refunds" } });
        Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
        var runId = (await start.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("run_id").GetString()!;
        await using var browser = await Browser.OpenAsync(dir);
        var page = browser.Page;

        await page.GotoAsync(new Uri(serve.Address, $"/#/runs/{runId}").ToString());
        await Assertions.Expect(page.Locator("#run-status")).ToHaveTextAsync("succeeded", new() { Timeout = (float)RunTimeout.TotalMilliseconds });
        var child = page.Locator("#run-steps [data-step='summarize'] a.child-run");
        await Assertions.Expect(child).ToBeVisibleAsync();
        await child.ClickAsync();

        await page.WaitForURLAsync(new System.Text.RegularExpressions.Regex("#/runs/[0-9a-f]{32}$"));
        Assert.DoesNotContain(runId, page.Url, StringComparison.Ordinal);
        await Assertions.Expect(page.Locator("#run-status")).ToHaveTextAsync("succeeded", new() { Timeout = (float)RunTimeout.TotalMilliseconds });
        await Assertions.Expect(page.Locator("#run-steps [data-step='s']")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("a.parent-run")).ToHaveAttributeAsync("href", $"#/runs/{runId}");
    }

    [ChromiumFact]
    public async Task Dashboard_ApproveWaitingRunByClicking_RunSucceedsWithTheDecision()
    {
        var dir = Workspace();
        await File.WriteAllTextAsync(Path.Combine(dir, "workflows", "web-approval.yaml"), TestWorkflows.WebApproval);
        await using var serve = await ServeProcess.StartAsync(dir, fixture.Environment);
        using var http = new HttpClient { BaseAddress = serve.Address };
        var start = await http.PostAsJsonAsync("/api/runs", new { workflow = "web-approval", inputs = new { ticket = "refund" } });
        Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
        var runId = (await start.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("run_id").GetString()!;
        await using var browser = await Browser.OpenAsync(dir);
        var page = browser.Page;

        await page.GotoAsync(new Uri(serve.Address, "/#/approvals").ToString());
        var card = page.Locator($"[data-approval='{runId}']");
        await Assertions.Expect(card).ToBeVisibleAsync(new() { Timeout = (float)RunTimeout.TotalMilliseconds });
        await Assertions.Expect(card).ToContainTextAsync("Send it?");
        await card.GetByLabel("Decided by").FillAsync("erin");
        await card.GetByLabel("Comment").FillAsync("looks right");
        await card.GetByRole(AriaRole.Button, new() { Name = "Approve" }).ClickAsync();
        await Assertions.Expect(card.GetByRole(AriaRole.Status)).ToContainTextAsync("approved");

        await page.GotoAsync(new Uri(serve.Address, $"/#/runs/{runId}").ToString());
        await Assertions.Expect(page.Locator("#run-status")).ToHaveTextAsync("succeeded", new() { Timeout = (float)RunTimeout.TotalMilliseconds });
        await Assertions.Expect(page.Locator("#run-outputs")).ToContainTextAsync("approved by erin");
        await Assertions.Expect(page.Locator("#run-steps [data-step='review']")).ToContainTextAsync("looks right");
        // "run_finished" reaches the page only once the whole record is written: the seal is there to verify.
        await Assertions.Expect(page.Locator("#run-verify")).ToContainTextAsync("audit chain intact");
        await Assertions.Expect(page.Locator("#run-status")).ToHaveTextAsync("succeeded");
    }

    [ChromiumFact]
    public async Task Dashboard_ToolCallWaiting_CardShowsToolAndArgumentsAndApproveRunsTheCall()
    {
        await using var orders = new OrderServer();
        var dir = Workspace();
        await File.WriteAllTextAsync(Path.Combine(dir, "workflows", "order-refund.yaml"), ToolApprovalTests.Workflow);
        await using var serve = await ServeProcess.StartAsync(dir, fixture.Environment);
        using var http = new HttpClient { BaseAddress = serve.Address };
        var start = await http.PostAsJsonAsync("/api/runs", new { workflow = "order-refund", inputs = new { orders_url = orders.Url } });
        var runId = (await start.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("run_id").GetString()!;
        await using var browser = await Browser.OpenAsync(dir);
        var page = browser.Page;

        await page.GotoAsync(new Uri(serve.Address, "/#/approvals").ToString());
        var card = page.Locator($"[data-approval='{runId}']");
        await Assertions.Expect(card).ToBeVisibleAsync(new() { Timeout = (float)RunTimeout.TotalMilliseconds });
        await Assertions.Expect(card.Locator(".tool-name")).ToHaveTextAsync("lookup_order");
        var arguments = JsonDocument.Parse(await card.Locator(".tool-arguments").InnerTextAsync());
        var orderId = arguments.RootElement.GetProperty("order_id").GetString()!;
        Assert.Empty(orders.Paths);
        await card.GetByLabel("Decided by").FillAsync("erin");
        await card.GetByRole(AriaRole.Button, new() { Name = "Approve" }).ClickAsync();
        await Assertions.Expect(card.GetByRole(AriaRole.Status)).ToContainTextAsync("approved");

        await page.GotoAsync(new Uri(serve.Address, $"/#/runs/{runId}").ToString());
        await Assertions.Expect(page.Locator("#run-status")).ToHaveTextAsync("succeeded", new() { Timeout = (float)RunTimeout.TotalMilliseconds });
        await Assertions.Expect(page.Locator("#run-steps [data-step='resolve'] .tool-calls")).ToContainTextAsync("approved by erin");
        Assert.Equal([$"/orders/{orderId}"], orders.Paths);
    }

    [Fact]
    public async Task Dashboard_Assets_ServedWithContentTypesAndCacheHeaders()
    {
        var dir = Workspace();
        await using var serve = await ServeProcess.StartAsync(dir, fixture.Environment);
        using var http = new HttpClient { BaseAddress = serve.Address };

        var index = await http.GetAsync(new Uri("/", UriKind.Relative));
        var html = await index.Content.ReadAsStringAsync();
        var script = System.Text.RegularExpressions.Regex.Match(html, "src=\"(/assets/app\\.js\\?v=[0-9a-f]+)\"").Groups[1].Value;
        var js = await http.GetAsync(new Uri(script, UriKind.Relative));
        var css = await http.GetAsync(new Uri("/assets/app.css", UriKind.Relative));
        using var again = new HttpRequestMessage(HttpMethod.Get, "/assets/app.css");
        again.Headers.TryAddWithoutValidation("If-None-Match", css.Headers.ETag?.ToString());
        var revalidated = await http.SendAsync(again);
        var missing = await http.GetAsync(new Uri("/assets/../agentflow.yaml", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, index.StatusCode);
        Assert.Equal("text/html", index.Content.Headers.ContentType?.MediaType);
        Assert.True(index.Headers.CacheControl?.NoCache, "index.html must be revalidated");
        Assert.Contains("default-src 'none'", index.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, js.StatusCode);
        Assert.Equal("text/javascript", js.Content.Headers.ContentType?.MediaType);
        Assert.True(js.Headers.CacheControl?.MaxAge >= TimeSpan.FromDays(365), "hashed assets are cached for good");
        Assert.Equal("text/css", css.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.NotModified, revalidated.StatusCode);
        Assert.NotEqual(HttpStatusCode.OK, missing.StatusCode);
    }

    [ChromiumFact]
    public async Task Dashboard_RunWithRetrieveStep_RunPageListsTheSourcesTheStepSaw()
    {
        var dir = Workspace();
        var docs = Directory.CreateDirectory(Path.Combine(dir, "docs")).FullName;
        await File.WriteAllTextAsync(Path.Combine(docs, "refunds.md"), "# Refunds\n\nDamaged items are refunded in full within 30 days of delivery.\n");
        await File.WriteAllTextAsync(Path.Combine(docs, "shipping.md"), "# Shipping\n\nOrders leave the warehouse within two working days.\n");
        var index = await CliProcess.RunAsync(dir, fixture.Environment, "index", docs, "--collection", "kb");
        Assert.True(index.ExitCode == 0, index.ToString());
        await File.WriteAllTextAsync(Path.Combine(dir, "workflows", "lookup.yaml"),
            "name: lookup\nversion: 1\ninputs: { q: { required: true } }\nmodels: { w: tiny }\nsteps:\n  - id: context\n    retrieve: { collection: kb, query: \"{{ inputs.q }}\", top_k: 2 }\n" +
            "  - id: answer\n    agent: { model: w, prompt: \"{{ steps.context.output }}\", max_tokens: 4, temperature: 0 }\noutputs: { found: \"{{ steps.answer.output }}\" }\n");
        await using var serve = await ServeProcess.StartAsync(dir, fixture.Environment);
        using var http = new HttpClient { BaseAddress = serve.Address };
        var start = await http.PostAsJsonAsync("/api/runs", new { workflow = "lookup", inputs = new { q = "my parcel arrived damaged, money back?" } });
        Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
        var runId = (await start.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("run_id").GetString()!;
        await using var browser = await Browser.OpenAsync(dir);
        var page = browser.Page;

        await page.GotoAsync(new Uri(serve.Address, $"/#/runs/{runId}").ToString());
        await Assertions.Expect(page.Locator("#run-status")).ToHaveTextAsync("succeeded", new() { Timeout = (float)RunTimeout.TotalMilliseconds });

        var sources = page.Locator("#run-steps [data-step='context'] ol.sources[data-collection='kb'] li");
        Assert.Equal(["refunds.md", "shipping.md"], await sources.EvaluateAllAsync<string[]>("items => items.map(i => i.dataset.source)"));
        await Assertions.Expect(sources.First).ToContainTextAsync("Refunds");
        await Assertions.Expect(sources.First).ToContainTextAsync("score 0.");
    }

    private string Workspace()
    {
        var dir = Directory.CreateDirectory(Path.Combine(fixture.Root, Guid.NewGuid().ToString("N"))).FullName;
        Directory.CreateDirectory(Path.Combine(dir, "workflows"));
        return dir;
    }

    // The workflow field is a select when the server lists its workflows (GET /api/workflows), a text field otherwise.
    private static async Task FillWorkflowAsync(IPage page, string name)
    {
        var field = page.GetByLabel("Workflow", new() { Exact = true });
        await Assertions.Expect(field).ToBeVisibleAsync();
        if (await field.EvaluateAsync<string>("e => e.tagName") == "SELECT")
        {
            await field.SelectOptionAsync(name);
        }
        else
        {
            await field.FillAsync(name);
        }
    }

    /// <summary>Headless Debian Chromium with a fresh profile folder, deleted afterwards.</summary>
    private sealed class Browser : IAsyncDisposable
    {
        private readonly IPlaywright _playwright;
        private readonly IBrowserContext _context;
        private readonly string _profile;

        private Browser(IPlaywright playwright, IBrowserContext context, IPage page, string profile)
        {
            _playwright = playwright;
            _context = context;
            Page = page;
            _profile = profile;
        }

        public IPage Page { get; }

        public static async Task<Browser> OpenAsync(string dir)
        {
            Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
            var profile = Directory.CreateDirectory(Path.Combine(dir, "chromium-profile-" + Guid.NewGuid().ToString("N"))).FullName;
            var playwright = await Playwright.CreateAsync();
            var context = await playwright.Chromium.LaunchPersistentContextAsync(profile, new()
            {
                ExecutablePath = ChromiumFactAttribute.ExecutablePath,
                Headless = true,
                Args = ChromiumFlags,
                ViewportSize = new() { Width = 1280, Height = 900 },
            });
            var page = context.Pages.Count > 0 ? context.Pages[0] : await context.NewPageAsync();
            page.SetDefaultTimeout(30_000);
            return new Browser(playwright, context, page, profile);
        }

        public async ValueTask DisposeAsync()
        {
            await _context.CloseAsync();
            _playwright.Dispose();
            try
            {
                Directory.Delete(_profile, recursive: true);
            }
            catch (IOException)
            {
                // Chromium may still be flushing its profile; the fixture's folder goes anyway.
            }
        }
    }
}
