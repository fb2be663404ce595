using System.Globalization;
using AgentFlow.Bench.Harness;
using AgentFlow.Models;
using Microsoft.Extensions.AI;

namespace AgentFlow.Bench.Scenarios;

/// <summary>
/// step-overhead (in process) and step-overhead-rabbitmq: a 20-step chain on the zero-work client, time per step,
/// against a plain loop calling the same client (in process) or raw MassTransit request/response (RabbitMQ).
/// </summary>
internal static class StepOverheadScenario
{
    public const int ChainLength = 20;

    /// <summary>Goal: p50 per step with recording and memory on.</summary>
    public const double GoalMicroseconds = 500;

    /// <summary>Goal: AgentFlow step over RabbitMQ / raw round trip.</summary>
    public const double GoalRabbitRatio = 1.5;

    public static async Task<ScenarioResult> RunInProcessAsync(BenchOptions options, string folder, CancellationToken cancellationToken)
    {
        var (warm, runs) = (options.Pick(1, 30), options.Pick(2, 300));
        var zero = new ZeroWorkModelProvider();
        var loop = await PlainLoopAsync(zero.Client, warm, runs, options, cancellationToken).ConfigureAwait(false);
        var variants = new (HarnessSettings Settings, bool Goal)[]
        {
            (new HarnessSettings(StepTransport.InMemoryBus, Record: true, Memory: true) { RunStore = true }, true),
            (new HarnessSettings(StepTransport.Direct, Record: true, Memory: true), true),
            (new HarnessSettings(StepTransport.Direct, Record: false, Memory: false), false),
            (new HarnessSettings(StepTransport.Direct, Record: false, Memory: true), false),
            (new HarnessSettings(StepTransport.Direct, Record: true, Memory: false), false),
            (new HarnessSettings(StepTransport.Direct, Record: false, Memory: false) { RunStore = true }, false),
            (new HarnessSettings(StepTransport.InMemoryBus, Record: false, Memory: false), false),
        };
        var rows = new List<BenchRow>();
        var allocated = new List<(HarnessSettings Settings, double BytesPerStep)>();
        var index = 0;
        foreach (var (settings, goal) in variants)
        {
            options.Say($"step-overhead: {settings.Describe()}");
            var perStep = await ChainAsync(settings, [zero], Path.Combine(folder, $"v{index++}"), warm, runs, options, cancellationToken).ConfigureAwait(false);
            allocated.Add((settings, perStep.AllocatedBytesPerStep));
            rows.Add(Row($"AgentFlow ({settings.Describe()})", perStep, loop, "plain loop calling the same client") with
            {
                Goal = goal ? string.Create(CultureInfo.InvariantCulture, $"p50 ≤ {GoalMicroseconds:0} µs/step") : null,
                Met = goal ? Stats.Median(perStep.Result) <= GoalMicroseconds : null,
            });
        }

        // Allocations do not move with the machine's load, so they show a change in per-step work that the timings'
        // ±20–30 % hides. The bare engine (direct, nothing on) is the same-run baseline.
        var direct = allocated.Single(a => a.Settings is { Transport: StepTransport.Direct, Record: false, Memory: false, RunStore: false }).BytesPerStep;
        foreach (var (settings, bytes) in allocated)
        {
            rows.Add(new BenchRow($"bytes allocated per step ({settings.Describe()})", bytes, "B/step", direct, "direct (bare engine), same run")
            {
                Details = new Dictionary<string, double>(StringComparer.Ordinal) { ["over_direct_bytes"] = bytes - direct },
            });
        }

        return new ScenarioResult("step-overhead", rows)
        {
            Note = string.Create(CultureInfo.InvariantCulture, $"{ChainLength}-step chain, {runs} runs after a warm-up of at least {warm} runs that lasts until the JIT settles; figure = p50 of (recorder start to the run's result) / {ChainLength}; the recorder's last writes after the result (run end, transcript, audit) are waited for before the next run and reported as with_recorder_flush and recorder_flush_ms; first row is what ./agentflow run does (the goal applied to it as well), the second the goal as stated (in process, recording and memory on), the others isolate each part"),
        };
    }

