using System.Collections.Concurrent;
using System.Globalization;
using AgentFlow.Bench.Harness;
using AgentFlow.Execution;
using AgentFlow.Execution.Durable;

namespace AgentFlow.Bench.Scenarios;

/// <summary>
/// durable-scale: many runs parked at an approval in the file run store (what <c>./agentflow run</c> and <c>serve</c>
/// use) — what parking costs, the store's size, how long <c>approvals list</c> and <c>runs list</c> take over them,
/// the memory that holding them all takes (what <c>serve</c>'s sweep and approvals page load), and how fast a
/// restarted process resumes them. Each figure against a floor measured in the same run.
/// </summary>
internal static class DurableScaleScenario
{
    private const int Lanes = 16;
    private const string Step = "review";

    public static async Task<ScenarioResult> RunAsync(BenchOptions options, string folder, CancellationToken cancellationToken)
    {
        var parked = options.Size == BenchSize.Tiny ? 40 : 10_000;
        var resumed = options.Size == BenchSize.Tiny ? 10 : 1_000;
        var plainCount = Math.Min(parked, 2_000);
        var zero = new ZeroWorkModelProvider();
        var definition = BenchModels.Approval();
        var plain = BenchModels.Chain(1, memory: false);
        var settings = new HarnessSettings(StepTransport.Direct, Record: false, Memory: false) { RunStore = true };
        var rows = new List<BenchRow>();
        var ids = new ConcurrentQueue<string>();
        double parkSeconds, plainSeconds;
        await using (var harness = await AgentFlowHarness.StartAsync(settings, [zero], folder, options, cancellationToken).ConfigureAwait(false))
        {
            await harness.ParkAsync(definition, cancellationToken).ConfigureAwait(false);
            await harness.RunAsync(plain, AgentFlowHarness.FreshInputs(), cancellationToken).ConfigureAwait(false);
            options.Say(string.Create(CultureInfo.InvariantCulture, $"durable-scale: parking {parked:N0} runs"));
            parkSeconds = await Load.RunAsync(options.Time, Lanes, parked - 1, async ct => ids.Enqueue((await harness.ParkAsync(definition, ct).ConfigureAwait(false)).RunId), cancellationToken).ConfigureAwait(false);
            plainSeconds = await Load.RunAsync(options.Time, Lanes, plainCount, ct => harness.RunAsync(plain, AgentFlowHarness.FreshInputs(), ct), cancellationToken).ConfigureAwait(false);
        }

        rows.Add(new BenchRow(string.Create(CultureInfo.InvariantCulture, $"park {parked:N0} runs at an approval ({Lanes} at once)"), parkSeconds * 1e6 / (parked - 1), "µs/run", plainSeconds * 1e6 / plainCount, "a run of one step without run store or approval")
        {
            Details = Detail(("runs_per_s", (parked - 1) / parkSeconds)),
        });

        var store = Path.Combine(folder, "runs");
        var (bytes, files) = Size(store);
        var sample = new FileRunStore(store);
        await using (sample.ConfigureAwait(false))
        {
            var one = await sample.LoadAsync(ids.First(), cancellationToken).ConfigureAwait(false);
            var stateBytes = one is null ? 0 : System.Text.Encoding.UTF8.GetByteCount(one.ToJson());
            rows.Add(new BenchRow(string.Create(CultureInfo.InvariantCulture, $"store size, {parked:N0} parked runs (+{plainCount:N0} finished)"), bytes / 1024.0 / (parked + plainCount + 1), "KiB/run", stateBytes / 1024.0, "one run's whole state as JSON")
            {
                Details = Detail(("total_mb", bytes / 1024.0 / 1024.0), ("files", files)),
            });
        }

        // A new store instance for each listing: what a fresh `agentflow approvals list` process finds.
        var floor = await TimeAsync(options, () => { ReadAll(store); return Task.CompletedTask; }).ConfigureAwait(false);
        var (listMs, waiting) = await ListWaitingAsync(options, store, cancellationToken).ConfigureAwait(false);
        rows.Add(new BenchRow(string.Create(CultureInfo.InvariantCulture, $"approvals list over {parked:N0} parked runs"), listMs, "ms", floor, "reading every run's files, unparsed")
        {
            Details = Detail(("waiting", waiting)),
        });

        var recent = await TimeAsync(options, async () =>
        {
            await using var runs = new FileRunStore(store);
            _ = await runs.ListRecentAsync(50, cancellationToken).ConfigureAwait(false);
        }).ConfigureAwait(false);
        var direct = await TimeAsync(options, async () =>
        {
            await using var runs = new FileRunStore(store);
            foreach (var id in ids.Take(50))
            {
                _ = await runs.LoadAsync(id, cancellationToken).ConfigureAwait(false);
            }
        }).ConfigureAwait(false);
        rows.Add(new BenchRow(string.Create(CultureInfo.InvariantCulture, $"runs list (50 newest) over {parked + plainCount:N0} runs"), recent, "ms", direct, "loading 50 runs by id"));

        // Held in memory as serve's sweep and approvals endpoint hold them.
        const double Mb = 1024 * 1024;
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var before = GC.GetTotalMemory(true);
        IReadOnlyList<DurableRun> held;
        await using (var runs = new FileRunStore(store))
        {
            held = await runs.ListActiveAsync(cancellationToken).ConfigureAwait(false);
        }

        var heldBytes = GC.GetTotalMemory(true) - before;
        var stateTotal = held.Sum(r => (double)System.Text.Encoding.UTF8.GetByteCount(r.ToJson()));
        rows.Add(new BenchRow(string.Create(CultureInfo.InvariantCulture, $"managed memory holding {held.Count:N0} parked runs"), heldBytes / Mb, "MB", stateTotal / Mb, "their states as JSON text"));
        GC.KeepAlive(held);
        held = [];

        // A restart: a new harness (runner, run store, models) resumes the parked runs with a decision each.
        var toResume = ids.Take(resumed).ToList();
        double resumeSeconds;
        await using (var harness = await AgentFlowHarness.StartAsync(settings, [zero], folder, options, cancellationToken).ConfigureAwait(false))
        {
            var queue = new ConcurrentQueue<string>(toResume);
            resumeSeconds = await Load.RunAsync(options.Time, Lanes, toResume.Count, async ct =>
            {
                if (queue.TryDequeue(out var id))
                {
                    await harness.ApproveAsync(definition, id, Step, ct).ConfigureAwait(false);
                }
            }, cancellationToken).ConfigureAwait(false);
        }

        rows.Add(new BenchRow(string.Create(CultureInfo.InvariantCulture, $"resume {toResume.Count:N0} parked runs after a restart, with a decision each ({Lanes} at once)"), resumeSeconds * 1e6 / toResume.Count, "µs/run", parkSeconds * 1e6 / (parked - 1), "parking one of them")
        {
            Details = Detail(("total_s", resumeSeconds), ("runs_per_s", toResume.Count / resumeSeconds)),
        });

        return new ScenarioResult("durable-scale", rows)
        {
            Note = "file run store (the default), zero-work model, no recording; listings on a fresh store instance as a new CLI process has",
        };
    }

