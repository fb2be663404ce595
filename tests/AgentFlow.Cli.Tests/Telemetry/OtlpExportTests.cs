using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AgentFlow.Cli.Tests.Telemetry;

/// <summary>A real <c>agentflow run</c> exporting its trace over OTLP/HTTP (protobuf) to a listener in the test.</summary>
public sealed class OtlpExportTests(CliFixture fixture) : IClassFixture<CliFixture>
{
    [Fact]
    public async Task Run_OtlpEndpointSet_ExportsTheRunsTraceBeforeExiting()
    {
        var port = FreePort();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var bodies = new List<(string Path, string ContentType, byte[] Body)>();
        using var stop = new CancellationTokenSource();
        var receiving = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                HttpListenerContext context;
                try
                {
                    context = await listener.GetContextAsync().WaitAsync(stop.Token);
                }
                catch (Exception ex) when (ex is OperationCanceledException or HttpListenerException or ObjectDisposedException)
                {
                    return;
                }

                using var buffer = new MemoryStream();
                await context.Request.InputStream.CopyToAsync(buffer);
                lock (bodies)
                {
                    bodies.Add((context.Request.Url!.AbsolutePath, context.Request.ContentType ?? string.Empty, buffer.ToArray()));
                }

                context.Response.StatusCode = 200;
                context.Response.ContentType = "application/x-protobuf";
                context.Response.Close();
            }
        });
        var environment = new Dictionary<string, string>(fixture.Environment)
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = $"http://127.0.0.1:{port}",
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_SERVICE_NAME"] = "agentflow-otlp-test",
            ["OTEL_RESOURCE_ATTRIBUTES"] = "deployment.environment=ci",
        };

        var run = await CliProcess.RunAsync(fixture.Root, environment, "run", Path.Combine(CliProcess.RepoRoot, "workflows", "hello.yaml"), "--input", "name=Ada", "--no-record");
        await stop.CancelAsync();
        listener.Stop();
        await receiving;

        Assert.True(run.ExitCode == 0, run.ToString());
        List<(string Path, string ContentType, byte[] Body)> traces;
        lock (bodies)
        {
            traces = [.. bodies.Where(b => b.Path == "/v1/traces")];
        }

        Assert.NotEmpty(traces);
        Assert.All(traces, t => Assert.Equal("application/x-protobuf", t.ContentType));
        // Protobuf keeps strings as UTF-8 bytes: the span names and attributes are readable in the request body.
        var text = string.Join("\n", traces.Select(t => Encoding.UTF8.GetString(t.Body)));
        Assert.Contains("agentflow.run hello", text, StringComparison.Ordinal);
        Assert.Contains("agentflow.step greet", text, StringComparison.Ordinal);
        Assert.Contains("agentflow.step shorten", text, StringComparison.Ordinal);
        Assert.Contains("chat tiny", text, StringComparison.Ordinal);
        Assert.Contains("gen_ai.usage.output_tokens", text, StringComparison.Ordinal);
        Assert.Contains("agentflow-otlp-test", text, StringComparison.Ordinal);
        Assert.Contains("deployment.environment", text, StringComparison.Ordinal);
        // No prompt text unless OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true.
        Assert.DoesNotContain("Write a greeting for Ada", text, StringComparison.Ordinal);
    }

    private static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }
}
