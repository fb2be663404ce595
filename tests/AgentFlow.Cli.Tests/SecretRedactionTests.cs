using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace AgentFlow.Cli.Tests;

/// <summary>
/// A model server that echoes the request's Authorization header in its error body must not put the API key in any
/// record, log or output: the transcript, MLflow, the run store, stdout/stderr, <c>runs show</c> and <c>runs export</c>.
/// </summary>
public sealed class SecretRedactionTests(CliFixture fixture) : IClassFixture<CliFixture>
{
    private const string KeyVariable = "AF_TEST_ECHOED_KEY";

    [Fact]
    public async Task Run_ServerEchoesAuthorizationInErrors_SecretIsInNoRecordLogOrOutput()
    {
        var secret = "sk-test-" + Guid.NewGuid().ToString("N");
        await using var server = new EchoingAuthServer();
        var folder = Directory.CreateDirectory(Path.Combine(fixture.Root, "secret-" + Guid.NewGuid().ToString("N")[..6])).FullName;
        // 'denied' answers 401, 'broken' answers 500: both bodies quote the Authorization header the client sent.
        await File.WriteAllTextAsync(Path.Combine(folder, "agentflow.yaml"), $$"""
            models:
              denied: { provider: openai, endpoint: "{{server.Endpoint("401")}}", model: m, api_key_env: {{KeyVariable}}, timeout: 20 }
              broken: { provider: openai, endpoint: "{{server.Endpoint("500")}}", model: m, api_key_env: {{KeyVariable}}, timeout: 20 }
            """);
        var workflow = Path.Combine(folder, "echo.yaml");
        await File.WriteAllTextAsync(workflow, """
            name: echoes-key
            version: 1
            models: { w: denied }
            steps:
              - id: ask
                agent: { model: w, prompt: "hi", max_tokens: 4, fallback: [broken] }
            """);
        var environment = new Dictionary<string, string>(fixture.Environment) { [KeyVariable] = secret };

        var run = await CliProcess.RunAsync(folder, environment, "run", workflow);
        var verbose = await CliProcess.RunAsync(folder, environment, "--verbose", "run", workflow);

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.True(server.EchoedAuthorizations >= 4, $"the server echoed the key {server.EchoedAuthorizations} times; the test needs it echoed by both models in both runs");
        // The failure is still reported, with the server's words, the key masked.
        Assert.Contains("Bearer ***", run.Stderr, StringComparison.Ordinal);
        var runIds = Directory.GetDirectories(Path.Combine(folder, ".agentflow", "runs")).Select(d => Path.GetFileName(d)).ToList();
        Assert.Equal(2, runIds.Count);
        var outputs = new List<(string What, string Text)> { ("run", run.ToString()), ("run --verbose", verbose.ToString()) };
        foreach (var runId in runIds)
        {
            var show = await CliProcess.RunAsync(folder, environment, "runs", "show", runId);
            var export = await CliProcess.RunAsync(folder, environment, "runs", "export", runId);
            Assert.True(show.ExitCode == 0, show.ToString());
            Assert.True(export.ExitCode == 0, export.ToString());
            Assert.Contains("Bearer ***", export.Stdout, StringComparison.Ordinal);
            outputs.Add(("runs show", show.ToString()));
            outputs.Add(("runs export", export.ToString()));
        }

        foreach (var (what, text) in outputs)
        {
            Assert.False(text.Contains(secret, StringComparison.Ordinal), $"{what} printed the key:\n{text}");
        }

        // Every file the runs wrote: mlflow.db (tags, params), its artifacts (transcript.json, audit.json), the run store (run.log).
        var files = Directory.GetFiles(Path.Combine(folder, ".agentflow"), "*", SearchOption.AllDirectories);
        Assert.Contains(files, f => f.EndsWith("transcript.json", StringComparison.Ordinal));
        Assert.Contains(files, f => f.EndsWith("run.log", StringComparison.Ordinal) || f.EndsWith("run.json", StringComparison.Ordinal));
        Assert.Contains(files, f => f.EndsWith("mlflow.db", StringComparison.Ordinal));
        var secretBytes = Encoding.UTF8.GetBytes(secret);
        foreach (var file in files)
        {
            var bytes = await File.ReadAllBytesAsync(file);
            Assert.False(bytes.AsSpan().IndexOf(secretBytes) >= 0, $"{Path.GetRelativePath(folder, file)} holds the key");
        }
    }

    /// <summary>
    /// An OpenAI-compatible endpoint on loopback that fails every chat completion: <c>/401/v1</c> with 401, <c>/500/v1</c>
    /// with 500, each body quoting the request's Authorization header (as some proxies do).
    /// </summary>
    private sealed class EchoingAuthServer : IAsyncDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Task _loop;
        private readonly int _port = FreePort();
        private int _echoed;

        public EchoingAuthServer()
        {
            _listener.Prefixes.Add($"http://127.0.0.1:{_port}/");
            _listener.Start();
            _loop = Task.Run(ServeAsync);
        }

        public int EchoedAuthorizations => Volatile.Read(ref _echoed);

        public string Endpoint(string status) => $"http://127.0.0.1:{_port}/{status}/v1";

        private async Task ServeAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }

                var authorization = context.Request.Headers["Authorization"] ?? "(none)";
                if (authorization.StartsWith("Bearer ", StringComparison.Ordinal))
                {
                    Interlocked.Increment(ref _echoed);
                }

                var status = context.Request.Url!.AbsolutePath.StartsWith("/500/", StringComparison.Ordinal) ? 500 : 401;
                var body = JsonSerializer.SerializeToUtf8Bytes(new
                {
                    error = new { message = $"request rejected; you sent Authorization: {authorization}", type = "invalid_request_error", code = status.ToString(CultureInfo.InvariantCulture) },
                });
                context.Response.StatusCode = status;
                context.Response.ContentType = "application/json";
                await context.Response.OutputStream.WriteAsync(body);
                context.Response.Close();
            }
        }

        private static int FreePort()
        {
            using var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            return ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            _listener.Close();
            await _loop;
        }
    }
}
