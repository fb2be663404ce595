using System.Collections.Concurrent;
using AgentFlow.Execution;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Server.Runs;

/// <summary>
/// The runs this server executes in the background, by id: started over the API, continued after a decision, or
/// taken over by the sweep. A run outlives the request that started it; it stops with the process and stays resumable.
/// </summary>
internal sealed partial class RunLauncher(RunEventHub hub, ILogger<RunLauncher> logger)
{
    private readonly ConcurrentDictionary<string, Task> _inFlight = new(StringComparer.Ordinal);

    /// <summary>How many runs this process executes right now.</summary>
    public int Count => _inFlight.Count;

    /// <summary>Whether this process executes <paramref name="runId"/> right now.</summary>
    public bool Contains(string runId) => _inFlight.ContainsKey(runId);

    /// <summary>
    /// Starts <paramref name="work"/> in the background under <paramref name="runId"/>; its failures are logged. The
    /// work reports its run's events to the observer it is given, which passes them to the event hub, except the
    /// run's end: that waits until the work has returned, i.e. until the host has written the whole record (MLflow
    /// run, transcript, seal). A subscriber that reads or verifies the run on <c>run_finished</c> sees it complete.
    /// </summary>
    public void Launch(string runId, Func<IRunObserver, Task> work)
    {
        var observer = new HoldingFinish(hub);
        var task = Task.Run(async () =>
        {
            try
            {
                await work(observer).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is AgentFlowException or IOException or InvalidOperationException)
            {
                LogRunFailed(logger, runId, ex.Message);
            }
            finally
            {
                observer.Release();
                _inFlight.TryRemove(runId, out _);
            }
        });
        _inFlight.TryAdd(runId, task);
    }

    /// <summary>Completes <paramref name="started"/> with the run id once the run has started (and is stored).</summary>
    public sealed class StartedSignal(IRunObserver inner, TaskCompletionSource<string> started) : IRunObserver
    {
        public void OnEvent(RunEvent runEvent)
        {
            inner.OnEvent(runEvent);
            if (runEvent is RunStartedEvent)
            {
                started.TrySetResult(runEvent.RunId);
            }
        }
    }

    // Holds the run's RunFinishedEvent back until Release.
    private sealed class HoldingFinish(IRunObserver inner) : IRunObserver
    {
        private RunFinishedEvent? _finished;

        public void OnEvent(RunEvent runEvent)
        {
            if (runEvent is RunFinishedEvent finished)
            {
                Volatile.Write(ref _finished, finished);
                return;
            }

            inner.OnEvent(runEvent);
        }

        public void Release()
        {
            if (Interlocked.Exchange(ref _finished, null) is { } finished)
            {
                inner.OnEvent(finished);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "serve: run {RunId} stopped: {Reason}")]
    private static partial void LogRunFailed(ILogger logger, string runId, string reason);
}
