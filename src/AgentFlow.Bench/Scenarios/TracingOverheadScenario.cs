using System.Globalization;
using System.Net;
using System.Net.Sockets;
using AgentFlow.Bench.Harness;
using AgentFlow.Telemetry;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace AgentFlow.Bench.Scenarios;

/// <summary>
/// tracing-overhead: the 20-step chain as <c>./agentflow run</c> runs it (in-memory bus, recording, memory, run store),
/// with tracing off (no listener: no span is created) and on (the OpenTelemetry SDK exporting spans and metrics over
/// OTLP/HTTP protobuf to a collector in this process that answers 200). Blocks alternate off, on, off, on so drift hits
/// both; the figure is p50 µs per step with tracing on, against off.
/// </summary>
internal static class TracingOverheadScenario
{
    /// <summary>Goal: tracing on costs at most 5 % more per step (issue #17).</summary>
    public const double GoalRatio = 1.05;

    public static async Task<ScenarioResult> RunAsync(BenchOptions options, string folder, CancellationToken cancellationToken)
    {
        var (warm, runs) = (options.Pick(1, 30), options.Pick(2, 150));
        var zero = new ZeroWorkModelProvider();
        var plain = new HarnessSettings(StepTransport.InMemoryBus, Record: true, Memory: true) { RunStore = true };
        var traced = plain with { Tracing = true };
        using var collector = new Collector();
        var off = new StepOverheadScenario.ChainSamples(runs);
        var on = new StepOverheadScenario.ChainSamples(runs);
        for (var block = 0; block < 4; block++)
        {
            var tracing = block % 2 == 1;
            var settings = tracing ? traced : plain;
            options.Say($"tracing-overhead: {settings.Describe()} (block {block + 1} of 4)");
            using var export = tracing ? StartExport(collector.Endpoint) : null;
            var samples = await StepOverheadScenario.ChainAsync(settings, [zero], Path.Combine(folder, $"b{block}"), warm, Math.Max(1, runs / 2), options, cancellationToken).ConfigureAwait(false);
            var into = tracing ? on : off;
            into.Result.AddRange(samples.Result);
            into.WithFlush.AddRange(samples.WithFlush);
            into.FlushMs.AddRange(samples.FlushMs);
        }

        var ratio = Stats.Median(on.Result) / Stats.Median(off.Result);
        var row = new BenchRow($"AgentFlow ({traced.Describe()}, OTLP/HTTP to a local collector)", Stats.Median(on.Result), "µs/step (p50)", Stats.Median(off.Result), "the same runs with tracing off")
        {
            Goal = string.Create(CultureInfo.InvariantCulture, $"ratio ≤ {GoalRatio:0.00}×"),
            Met = ratio <= GoalRatio,
            Details = new Dictionary<string, double>(StringComparer.Ordinal)
            {
                ["ratio"] = ratio,
                ["p99_us"] = Stats.Percentile(on.Result, 99),
                ["baseline_p99_us"] = Stats.Percentile(off.Result, 99),
                ["overhead_p50_us"] = Stats.Median(on.Result) - Stats.Median(off.Result),
                ["exported_requests"] = collector.Requests,
                ["exported_bytes"] = collector.Bytes,
                ["samples"] = on.Result.Count,
            },
        };
        return new ScenarioResult("tracing-overhead", [row])
        {
            Note = string.Create(CultureInfo.InvariantCulture, $"{StepOverheadScenario.ChainLength}-step chain, {runs} runs per side in 4 alternating blocks (off, on, off, on), each after a warm-up; tracing on = run, step and chat spans plus metrics, batch-exported as the CLI does; off = no listener, so no span is created at all"),
        };
    }

    // What the CLI's TelemetryExport starts for OTEL_EXPORTER_OTLP_ENDPOINT with OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf.
    private static Export StartExport(Uri endpoint)
    {
        void Otlp(OtlpExporterOptions o, string path)
        {
            o.Endpoint = new Uri(endpoint, path);
            o.Protocol = OtlpExportProtocol.HttpProtobuf;
        }

        return new Export(
            Sdk.CreateTracerProviderBuilder().AddSource(AgentFlowTelemetry.Name).AddOtlpExporter(o => Otlp(o, "v1/traces")).Build(),
            Sdk.CreateMeterProviderBuilder().AddMeter(AgentFlowTelemetry.Name).AddOtlpExporter(o => Otlp(o, "v1/metrics")).Build());
    }

    private sealed class Export(TracerProvider traces, MeterProvider metrics) : IDisposable
    {
        public void Dispose()
        {
            traces.ForceFlush(5000);
            metrics.ForceFlush(5000);
            traces.Dispose();
            metrics.Dispose();
        }
    }

    /// <summary>An OTLP/HTTP collector that reads each request and answers 200 (the cost of a real one is not ours).</summary>
    private sealed class Collector : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Task _serving;
        private long _requests;
        private long _bytes;

        public Collector()
        {
            using var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            var port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            Endpoint = new Uri($"http://127.0.0.1:{port}/");
            _listener.Prefixes.Add(Endpoint.ToString());
            _listener.Start();
            _serving = Task.Run(ServeAsync);
        }

        public Uri Endpoint { get; }

        public long Requests => Interlocked.Read(ref _requests);

        public long Bytes => Interlocked.Read(ref _bytes);

        private async Task ServeAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync().ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }

                using var body = new MemoryStream();
                await context.Request.InputStream.CopyToAsync(body).ConfigureAwait(false);
                Interlocked.Increment(ref _requests);
                Interlocked.Add(ref _bytes, body.Length);
                context.Response.StatusCode = 200;
                context.Response.ContentType = "application/x-protobuf";
                context.Response.Close();
            }
        }

        public void Dispose()
        {
            _listener.Stop();
            _listener.Close();
            _serving.Wait(TimeSpan.FromSeconds(5));
        }
    }
}
