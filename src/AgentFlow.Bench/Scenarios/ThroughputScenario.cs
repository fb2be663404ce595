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

    // Measured rounds per level, AgentFlow and raw alternating.
    private const int Rounds = 3;

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
            await using var harness = await AgentFlowHarness.StartAsync(settings, [zero], Path.Combine(folder, rabbit ? "rabbit" : "local"), options, cancellationToken).ConfigureAwait(false);
            await using var raw = await RawMassTransit.StartAsync(rabbit ? options.RabbitMqUri : null, worker, options.LoggerFactory, cancellationToken).ConfigureAwait(false);
            foreach (var c in levels)
            {
                options.Say($"throughput: {where}, concurrency {c}: AgentFlow and raw MassTransit, interleaved");
                var runsPerRound = Math.Max(1, options.Pick(c, Math.Max(30, c * (rabbit ? 3 : 4))) / Rounds);
                var callsPerRound = Math.Max(1, options.Pick(c * 5, Math.Max(600, c * 60)) / Rounds);
                Task<double> AgentFlowBatchAsync(int count, CancellationToken ct) =>
                    Load.RunAsync(options.Time, c, count, ct2 => harness.RunAsync(definition, AgentFlowHarness.FreshInputs(), ct2), ct);
                Task<double> RawBatchAsync(int count, CancellationToken ct) => Load.RunAsync(options.Time, c, count, raw.CallAsync, ct);
                await Warmup.RunAsync(options, 1, async ct =>
                {
                    await AgentFlowBatchAsync(options.Pick(c, Math.Max(30, c * 2)), ct).ConfigureAwait(false);
                    await RawBatchAsync(options.Pick(c, Math.Max(600, c * 10)), ct).ConfigureAwait(false);
                }, cancellationToken).ConfigureAwait(false);

                // Interleaved rounds: a drift of the shared machine or the broker during the measurement hits both sides.
                var (agentflowSeconds, rawSeconds) = (0.0, 0.0);
                for (var round = 0; round < Rounds; round++)
                {
                    agentflowSeconds += await AgentFlowBatchAsync(runsPerRound, cancellationToken).ConfigureAwait(false);
                    rawSeconds += await RawBatchAsync(callsPerRound, cancellationToken).ConfigureAwait(false);
                }

                var figure = runsPerRound * Rounds * StepOverheadScenario.ChainLength / agentflowSeconds;
                var baseline = callsPerRound * Rounds / rawSeconds;
                rows.Add(new BenchRow($"AgentFlow {where}, concurrency {c}", figure, "steps/s", baseline, $"raw MassTransit request/response ({(rabbit ? "RabbitMQ" : "in-memory")}), concurrency {c}")
                {
                    Goal = rabbit ? string.Create(CultureInfo.InvariantCulture, $"≥ {GoalRabbitShare:P0} of raw") : string.Create(CultureInfo.InvariantCulture, $"≥ {GoalInProcess:N0} steps/s"),
                    Met = rabbit ? figure / baseline >= GoalRabbitShare : figure >= GoalInProcess,
                });
            }
        }

        return new ScenarioResult("throughput", rows)
        {
            Skipped = null,
            Note = "concurrency = runs (or raw calls) in flight; 20-step chains, recording and memory off; worker endpoint concurrency = highest level for both; AgentFlow and raw measured in 3 alternating rounds per level"
                + (rabbitSkipped is null ? string.Empty : $"; RabbitMQ rows skipped: {rabbitSkipped}"),
        };
    }
}
