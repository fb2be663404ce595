using System.Globalization;
using System.Text;
using AgentFlow.Tracking.MLflow.Recording;

namespace AgentFlow.Tracking.MLflow.Audit;

/// <summary>
/// Verifies recorded runs: the step chain, the signed seal over the whole record (transcript fields, workflow file,
/// params, metrics, tags, MLflow status) and the run's line in the ledger; and the ledger as a whole against the
/// store, naming deleted and replaced runs. Malformed files are <see cref="VerificationOutcome.Unreadable"/>, never
/// an exception.
/// </summary>
/// <param name="store">The store the runs are recorded in.</param>
/// <param name="key">The audit key; null when none is available (seals are then reported as unchecked).</param>
/// <param name="ledger">The store's ledger.</param>
public sealed class RunVerifier(IMlflowStore store, AuditKey? key, RunLedger ledger)
{
    private LedgerContents? _ledger;

    /// <summary>Verifies run <paramref name="runId"/>.</summary>
    /// <exception cref="MlflowException">The store failed (other than the run not existing).</exception>
    public async Task<RunVerification> VerifyRunAsync(string runId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(runId);
        var ledgerContents = await LedgerAsync(cancellationToken).ConfigureAwait(false);
        var entries = ledgerContents.Entries.Where(e => e.RunId == runId).ToList();
        MlflowRun run;
        try
        {
            run = await store.GetRunAsync(runId, cancellationToken).ConfigureAwait(false);
        }
        catch (MlflowException ex) when (IsMissing(ex))
        {
            return entries.Count > 0
                ? Result(runId, VerificationOutcome.Altered, $"the run was deleted from the store: the ledger sealed it at line {entries[0].Line} ({entries[0].Time})")
                : Result(runId, VerificationOutcome.NotFound, $"no run '{runId}' in {store.TrackingUri}, and the ledger {ledgerContents.Path} does not name it");
        }

        try
        {
            return await VerifyAsync(run, entries, ledgerContents, cancellationToken).ConfigureAwait(false);
        }
        catch (UnreadableRecordException ex)
        {
            return Result(runId, VerificationOutcome.Unreadable, ex.Message);
        }
    }

    /// <summary>
    /// Checks the ledger: its own lines (chain, numbering, signatures), then for each line that its run still exists
    /// with the same seal (else: deleted or replaced). With <paramref name="allRuns"/>, also verifies every run in the
    /// store and names sealed runs the ledger lacks.
    /// </summary>
    public async Task<LedgerVerification> VerifyLedgerAsync(bool allRuns, CancellationToken cancellationToken)
    {
        var contents = await LedgerAsync(cancellationToken).ConfigureAwait(false);
        var problems = new List<string>();
        if (!contents.Exists)
        {
            problems.Add($"there is no ledger at {contents.Path}: no run was sealed there yet, or the ledger was deleted");
        }

        problems.AddRange(contents.Problems);
        if (key is null && contents.Entries.Count > 0)
        {
            problems.Add($"the ledger's signatures were not checked: no audit key ({AuditKey.KeyVariable} is unset and there is no key file)");
        }

        foreach (var group in contents.Entries.GroupBy(e => e.RunId, StringComparer.Ordinal).Where(g => g.Count() > 1))
        {
            problems.Add($"run {group.Key} appears on ledger lines {string.Join(", ", group.Select(e => e.Line))}: a run is sealed once");
        }

        foreach (var entry in contents.Entries)
        {
            if (await CheckEntryAsync(entry, cancellationToken).ConfigureAwait(false) is { } problem)
            {
                problems.Add(problem);
            }
        }

        var runs = new List<RunVerification>();
        if (allRuns)
        {
            foreach (var experiment in await store.ListExperimentsAsync(cancellationToken).ConfigureAwait(false))
            {
                var query = new MlflowRunQuery { ExperimentIds = [experiment.ExperimentId], OrderBy = ["attributes.start_time ASC"] };
                await foreach (var run in store.SearchAllRunsAsync(query, cancellationToken).ConfigureAwait(false))
                {
                    runs.Add(await VerifyRunAsync(run.Info.RunId, cancellationToken).ConfigureAwait(false));
                }
            }
        }

        return new LedgerVerification(contents, problems, runs);
    }

    private async Task<LedgerContents> LedgerAsync(CancellationToken cancellationToken) =>
        _ledger ??= await ledger.ReadAsync(key, cancellationToken).ConfigureAwait(false);