    public static async Task<ScenarioResult> RunRabbitMqAsync(BenchOptions options, string folder, CancellationToken cancellationToken)
    {
        const string Name = "step-overhead-rabbitmq";
        if (await Load.ProbeAsync(options.RabbitMqUri, cancellationToken).ConfigureAwait(false) is { } why)
        {
            return ScenarioResult.Skip(Name, why);
        }

        var (warm, runs) = (options.Pick(1, 20), options.Pick(2, 150));
        var zero = new ZeroWorkModelProvider();
        var rows = new List<BenchRow>();
        var index = 0;
        var rawCount = 0;
        await using var bus = await RawMassTransit.StartAsync(options.RabbitMqUri, 8, options.LoggerFactory, cancellationToken).ConfigureAwait(false);
        foreach (var (record, memory) in new[] { (true, true), (false, false) })
        {
            var settings = new HarnessSettings(StepTransport.RabbitMq, record, memory) { RabbitMqUri = options.RabbitMqUri, RunStore = record };
            options.Say($"{Name}: {settings.Describe()}, interleaved with raw MassTransit request/response");
            var definition = BenchModels.Chain(ChainLength, settings.Memory);
            await using var harness = await AgentFlowHarness.StartAsync(settings, [zero], Path.Combine(folder, $"r{index++}"), options, cancellationToken).ConfigureAwait(false);
            async Task RawChainAsync(List<double>? samples, CancellationToken ct)
            {
                for (var call = 0; call < ChainLength; call++)
                {
                    var start = options.Time.GetTimestamp();
                    await bus.CallAsync(ct).ConfigureAwait(false);
                    samples?.Add(Stats.MicrosecondsSince(options.Time, start));
                }
            }

            await Warmup.RunAsync(options, warm, async ct =>
            {
                await harness.RunAsync(definition, AgentFlowHarness.FreshInputs(), ct).ConfigureAwait(false);
                await RawChainAsync(null, ct).ConfigureAwait(false);
            }, cancellationToken).ConfigureAwait(false);

            // One raw chain of round trips, then one AgentFlow run, and so on: drift hits both sides alike.
            var raw = new List<double>(runs * ChainLength);
            var perStep = new ChainSamples(runs);
            for (var i = 0; i < runs; i++)
            {
                await RawChainAsync(raw, cancellationToken).ConfigureAwait(false);
                var start = options.Time.GetTimestamp();
                var (_, ready) = await harness.RunTimedAsync(definition, AgentFlowHarness.FreshInputs(), cancellationToken).ConfigureAwait(false);
                perStep.Add(options.Time, start, ready, options.Time.GetTimestamp());
            }

            rawCount += raw.Count;
            rows.Add(Row($"AgentFlow ({settings.Describe()})", perStep, raw, "raw MassTransit request/response RTT, same broker, interleaved") with
            {
                Goal = string.Create(CultureInfo.InvariantCulture, $"ratio ≤ {GoalRabbitRatio:0.0}×"),
                Met = Stats.Median(perStep.Result) / Stats.Median(raw) <= GoalRabbitRatio,
            });
        }

        return new ScenarioResult(Name, rows)
        {
            Note = string.Create(CultureInfo.InvariantCulture, $"{ChainLength}-step chain, {runs} runs per row, each after a chain of {ChainLength} raw round trips ({rawCount} in all); worker endpoint in this process consuming from the broker"),
        };
    }

    private static BenchRow Row(string label, ChainSamples perStep, List<double> baseline, string baselineLabel) =>
        new(label, Stats.Median(perStep.Result), "µs/step (p50)", Stats.Median(baseline), baselineLabel)
        {
            Details = new Dictionary<string, double>(StringComparer.Ordinal)
            {
                ["p99_us"] = Stats.Percentile(perStep.Result, 99),
                ["baseline_p99_us"] = Stats.Percentile(baseline, 99),
                ["overhead_p50_us"] = Stats.Median(perStep.Result) - Stats.Median(baseline),
                ["with_recorder_flush_p50_us"] = Stats.Median(perStep.WithFlush),
                ["with_recorder_flush_p99_us"] = Stats.Percentile(perStep.WithFlush, 99),
                ["recorder_flush_p50_ms"] = Stats.Median(perStep.FlushMs),
                ["samples"] = perStep.Result.Count,
            },
        };

