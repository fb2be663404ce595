using System.Collections.Concurrent;

namespace AgentFlow.Models.Llama.Chat;

/// <summary>
/// Threads of the client's own for decode loops, started when needed and kept. A generation can run for minutes, so
/// it must not hold a pool thread (on 2 cores the pool starts with 2, and whoever reads the text needs one); but a new
/// thread per generation took ~1 ms to start on a 2-vCPU VM, 2 % of a 50 ms generation.
/// </summary>
/// <remarks>
/// There are never fewer threads than pieces of work queued or running, so work never waits behind a long
/// generation; and never more than the most work ever outstanding at once (the client's concurrency).
/// </remarks>
internal sealed class DecodeThreads(string name) : IDisposable
{
    private readonly BlockingCollection<Action> _work = [];
    private readonly Lock _gate = new();
    private int _started;
    private int _outstanding;

    /// <summary>Threads started so far.</summary>
    public int Started => Volatile.Read(ref _started);

    /// <summary>Runs <paramref name="work"/> on one of the threads; the task ends with it (or with its exception).</summary>
    public Task Run(Action work)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (++_outstanding > _started)
            {
                _started++;
                new Thread(Loop) { IsBackground = true, Name = $"{name} decode {_started}" }.Start();
            }
        }

        _work.Add(() =>
        {
            Exception? failure = null;
            try
            {
                work();
            }
            catch (Exception ex)
            {
                failure = ex;
            }

            // Counted down before the caller continues: work it queues next finds this thread as good as free.
            lock (_gate)
            {
                _outstanding--;
            }

            if (failure is null)
            {
                done.SetResult();
            }
            else
            {
                done.SetException(failure);
            }
        });
        return done.Task;
    }

    /// <summary>Lets the threads end once the work queued before is done.</summary>
    public void Dispose() => _work.CompleteAdding();

    private void Loop()
    {
        foreach (var work in _work.GetConsumingEnumerable())
        {
            work();
        }
    }
}
