using System.Collections.Concurrent;
using AgentFlow.Execution;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Server.Runs;

/// <summary>
/// The runs this server executes in the background, by id: started over the API, continued after a decision, or
/// taken over by the sweep. A run outlives the request that started it; it stops with the process and stays resumable.
/// </summary>
internal sealed partial class RunLauncher(ILogger<RunLauncher> logger)
{
    private readonly ConcurrentDictionary<string, Task> _inFlight = new(StringComparer.Ordinal);

    /// <summary>How many runs this process executes right now.</summary>
    public int Count => _inFlight.Count;

    /// <summary>Whether this process executes <paramref name="runId"/> right now.</summary>
    public bool Contains(string runId) => _inFlight.ContainsKey(runId);

    /// <summary>Starts <paramref name="work"/> in the background under <paramref name="runId"/>; its failures are logged.</summary>
    public void Launch(string runId, Func<Task> work)
    {
        var task = Task.Run(async () =>
        {
            try
            {
                await work().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is AgentFlowException or IOException or InvalidOperationException)
            {
                LogRunFailed(logger, runId, ex.Message);
            }
            finally
            {
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "serve: run {RunId} stopped: {Reason}")]
    private static partial void LogRunFailed(ILogger logger, string runId, string reason);
}