    /// <summary>
    /// Per measured run of the chain: µs per step until the result was ready (the figure), µs per step including the
    /// recorder's last writes, and those writes' milliseconds.
    /// </summary>
    internal sealed class ChainSamples(int capacity)
    {
        public List<double> Result { get; } = new(capacity);

        public List<double> WithFlush { get; } = new(capacity);

        public List<double> FlushMs { get; } = new(capacity);

        /// <summary>
        /// Bytes the whole process allocated over the measured runs (every thread: bus consumers, the recorder's
        /// writer), divided by the steps they ran.
        /// </summary>
        public double AllocatedBytesPerStep { get; set; }

        /// <summary>One run of the chain: started at <paramref name="start"/>, result at <paramref name="ready"/>, recorder done at <paramref name="end"/>.</summary>
        public void Add(TimeProvider time, long start, long ready, long end)
        {
            Result.Add(time.GetElapsedTime(start, ready).TotalMicroseconds / ChainLength);
            WithFlush.Add(time.GetElapsedTime(start, end).TotalMicroseconds / ChainLength);
            FlushMs.Add(time.GetElapsedTime(ready, end).TotalMilliseconds);
        }
    }

    /// <summary>Per-step microseconds of each measured run of the chain.</summary>
    internal static async Task<ChainSamples> ChainAsync(HarnessSettings settings, IReadOnlyList<IModelProvider> providers, string folder, int warm, int runs, BenchOptions options, CancellationToken cancellationToken)
    {
        var definition = BenchModels.Chain(ChainLength, settings.Memory);
        await using var harness = await AgentFlowHarness.StartAsync(settings, providers, folder, options, cancellationToken).ConfigureAwait(false);
        await Warmup.RunAsync(options, warm, ct => harness.RunAsync(definition, AgentFlowHarness.FreshInputs(), ct), cancellationToken).ConfigureAwait(false);
        var samples = new ChainSamples(runs);
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        for (var i = 0; i < runs; i++)
        {
            var inputs = AgentFlowHarness.FreshInputs();
            var start = options.Time.GetTimestamp();
            var (_, ready) = await harness.RunTimedAsync(definition, inputs, cancellationToken).ConfigureAwait(false);
            samples.Add(options.Time, start, ready, options.Time.GetTimestamp());
        }

        samples.AllocatedBytesPerStep = (double)(GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore) / ((long)runs * ChainLength);
        return samples;
    }

    /// <summary>The baseline: the same calls (system + prompt, same options, streamed) in a plain loop.</summary>
    internal static async Task<List<double>> PlainLoopAsync(IChatClient client, int warm, int runs, BenchOptions options, CancellationToken cancellationToken)
    {
        var time = options.Time;
        await Warmup.RunAsync(options, warm, ct => ChainCallsAsync(client, ct), cancellationToken).ConfigureAwait(false);
        var samples = new List<double>(runs);
        for (var i = 0; i < runs; i++)
        {
            var start = time.GetTimestamp();
            await ChainCallsAsync(client, cancellationToken).ConfigureAwait(false);
            samples.Add(Stats.MicrosecondsSince(time, start) / ChainLength);
        }

        return samples;
    }

    private static async Task ChainCallsAsync(IChatClient client, CancellationToken cancellationToken)
    {
        var previous = "bench";
        for (var step = 1; step <= ChainLength; step++)
        {
            List<ChatMessage> messages = [new(ChatRole.System, $"You are step {step}."), new(ChatRole.User, "Continue after: " + previous)];
            var text = new System.Text.StringBuilder();
            await foreach (var update in client.GetStreamingResponseAsync(messages, new ChatOptions { MaxOutputTokens = 16, Temperature = 0 }, cancellationToken).ConfigureAwait(false))
            {
                text.Append(update.Text);
            }

            previous = text.ToString();
        }
    }
}