    // A ledger line's run must still exist, with the seal the line names.
    private async Task<string?> CheckEntryAsync(LedgerEntry entry, CancellationToken cancellationToken)
    {
        var where = string.Create(CultureInfo.InvariantCulture, $"run {entry.RunId} (ledger line {entry.Line}, sealed {entry.Time})");
        MlflowRun run;
        try
        {
            run = await store.GetRunAsync(entry.RunId, cancellationToken).ConfigureAwait(false);
        }
        catch (MlflowException ex) when (IsMissing(ex) || ex.ErrorCode == MlflowErrorCodes.InvalidParameterValue)
        {
            return $"{where} was deleted from the store";
        }

        if (run.Info.LifecycleStage == "deleted")
        {
            return $"{where} was deleted (MLflow marks it deleted)";
        }

        var seal = await ReadOptionalAsync(entry.RunId, RunSeal.SealPath, cancellationToken).ConfigureAwait(false);
        if (seal is null)
        {
            return $"{where} lost its seal: seal.json was removed";
        }

        try
        {
            return RunSeal.Read(Encoding.UTF8.GetString(seal)).Hash == entry.Seal ? null : $"{where} was replaced: its seal differs from the one in the ledger";
        }
        catch (UnreadableRecordException ex)
        {
            return $"{where}: ALTERED/unreadable: {ex.Message}";
        }
    }