    private static async Task<(double Ms, int Waiting)> ListWaitingAsync(BenchOptions options, string store, CancellationToken cancellationToken)
    {
        var waiting = 0;
        var ms = await TimeAsync(options, async () =>
        {
            await using var runs = new FileRunStore(store);
            waiting = (await runs.ListActiveAsync(cancellationToken).ConfigureAwait(false)).Count(r => r.Record.Status == RunStatus.Waiting);
        }).ConfigureAwait(false);
        return (ms, waiting);
    }

    // The best of three: a listing is a user waiting for one command, and the first pass also warms the page cache.
    private static async Task<double> TimeAsync(BenchOptions options, Func<Task> work)
    {
        var best = double.MaxValue;
        for (var i = 0; i < 3; i++)
        {
            var start = options.Time.GetTimestamp();
            await work().ConfigureAwait(false);
            best = Math.Min(best, options.Time.GetElapsedTime(start).TotalMilliseconds);
        }

        return best;
    }

    private static void ReadAll(string folder)
    {
        foreach (var file in Directory.EnumerateFiles(folder, "*.*", SearchOption.AllDirectories))
        {
            if (!file.EndsWith("lease", StringComparison.Ordinal))
            {
                _ = File.ReadAllBytes(file);
            }
        }
    }

    private static (long Bytes, int Files) Size(string folder)
    {
        long bytes = 0;
        var files = 0;
        foreach (var file in new DirectoryInfo(folder).EnumerateFiles("*", SearchOption.AllDirectories))
        {
            bytes += file.Length;
            files++;
        }

        return (bytes, files);
    }

    private static Dictionary<string, double> Detail(params (string Key, double Value)[] values) =>
        values.ToDictionary(v => v.Key, v => Math.Round(v.Value, 3), StringComparer.Ordinal);
}
