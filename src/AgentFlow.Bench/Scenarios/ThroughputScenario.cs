using System.Globalization;
using AgentFlow.Bench.Harness;

namespace AgentFlow.Bench.Scenarios;

/// <summary>
/// throughput: steps/s of concurrent 20-step chains on the zero-work client, in process (in-memory bus, as
/// <c>./agentflow run</c>) and over RabbitMQ, against raw MassTransit request/response at the same concurrency.
/// </summary>
internal static class ThroughputScenario
{
    public const double GoalInProcess = 2000;
    public const double GoalRabbitShare = 0.60;

    public static async Task<ScenarioResult> RunAsync(BenchOptions options, string folder, CancellationToken cancellationToken)
    {
        int[] levels = options.Size == BenchSize.Tiny ? [1, 2] : [1, 16, 64];
        var worker = levels.Max();
        var rows = new List<BenchRow>();
        var rabbitSkipped = await Load.ProbeAsync(options.RabbitMqUri, cancellationToken).ConfigureAwait(false);
        foreach (var rabbit in new[] { false, true })
        {
            if (rabbit && rabbitSkipped is not null)
            {
                continue;
            }

            var where = rabbit ? "RabbitMQ" : "in-process";
            var settings = new HarnessSettings(rabbit ? StepTransport.RabbitMq : StepTransport.InMemoryBus, Record: false, Memory: false)
            {
                RabbitMqUri = options.RabbitMqUri,
                WorkerConcurrency = worker,
            };
            var zero = new ZeroWorkModelProvider();
            var definition = BenchModels.Chain(StepOverheadScenario.ChainLength, memory: false);
            var agentflow = new Dictionary<int, double>();
            await using (var harness = await AgentFlowHarness.StartAsync(settings, [zero], Path.Combine(folder, rabbit ? "rabbit" : "local"), options, cancellationToken).ConfigureAwait(false))
            {
                foreach (var c in levels)
                {
                    options.Say($"throughput: AgentFlow {where}, concurrency {c}");
                    var runs = options.Pick(c, Math.Max(30, c * (rabbit ? 3 : 4)));
                    await Warmup.RunAsync(options, 1, ct => Load.RunAsync(options.Time, c, options.Pick(c, Math.Max(30, c * 2)), ct => harness.RunAsync(definition, AgentFlowHarness.FreshInputs(), ct), ct), cancellationToken).ConfigureAwait(false);
                    var seconds = await Load.RunAsync(options.Time, c, runs, ct => harness.RunAsync(definition, AgentFlowHarness.FreshInputs(), ct), cancellationToken).ConfigureAwait(false);
                    agentflow[c] = runs * StepOverheadScenario.ChainLength / seconds;
                }
            }

            await using var raw = await RawMassTransit.StartAsync(rabbit ? options.RabbitMqUri : null, worker, options.LoggerFactory, cancellationToken).ConfigureAwait(false);
            foreach (var c in levels)
            {
                options.Say($"throughput: raw MassTransit {where}, concurrency {c}");
                var calls = options.Pick(c * 5, Math.Max(600, c * 60));
                await Warmup.RunAsync(options, 1, ct => Load.RunAsync(options.Time, c, options.Pick(c, Math.Max(600, c * 10)), raw.CallAsync, ct), cancellationToken).ConfigureAwait(false);
                var seconds = await Load.RunAsync(options.Time, c, calls, raw.CallAsync, cancellationToken).ConfigureAwait(false);
                var baseline = calls / seconds;
                rows.Add(new BenchRow($"AgentFlow {where}, concurrency {c}", agentflow[c], "steps/s", baseline, $"raw MassTransit request/response ({(rabbit ? "RabbitMQ" : "in-memory")}), concurrency {c}")
                {
                    Goal = rabbit ? string.Create(CultureInfo.InvariantCulture, $"≥ {GoalRabbitShare:P0} of raw") : string.Create(CultureInfo.InvariantCulture, $"≥ {GoalInProcess:N0} steps/s"),
                    Met = rabbit ? agentflow[c] / baseline >= GoalRabbitShare : agentflow[c] >= GoalInProcess,
                });
            }
        }

        return new ScenarioResult("throughput", rows)
        {
            Skipped = null,
            Note = "concurrency = runs (or raw calls) in flight; 20-step chains, recording and memory off; worker endpoint concurrency = highest level for both"
                + (rabbitSkipped is null ? string.Empty : $"; RabbitMQ rows skipped: {rabbitSkipped}"),
        };
    }
}
