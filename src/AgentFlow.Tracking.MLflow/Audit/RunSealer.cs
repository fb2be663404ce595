namespace AgentFlow.Tracking.MLflow.Audit;

/// <summary>
/// Seals a run when it ends: reads back what the store holds for it (params, metrics, tags, status, the workflow
/// file), signs the <see cref="RunSeal"/>, writes <c>seal.json</c> and appends the run to the <see cref="RunLedger"/>.
/// Once per run, never per step.
/// </summary>
public sealed class RunSealer
{
    private readonly TimeProvider _time;

    /// <summary>Creates a sealer signing with <paramref name="key"/> into <paramref name="ledger"/>.</summary>
    public RunSealer(AuditKey key, RunLedger ledger, TimeProvider time)
    {
        Key = key ?? throw new ArgumentNullException(nameof(key));
        Ledger = ledger ?? throw new ArgumentNullException(nameof(ledger));
        _time = time ?? throw new ArgumentNullException(nameof(time));
    }

    /// <summary>The signing key.</summary>
    public AuditKey Key { get; }

    /// <summary>The ledger runs are appended to.</summary>
    public RunLedger Ledger { get; }

    /// <summary>
    /// The sealer for <paramref name="store"/> from the process environment: the key from <c>AGENTFLOW_AUDIT_KEY</c>
    /// or the key file (created on first use), the ledger beside the store (<see cref="RunLedger.ForStore"/>).
    /// </summary>
    /// <exception cref="AuditKeyException">The key is malformed or cannot be created.</exception>
    public static RunSealer FromEnvironment(IMlflowStore store, TimeProvider time) =>
        new(AuditKey.LoadOrCreate(Environment.GetEnvironmentVariable), RunLedger.ForStore(store, Directory.GetCurrentDirectory(), time), time);

    /// <summary>Seals run <paramref name="runId"/>, whose transcript and audit chain were just written as given.</summary>
    public async Task SealAsync(IMlflowStore store, string runId, string transcriptJson, string auditJson, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        var run = await store.GetRunAsync(runId, cancellationToken).ConfigureAwait(false);
        byte[]? workflow;
        try
        {
            workflow = await store.ReadArtifactAsync(runId, RunSeal.WorkflowPath, cancellationToken).ConfigureAwait(false);
        }
        catch (MlflowException ex) when (ex.ErrorCode == MlflowErrorCodes.ResourceDoesNotExist)
        {
            workflow = null;
        }

        var (text, hash) = RunSeal.Create(run, transcriptJson, auditJson, workflow, Key, _time.GetUtcNow());
        await store.LogTextArtifactAsync(runId, RunSeal.SealPath, text, cancellationToken).ConfigureAwait(false);
        await Ledger.AppendAsync(runId, hash, Key, cancellationToken).ConfigureAwait(false);
    }
}
