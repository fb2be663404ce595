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

    [Fact]
    public async Task Run_OtlpExport_DecodesAsOneTraceWhoseSpansMatchTheRunsSteps()
    {
        var (run, traces) = await ExportAsync();

        Assert.True(run.ExitCode == 0, run.ToString());
        var decoded = traces.Select(OtlpTraceDecoder.Decode).ToList();
        var spans = decoded.SelectMany(d => d.Spans).Where(s => s.Scope == "AgentFlow").ToList();
        Assert.Equal("agentflow-otlp-test", decoded[0].Resource["service.name"]);
        Assert.Equal("ci", decoded[0].Resource["deployment.environment"]);

        // One trace, whose id is the run id, rooted at the run span; a step span per step, a chat span in each.
        var root = Assert.Single(spans, s => s.Name == "agentflow.run hello");
        Assert.Equal(string.Empty, root.ParentSpanId);
        var runId = Assert.IsType<string>(root.Attributes["agentflow.run_id"]);
        Assert.Equal(runId, root.TraceId);
        Assert.Contains(runId, run.Stdout + run.Stderr, StringComparison.Ordinal);
        Assert.All(spans, s => Assert.Equal(root.TraceId, s.TraceId));
        Assert.Equal("succeeded", root.Attributes["agentflow.status"]);
        foreach (var id in new[] { "greet", "shorten" })
        {
            var step = Assert.Single(spans, s => s.Name == $"agentflow.step {id}");
            Assert.Equal(root.SpanId, step.ParentSpanId);
            Assert.Equal(1L, step.Attributes["agentflow.step.attempt"]);
            Assert.InRange(step.StartNs, root.StartNs, root.EndNs);
            var chat = Assert.Single(spans, s => s.Name == "chat tiny" && s.ParentSpanId == step.SpanId);
            Assert.Equal(3, chat.Kind); // SPAN_KIND_CLIENT
            Assert.Equal("chat", chat.Attributes["gen_ai.operation.name"]);
            Assert.Equal("tiny", chat.Attributes["gen_ai.request.model"]);
            Assert.IsType<long>(chat.Attributes["gen_ai.usage.input_tokens"]);
            Assert.True((long)chat.Attributes["gen_ai.usage.output_tokens"]! > 0);
            Assert.Single(Assert.IsType<object?[]>(chat.Attributes["gen_ai.response.finish_reasons"]));
            Assert.False(chat.Attributes.ContainsKey("gen_ai.input.messages"));
        }

        Assert.Equal(5, spans.Count);
    }

    private async Task<(CliResult Run, List<byte[]> Traces)> ExportAsync()
    {
        var port = FreePort();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var bodies = new List<byte[]>();
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
                if (context.Request.Url!.AbsolutePath == "/v1/traces")
                {
                    lock (bodies)
                    {
                        bodies.Add(buffer.ToArray());
                    }
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
        lock (bodies)
        {
            return (run, [.. bodies]);
        }
    }

    private static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }
}
