using System.Runtime;

namespace AgentFlow.Bench.Harness;

/// <summary>
/// Warm-up that lasts until the JIT has settled: the runtime compiles hot methods again at tier 1 in the background,
/// for tens of seconds after a process starts on 2 cores, and that compilation competes with what is measured. A
/// fixed count of warm-up runs ended long before it did, so the first figures measured the JIT as well.
/// </summary>
internal static class Warmup
{
    /// <summary>
    /// Runs <paramref name="iteration"/> at least <paramref name="minimum"/> times, then until no method has been
    /// compiled for a quiet second (100 ms at tiny size), or for at most 60 s (2 s at tiny size). Returns how many ran.
    /// </summary>
    public static async Task<int> RunAsync(BenchOptions options, int minimum, Func<CancellationToken, Task> iteration, CancellationToken cancellationToken)
    {
        var time = options.Time;
        var (quiet, limit) = options.Size == BenchSize.Tiny
            ? (TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(2))
            : (TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
        var start = time.GetTimestamp();
        var compiled = JitInfo.GetCompiledMethodCount();
        var lastCompile = start;
        var count = 0;
        while (true)
        {
            await iteration(cancellationToken).ConfigureAwait(false);
            count++;
            var now = JitInfo.GetCompiledMethodCount();
            if (now != compiled)
            {
                (compiled, lastCompile) = (now, time.GetTimestamp());
            }

            if (count >= minimum && (time.GetElapsedTime(lastCompile) >= quiet || time.GetElapsedTime(start) >= limit))
            {
                return count;
            }
        }
    }
}