    private async Task<RunVerification> VerifyAsync(MlflowRun run, List<LedgerEntry> entries, LedgerContents ledgerContents, CancellationToken cancellationToken)
    {
        var runId = run.Info.RunId;
        var transcriptFile = await ReadOptionalAsync(runId, RunTranscript.TranscriptPath, cancellationToken).ConfigureAwait(false);
        var auditFile = await ReadOptionalAsync(runId, RunTranscript.AuditPath, cancellationToken).ConfigureAwait(false);
        var sealFile = await ReadOptionalAsync(runId, RunSeal.SealPath, cancellationToken).ConfigureAwait(false);
        var workflowFile = await ReadOptionalAsync(runId, RunSeal.WorkflowPath, cancellationToken).ConfigureAwait(false);
        var sealedInLedger = entries.Count > 0 ? $" (the ledger sealed the run at line {entries[0].Line})" : string.Empty;
        if (transcriptFile is null)
        {
            return Result(runId, VerificationOutcome.Altered, $"the run has no {RunTranscript.TranscriptPath} artifact{sealedInLedger}");
        }

        var transcript = RecordJson.ParseObject(Encoding.UTF8.GetString(transcriptFile), RunTranscript.TranscriptPath);
        var audit = auditFile is null ? null : RecordJson.ParseObject(Encoding.UTF8.GetString(auditFile), RunTranscript.AuditPath);
        var seal = sealFile is null ? null : RunSeal.Read(Encoding.UTF8.GetString(sealFile));
        var status = RecordJson.OptionalString(transcript, "status", RunTranscript.TranscriptPath);
        var problems = new List<string>();
        if (RecordJson.OptionalString(transcript, "run_id", RunTranscript.TranscriptPath) != runId)
        {
            problems.Add($"the transcript belongs to another run ({transcript["run_id"]?.ToJsonString()})");
        }

        var unfinished = seal is null && audit is null && status is "waiting" or "running";
        if (audit is null && !unfinished)
        {
            problems.Add($"the run has no {RunTranscript.AuditPath} artifact");
        }

        var chain = RunTranscript.CheckChain(transcript, audit, run.Tag(RunTranscript.HeadTag));
        if (chain.Problem is { } chainProblem)
        {
            problems.Add(chainProblem);
        }

        if (seal is null)
        {
            return Unsealed(runId, status, chain, problems, entries.Count > 0, sealedInLedger);
        }

        if (key is null)
        {
            return Result(runId, VerificationOutcome.NoKey,
                $"the run is sealed (key id {seal.KeyId}), but no audit key is available to check the seal: set {AuditKey.KeyVariable} or restore the key file it was recorded with", problems);
        }

        if (seal.KeyId != key.Id)
        {
            return Result(runId, VerificationOutcome.KeyMismatch,
                $"the seal was signed with a different key (key id {seal.KeyId}; the key from {key.Source} has id {key.Id}): verify with the key the run was recorded with", problems);
        }

        if (!key.Verifies(seal.Canonical, seal.Mac))
        {
            problems.Insert(0, "the seal's signature does not match: seal.json was rewritten or forged without the key");
            return Result(runId, VerificationOutcome.Altered, problems[0], problems);
        }

        if (seal.RunId != runId)
        {
            problems.Add($"the seal belongs to another run ({seal.RunId})");
        }

        if (seal.AuditHead != chain.Head || seal.Steps != chain.Steps)
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture,
                $"the steps differ from the sealed chain: {seal.Steps} step records were sealed (head {seal.AuditHead[..12]}…), the record has {chain.Steps} (head {chain.Head[..12]}…): steps were dropped, added or rewritten"));
        }

        problems.AddRange(RunSeal.Compare(seal, run, transcript, auditFile, workflowFile));
        problems.AddRange(LedgerProblems(entries, seal, ledgerContents));
        if (problems.Count > 0)
        {
            return Result(runId, VerificationOutcome.Altered, problems[0], problems);
        }

        return new RunVerification(runId, VerificationOutcome.Verified,
            string.Create(CultureInfo.InvariantCulture,
                $"sealed {seal.SealedAt} and signed (key id {key.Id}); the seal matches the transcript, the {chain.Steps} step records (head {chain.Head}), params, metrics, tags and workflow.yaml; ledger line {entries[0].Line}"),
            [],
            [.. RunSeal.Unsealed(seal, run).Select(n => $"{n} is not covered by the seal (added after the run ended)")]);
    }

    private static RunVerification Unsealed(string runId, string? status, ChainCheck chain, List<string> problems, bool inLedger, string sealedInLedger)
    {
        if (inLedger)
        {
            problems.Insert(0, $"the run's seal (seal.json) was removed{sealedInLedger}");
            return Result(runId, VerificationOutcome.Altered, problems[0], problems);
        }

        if (problems.Count > 0)
        {
            return Result(runId, VerificationOutcome.Altered, problems[0], problems);
        }

        var steps = string.Create(CultureInfo.InvariantCulture, $"{chain.Steps} step records");
        return status switch
        {
            "waiting" => Result(runId, VerificationOutcome.Waiting, $"parked at an approval: the chain so far matches its {steps}; the run is sealed when it ends"),
            "running" => Result(runId, VerificationOutcome.InProgress, $"still running, or its process stopped: the chain so far matches its {steps}; the run is sealed when it ends"),
            _ => Result(runId, VerificationOutcome.Unsealed,
                $"the step chain matches its {steps}, but the run has no seal, so its outputs, status, inputs, bindings, params, metrics and tags are not covered (recorded by a version of AgentFlow before seals, or its recording stopped before the seal)"),
        };
    }

    private static IEnumerable<string> LedgerProblems(List<LedgerEntry> entries, StoredSeal seal, LedgerContents ledgerContents)
    {
        if (!ledgerContents.Exists)
        {
            yield return $"the ledger {ledgerContents.Path} is missing (deleted?), so a replaced or deleted run cannot be ruled out";
            yield break;
        }

        if (entries.Count == 0)
        {
            yield return $"the run is not in the ledger {ledgerContents.Path}: the ledger was truncated or replaced, or the run was copied from another store";
            yield break;
        }

        if (entries.Count > 1)
        {
            yield return $"the run appears on ledger lines {string.Join(", ", entries.Select(e => e.Line))}: a run is sealed once";
        }

        foreach (var entry in entries.Where(e => !e.Valid))
        {
            yield return $"its ledger line {entry.Line} was altered or signed with another key (run 'runs verify --ledger' for details)";
        }

        if (entries.All(e => e.Seal != seal.Hash))
        {
            yield return $"the seal differs from the one the ledger recorded at line {entries[0].Line}: the run was replaced";
        }
    }

    private async Task<byte[]?> ReadOptionalAsync(string runId, string path, CancellationToken cancellationToken)
    {
        try
        {
            return await store.ReadArtifactAsync(runId, path, cancellationToken).ConfigureAwait(false);
        }
        catch (MlflowException ex) when (IsMissing(ex))
        {
            return null;
        }
    }

    // A server answers a missing artifact with RESOURCE_DOES_NOT_EXIST or a bare 404.
    private static bool IsMissing(MlflowException ex) => ex.ErrorCode is MlflowErrorCodes.ResourceDoesNotExist or MlflowErrorCodes.EndpointNotFound;

    private static RunVerification Result(string runId, VerificationOutcome outcome, string message, IReadOnlyList<string>? problems = null) =>
        new(runId, outcome, message, problems ?? [], []);
}
