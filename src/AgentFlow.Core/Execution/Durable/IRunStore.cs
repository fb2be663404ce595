using System.Text.Json;
using Microsoft.Agents.AI.Workflows.Checkpointing;

namespace AgentFlow.Execution.Durable;

/// <summary>
/// Where runs live between processes: their state, the engine's checkpoints, and who runs each one now. Two
/// implementations: <see cref="FileRunStore"/> (one machine, the default) and a Redis store (several orchestrators).
/// </summary>
public interface IRunStore : IAsyncDisposable
{
    /// <summary>Where the store is, for messages (never a password).</summary>
    string Description { get; }

    /// <summary>Saves <paramref name="run"/>, replacing its previous state.</summary>
    Task SaveAsync(DurableRun run, CancellationToken cancellationToken);

    /// <summary>
    /// Saves the progress of a running run: <paramref name="changedStep"/> (one that just started or finished; null when only
    /// the checkpoint moved), the checkpoint position and the save time. Everything else in <paramref name="run"/> is
    /// as last saved. Stores that can append write only that; the default saves the whole run.
    /// </summary>
    Task SaveProgressAsync(DurableRun run, StepRecord? changedStep, CancellationToken cancellationToken) => SaveAsync(run, cancellationToken);

    /// <summary>The run's state, or null when the store has no such run.</summary>
    Task<DurableRun?> LoadAsync(string runId, CancellationToken cancellationToken);

    /// <summary>Runs not finished yet (running, interrupted or waiting), oldest first.</summary>
    Task<IReadOnlyList<DurableRun>> ListActiveAsync(CancellationToken cancellationToken);

    /// <summary>The <paramref name="limit"/> most recently started runs, finished ones included, newest first.</summary>
    Task<IReadOnlyList<DurableRun>> ListRecentAsync(int limit, CancellationToken cancellationToken);

    /// <summary>The engine's checkpoint store for one run; the index keeps commit order.</summary>
    JsonCheckpointStore Checkpoints(string runId);

    /// <summary>
    /// Makes this process the run's only runner until the lease is disposed (or the process dies: the lease then
    /// lapses, so another process can take the run over). Null when another live process holds it.
    /// </summary>
    Task<IAsyncDisposable?> TryAcquireLeaseAsync(string runId, string owner, CancellationToken cancellationToken);
}
