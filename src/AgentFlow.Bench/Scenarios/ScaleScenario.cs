using System.Globalization;
using AgentFlow.Bench.Harness;

namespace AgentFlow.Bench.Scenarios;

/// <summary>
/// scale: 1, 10, 100 and 1,000 runs of a 5-step chain started at once (in-memory bus, as <c>./agentflow run</c>;
/// recording and memory off) — wall time and peak memory, against the same calls made by as many plain tasks.
/// </summary>
internal static class ScaleScenario
{
    private const int Steps = 5;

    public static async Task<ScenarioResult> RunAsync(BenchOptions options, string folder, CancellationToken cancellationToken)
    {
        int[] levels = options.Size == BenchSize.Tiny ? [1, 10] : [1, 10, 100, 1000];
        var zero = new ZeroWorkModelProvider();
        var definition = BenchModels.Chain(Steps, memory: false);
        var rows = new List<BenchRow>();
        await using var harness = await AgentFlowHarness.StartAsync(
            new HarnessSettings(StepTransport.InMemoryBus, false, false) { WorkerConcurrency = 64 }, [zero], folder, options, cancellationToken).ConfigureAwait(false);
        await harness.RunAsync(definition, AgentFlowHarness.FreshInputs(), cancellationToken).ConfigureAwait(false);
        foreach (var n in levels)
        {
            options.Say($"scale: {n} concurrent runs");
            var baseline = await MeasureAsync(options, () => Task.WhenAll(Enumerable.Range(0, n).Select(_ => Task.Run(() => PlainAsync(zero.Client, cancellationToken), cancellationToken))), cancellationToken).ConfigureAwait(false);
            var measured = await MeasureAsync(options, () => Task.WhenAll(Enumerable.Range(0, n).Select(_ => Task.Run(() => harness.RunAsync(definition, AgentFlowHarness.FreshInputs(), cancellationToken), cancellationToken))), cancellationToken).ConfigureAwait(false);
            rows.Add(new BenchRow($"AgentFlow, {n.ToString("N0", CultureInfo.InvariantCulture)} concurrent runs", measured.WallMs, "ms wall", baseline.WallMs, $"{n} tasks × {Steps} plain calls")
            {
                Details = new Dictionary<string, double>(StringComparer.Ordinal)
                {
                    ["peak_managed_heap_mb"] = measured.PeakHeapMb,
                    ["peak_working_set_mb"] = measured.PeakWorkingSetMb,
                    ["heap_growth_mb"] = measured.PeakHeapMb - measured.HeapBeforeMb,
                    ["baseline_peak_managed_heap_mb"] = baseline.PeakHeapMb,
                    ["ms_per_run"] = measured.WallMs / n,
                },
            });
        }

        return new ScenarioResult("scale", rows)
        {
            Note = "all runs started at once; memory sampled every 5 ms (managed heap and process working set); worker endpoint concurrency 64",
        };
    }

    private static async Task PlainAsync(ZeroWorkChatClient client, CancellationToken cancellationToken)
    {
        for (var i = 0; i < Steps; i++)
        {
            await foreach (var update in client.GetStreamingResponseAsync([new(Microsoft.Extensions.AI.ChatRole.User, "Continue after: ok")], null, cancellationToken).ConfigureAwait(false))
            {
                _ = update.Text;
            }
        }
    }

    private static async Task<(double WallMs, double HeapBeforeMb, double PeakHeapMb, double PeakWorkingSetMb)> MeasureAsync(BenchOptions options, Func<Task> work, CancellationToken cancellationToken)
    {
        const double Mb = 1024 * 1024;
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var before = GC.GetTotalMemory(false) / Mb;
        long peakHeap = 0;
        long peakSet = 0;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var sampler = Task.Run(
            async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    peakHeap = Math.Max(peakHeap, GC.GetTotalMemory(false));
                    peakSet = Math.Max(peakSet, Environment.WorkingSet);
                    try
                    {
                        await Task.Delay(5, stop.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                }
            },
            CancellationToken.None);
        var start = options.Time.GetTimestamp();
        await work().ConfigureAwait(false);
        var wall = options.Time.GetElapsedTime(start).TotalMilliseconds;
        await stop.CancelAsync().ConfigureAwait(false);
        await sampler.ConfigureAwait(false);
        peakHeap = Math.Max(peakHeap, GC.GetTotalMemory(false));
        peakSet = Math.Max(peakSet, Environment.WorkingSet);
        return (wall, before, peakHeap / Mb, peakSet / Mb);
    }
}
