using Microsoft.Extensions.Logging;

namespace AgentFlow.Messaging.Orchestrator;

/// <summary>
/// The check made before a request is sent: does some worker consume the queue? A worker seen within the check
/// interval is taken as still there (saves a broker round trip per call); one that left since is noticed by the
/// checks made while the call waits (<see cref="Forget"/>, then <see cref="EnsureAsync"/>). Chat models and embedders
/// share it.
/// </summary>
internal sealed class WorkerCheck(RemoteChatClientFactory owner, string name, Func<CancellationToken, Task<int?>> countWorkers, Func<NoWorkerException> noWorker)
{
    private long _servedAt = long.MinValue;

    /// <summary>Throws <see cref="NoWorkerException"/> when no worker consumes the queue; a broker that cannot tell lets the call go on.</summary>
    public async Task EnsureAsync(CancellationToken cancellationToken)
    {
        var seen = Interlocked.Read(ref _servedAt);
        if (seen != long.MinValue && owner.Time.GetElapsedTime(seen) < owner.Options.WorkerCheckInterval)
        {
            return;
        }

        int? workers;
        try
        {
            workers = await countWorkers(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            MessagingLog.PresenceUnknown(owner.Logger, name, ex.Message);
            return;
        }

        if (workers == 0)
        {
            Forget();
            throw noWorker();
        }

        if (workers > 0)
        {
            Interlocked.Exchange(ref _servedAt, owner.Time.GetTimestamp());
        }
    }

    /// <summary>Makes the next <see cref="EnsureAsync"/> ask the broker again.</summary>
    public void Forget() => Interlocked.Exchange(ref _servedAt, long.MinValue);
}
