using AgentFlow.Bench.Scenarios;

namespace AgentFlow.Bench;

/// <summary>The scenarios of <c>agentflow bench</c>, by name, and the runner that executes them in order.</summary>
public static class BenchSuite
{
    private static readonly (string Name, string Description, Func<BenchOptions, string, CancellationToken, Task<ScenarioResult>> Run)[] All =
    [
        ("step-overhead", "20-step chain on a zero-work model vs a plain loop: µs per step (recording and memory on)", StepOverheadScenario.RunInProcessAsync),
        ("tracing-overhead", "the chain as ./agentflow run does it, tracing off vs on (OTLP/HTTP to a local collector): µs per step", TracingOverheadScenario.RunAsync),
        ("step-overhead-rabbitmq", "the chain with a worker over RabbitMQ vs raw MassTransit request/response RTT", StepOverheadScenario.RunRabbitMqAsync),
        ("throughput", "steps/s at concurrency 1, 16, 64, in process and over RabbitMQ, vs raw MassTransit", ThroughputScenario.RunAsync),
        ("inference", "tokens/s through a workflow step vs LLamaSharp directly (built-in tiny GGUF)", InferenceScenario.RunAsync),
        ("peer", "the chain in WorkflowCore 3.22 (in-memory) vs AgentFlow's engine", PeerScenario.RunAsync),
        ("scale", "1, 10, 100, 1,000 concurrent runs of a 5-step workflow: wall time and peak memory", ScaleScenario.RunAsync),
        ("durable-scale", "10,000 runs parked at an approval: park cost, store size, approvals/runs list latency, memory, resuming 1,000 after a restart", DurableScaleScenario.RunAsync),
        ("cold-start", "wall time of `agentflow run` on the hello workflow vs `agentflow --version`", ColdStartScenario.RunAsync),
        ("retrieval", "indexing chunks/s, search p50/p99 at 1k/10k/100k vectors (embedded store, Chroma when given) vs an exact array scan, minilm vs its ONNX encoder", RetrievalScenario.RunAsync),
    ];

    /// <summary>Scenario names in run order.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. All.Select(s => s.Name)];

    /// <summary>One line per scenario: what it measures.</summary>
    public static IReadOnlyDictionary<string, string> Descriptions { get; } = All.ToDictionary(s => s.Name, s => s.Description, StringComparer.Ordinal);

    /// <summary>
    /// Runs <paramref name="scenarios"/> (all when empty) in order. A scenario that cannot run here (no broker, no
    /// built program) is reported as skipped; one that fails throws.
    /// </summary>
    /// <exception cref="ArgumentException">A name is not a scenario.</exception>
    public static async Task<BenchReport> RunAsync(IReadOnlyCollection<string> scenarios, BenchOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scenarios);
        ArgumentNullException.ThrowIfNull(options);
        var unknown = scenarios.Where(s => !Names.Contains(s, StringComparer.Ordinal)).ToList();
        if (unknown.Count > 0)
        {
            throw new ArgumentException($"unknown scenario {string.Join(", ", unknown.Select(u => $"'{u}'"))} (scenarios: {string.Join(", ", Names)})", nameof(scenarios));
        }

        var root = options.WorkingDirectory ?? Path.Combine(Path.GetTempPath(), "agentflow-bench-" + Guid.NewGuid().ToString("N")[..12]);
        var results = new List<ScenarioResult>();
        try
        {
            foreach (var (name, _, run) in All.Where(s => scenarios.Count == 0 || scenarios.Contains(s.Name, StringComparer.Ordinal)))
            {
                options.Say($"{name}: starting");
                var start = options.Time.GetTimestamp();
                var result = await run(options, Path.Combine(root, name), cancellationToken).ConfigureAwait(false);
                results.Add(result with { ElapsedSeconds = options.Time.GetElapsedTime(start).TotalSeconds });
            }
        }
        finally
        {
            if (options.WorkingDirectory is null)
            {
                TryDelete(root);
            }
        }

        return new BenchReport(BenchReport.DescribeMachine(), options.Size, results);
    }

    private static void TryDelete(string folder)
    {
        try
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A temp folder left behind is harmless.
        }
    }
}
