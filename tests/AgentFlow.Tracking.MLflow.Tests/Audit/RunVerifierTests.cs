using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using AgentFlow.Execution;
using AgentFlow.Tracking.MLflow.Audit;
using AgentFlow.Tracking.MLflow.Recording;
using AgentFlow.Tracking.MLflow.Tests.Recording;
using Microsoft.Data.Sqlite;

namespace AgentFlow.Tracking.MLflow.Tests.Audit;

/// <summary>Runs recorded in the embedded store are sealed and ledgered; every kind of tampering is named.</summary>
public sealed class RunVerifierTests : IDisposable
{
    private static readonly AuditKey Key = AuditKey.Parse(new string('7', 64), "test");
    private readonly string _folder = Directory.CreateTempSubdirectory("agentflow-verifier-tests-").FullName;
    private readonly IMlflowStore _store;

    public RunVerifierTests()
    {
        SqliteConnection.ClearAllPools();
        _store = MlflowStoreFactory.Create("sqlite:///mlflow.db", new MlflowStoreOptions { WorkingDirectory = _folder, User = "reviewer" });
    }

    public void Dispose()
    {
        _store.DisposeAsync().AsTask().GetAwaiter().GetResult();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    private RunLedger Ledger => RunLedger.ForStore(_store, _folder, TimeProvider.System);

    private RunVerifier Verifier(AuditKey? key = null) => new(_store, key ?? Key, Ledger);

    private async Task<string> RecordAsync(RunStatus status = RunStatus.Succeeded, RunLedger? ledger = null)
    {
        var sealer = new RunSealer(Key, ledger ?? Ledger, TimeProvider.System);
        var recorder = await MlflowRunRecorder.StartAsync(
            _store, RunRecorderTests.Definition(), "test", null, null, sealer, TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, CancellationToken.None);
        var record = RunRecorderTests.Record(recorder.RunId, status);
        recorder.OnEvent(new RunStartedEvent(record.RunId, record));
        foreach (var step in record.Steps)
        {
            recorder.OnEvent(new StepFinishedEvent(record.RunId, step));
        }

        recorder.OnEvent(new RunFinishedEvent(record.RunId, record));
        await recorder.DisposeAsync();
        Assert.Empty(recorder.Problems);
        return recorder.RunId;
    }

    private string ArtifactFile(string runId, string name) =>
        Directory.GetFiles(_folder, name, SearchOption.AllDirectories).Single(f => f.Contains(runId, StringComparison.Ordinal));

    private async Task EditJsonAsync(string runId, string name, Action<JsonObject> edit)
    {
        var file = ArtifactFile(runId, name);
        var json = JsonNode.Parse(await File.ReadAllTextAsync(file))!.AsObject();
        edit(json);
        await File.WriteAllTextAsync(file, RunTranscript.Serialize(json));
    }

    private async Task SqlAsync(string sql, string runId)
    {
        await using var connection = new SqliteConnection($"Data Source={Path.Combine(_folder, "mlflow.db")};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddWithValue("$run", runId);
        Assert.True(await command.ExecuteNonQueryAsync() > 0, sql);
    }

    // What an attacker without the key can do: recompute the public step chain over edited steps.
    private static void Rechain(JsonObject transcript)
    {
        var previous = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("agentflow-audit:" + transcript["run_id"]!.GetValue<string>())));
        foreach (var step in transcript["steps"]!.AsArray())
        {
            step!.AsObject().Remove("hash");
            previous = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(previous + "\n" + step.ToJsonString())));
            step["hash"] = previous;
        }

        transcript["audit_head"] = previous;
    }

    private async Task RewriteChainAsync(string runId, Action<JsonObject> edit)
    {
        await EditJsonAsync(runId, "transcript.json", t =>
        {
            edit(t);
            Rechain(t);
        });
        var transcript = JsonNode.Parse(await File.ReadAllTextAsync(ArtifactFile(runId, "transcript.json")))!.AsObject();
        await File.WriteAllTextAsync(ArtifactFile(runId, "audit.json"), RunTranscript.Serialize(RunTranscript.Audit(transcript)));
        await SqlAsync($"UPDATE tags SET value = '{transcript["audit_head"]}' WHERE run_uuid = $run AND key = 'agentflow.audit_head'", runId);
        Assert.Null(RunTranscript.Verify(await File.ReadAllTextAsync(ArtifactFile(runId, "transcript.json")), await File.ReadAllTextAsync(ArtifactFile(runId, "audit.json")), transcript["audit_head"]!.GetValue<string>()));
    }

    [Fact]
    public async Task VerifyRun_UntouchedRun_IsVerifiedAgainstSealAndLedger()
    {
        var runId = await RecordAsync();

        var result = await Verifier().VerifyRunAsync(runId, CancellationToken.None);

        Assert.True(result.Ok, $"{result.Label}: {result.Message} {string.Join("; ", result.Problems)}");
        Assert.Contains("ledger line 1", result.Message, StringComparison.Ordinal);
        var ledger = await Verifier().VerifyLedgerAsync(allRuns: true, CancellationToken.None);
        Assert.True(ledger.Ok, string.Join("; ", ledger.Problems));
        Assert.Single(ledger.Runs);
    }

    [Theory]
    [InlineData("outputs")]
    [InlineData("status")]
    [InlineData("error")]
    [InlineData("inputs")]
    [InlineData("bindings")]
    [InlineData("definition_sha256")]
    public async Task VerifyRun_TranscriptFieldEdited_IsAlteredNamingTheField(string field)
    {
        var runId = await RecordAsync();

        await EditJsonAsync(runId, "transcript.json", t => t[field] = field switch
        {
            "outputs" => new JsonObject { ["final"] = "a forged answer" },
            "status" => "failed",
            "error" => new JsonObject { ["step"] = "b", ["message"] = "forged" },
            "inputs" => new JsonObject { ["topic"] = "coffee" },
            "bindings" => new JsonObject { ["w"] = "gpt-4" },
            _ => new string('c', 64),
        });
        var result = await Verifier().VerifyRunAsync(runId, CancellationToken.None);

        Assert.Equal(VerificationOutcome.Altered, result.Outcome);
        Assert.Contains($"transcript field '{field}' was altered (it does not match the seal)", result.Problems);
    }

    [Theory]
    [InlineData("UPDATE latest_metrics SET value = 1 WHERE run_uuid = $run AND key = 'run.latency_ms'", "metric 'run.latency_ms' was altered: 1 in the store, 30 when sealed")]
    [InlineData("UPDATE params SET value = 'forged' WHERE run_uuid = $run AND key = 'workflow.sha256'", "param 'workflow.sha256' was altered (it does not match the seal)")]
    [InlineData("UPDATE tags SET value = 'failed' WHERE run_uuid = $run AND key = 'agentflow.status'", "tag 'agentflow.status' was altered (it does not match the seal)")]
    [InlineData("INSERT INTO tags (key, value, run_uuid) VALUES ('agentflow.failed_step', 'b', $run)", "tag 'agentflow.failed_step' was added after the seal")]
    [InlineData("DELETE FROM params WHERE run_uuid = $run AND key = 'model.w'", "param 'model.w' was removed (it is in the seal)")]
    [InlineData("UPDATE runs SET status = 'FAILED' WHERE run_uuid = $run", "the MLflow run status was altered: FAILED in the store, FINISHED when sealed")]
    public async Task VerifyRun_DatabaseEdited_IsAlteredNamingTheEntry(string sql, string expected)
    {
        var runId = await RecordAsync();

        await SqlAsync(sql, runId);
        var result = await Verifier().VerifyRunAsync(runId, CancellationToken.None);

        Assert.Equal(VerificationOutcome.Altered, result.Outcome);
        Assert.Contains(expected, result.Problems);
    }

    [Fact]
    public async Task VerifyRun_WorkflowFileEdited_IsAltered()
    {
        var runId = await RecordAsync();

        await File.AppendAllTextAsync(ArtifactFile(runId, "workflow.yaml"), "# harmless?\n");
        var result = await Verifier().VerifyRunAsync(runId, CancellationToken.None);

        Assert.Equal(VerificationOutcome.Altered, result.Outcome);
        Assert.Contains("the workflow.yaml artifact was altered (its SHA-256 does not match the seal)", result.Problems);
    }

    [Fact]
    public async Task VerifyRun_ConsistentRewriteResealedWithoutTheKey_IsAlteredForTheSignature()
    {
        var runId = await RecordAsync();
        var realKeyId = Key.Id;

        // Transcript, audit chain and head tag rewritten consistently; then a seal made with the attacker's own key,
        // claiming the real key's id.
        await RewriteChainAsync(runId, t => t["steps"]![1]!["output"] = "a forged answer");
        var attacker = AuditKey.Parse(new string('e', 64), "attacker");
        var forged = new RunSealer(attacker, new RunLedger(Path.Combine(_folder, "attacker.jsonl"), TimeProvider.System), TimeProvider.System);
        await forged.SealAsync(_store, runId, await File.ReadAllTextAsync(ArtifactFile(runId, "transcript.json")), await File.ReadAllTextAsync(ArtifactFile(runId, "audit.json")), CancellationToken.None);
        await EditJsonAsync(runId, "seal.json", s => s["key_id"] = realKeyId);
        var result = await Verifier().VerifyRunAsync(runId, CancellationToken.None);

        Assert.Equal(VerificationOutcome.Altered, result.Outcome);
        Assert.StartsWith("the seal's signature does not match", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyRun_ConsistentRewriteKeepingTheSeal_IsAlteredNamingTheSteps()
    {
        var runId = await RecordAsync();

        await RewriteChainAsync(runId, t => t["steps"]![0]!["output"] = "a forged answer");
        var result = await Verifier().VerifyRunAsync(runId, CancellationToken.None);

        Assert.Equal(VerificationOutcome.Altered, result.Outcome);
        Assert.Contains(result.Problems, p => p.StartsWith("the steps differ from the sealed chain: 2 step records were sealed", StringComparison.Ordinal));
        Assert.Contains("transcript field 'steps' was altered (it does not match the seal)", result.Problems);
    }

    [Fact]
    public async Task VerifyRun_LastStepDroppedAndChainRewritten_IsAltered()
    {
        var runId = await RecordAsync();

        await RewriteChainAsync(runId, t => t["steps"]!.AsArray().RemoveAt(1));
        var result = await Verifier().VerifyRunAsync(runId, CancellationToken.None);

        Assert.Equal(VerificationOutcome.Altered, result.Outcome);
        Assert.Contains(result.Problems, p => p.Contains("2 step records were sealed", StringComparison.Ordinal) && p.Contains("the record has 1", StringComparison.Ordinal));
    }

    [Fact]
    public async Task VerifyLedger_RunDeleted_NamesTheRun()
    {
        var kept = await RecordAsync();
        var deleted = await RecordAsync();

        foreach (var table in new[] { "tags", "params", "metrics", "latest_metrics", "runs" })
        {
            await SqlAsync($"DELETE FROM {table} WHERE run_uuid = $run", deleted);
        }

        var ledger = await Verifier().VerifyLedgerAsync(allRuns: false, CancellationToken.None);
        var single = await Verifier().VerifyRunAsync(deleted, CancellationToken.None);

        Assert.False(ledger.Ok);
        Assert.Contains(ledger.Problems, p => p.StartsWith($"run {deleted} (ledger line 2, sealed ", StringComparison.Ordinal) && p.EndsWith("was deleted from the store", StringComparison.Ordinal));
        Assert.DoesNotContain(ledger.Problems, p => p.Contains(kept, StringComparison.Ordinal));
        Assert.Equal(VerificationOutcome.Altered, single.Outcome);
        Assert.Contains("deleted", single.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyLedger_RunReplacedByAnotherSealedRecord_NamesTheRun()
    {
        var runId = await RecordAsync();

        // Re-sealed with the right key (say, by a second recording of the same id): the ledger still names the first seal.
        var resealer = new RunSealer(Key, new RunLedger(Path.Combine(_folder, "other.jsonl"), TimeProvider.System), TimeProvider.System);
        await EditJsonAsync(runId, "transcript.json", t => t["outputs"] = new JsonObject { ["final"] = "forged" });
        await resealer.SealAsync(_store, runId, await File.ReadAllTextAsync(ArtifactFile(runId, "transcript.json")), await File.ReadAllTextAsync(ArtifactFile(runId, "audit.json")), CancellationToken.None);
        var ledger = await Verifier().VerifyLedgerAsync(allRuns: false, CancellationToken.None);
        var single = await Verifier().VerifyRunAsync(runId, CancellationToken.None);

        Assert.Contains(ledger.Problems, p => p.StartsWith($"run {runId} (ledger line 1", StringComparison.Ordinal) && p.EndsWith("was replaced: its seal differs from the one in the ledger", StringComparison.Ordinal));
        Assert.Equal(VerificationOutcome.Altered, single.Outcome);
        Assert.Contains("the seal differs from the one the ledger recorded at line 1: the run was replaced", single.Problems);
    }

    [Fact]
    public async Task VerifyLedger_LineRemovedOrEdited_NamesTheLine()
    {
        await RecordAsync();
        var second = await RecordAsync();
        await RecordAsync();
        var lines = await File.ReadAllLinesAsync(Ledger.Path);

        await File.WriteAllLinesAsync(Ledger.Path, [lines[0], lines[2]]);
        var removed = await Verifier().VerifyLedgerAsync(allRuns: false, CancellationToken.None);
        await File.WriteAllLinesAsync(Ledger.Path, [lines[0], lines[1].Replace(second, new string('0', 32), StringComparison.Ordinal), lines[2]]);
        var edited = await Verifier().VerifyLedgerAsync(allRuns: true, CancellationToken.None);

        Assert.Contains(removed.Problems, p => p.StartsWith("ledger.jsonl line 2", StringComparison.Ordinal) && p.Contains("previous-line hash does not match", StringComparison.Ordinal));
        Assert.Contains(edited.Problems, p => p.StartsWith("ledger.jsonl line 2", StringComparison.Ordinal) && p.Contains("signature does not match", StringComparison.Ordinal));
        Assert.Contains(edited.Runs, r => r.RunId == second && r.Problems.Any(p => p.StartsWith("the run is not in the ledger", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData("transcript.json", "duplicate")]
    [InlineData("transcript.json", "type")]
    [InlineData("transcript.json", "truncated")]
    [InlineData("audit.json", "type")]
    [InlineData("seal.json", "duplicate")]
    [InlineData("seal.json", "type")]
    [InlineData("seal.json", "truncated")]
    public async Task VerifyRun_MalformedFile_IsUnreadableNotAnError(string name, string damage)
    {
        var runId = await RecordAsync();
        var file = ArtifactFile(runId, name);
        var text = await File.ReadAllTextAsync(file);

        await File.WriteAllTextAsync(file, damage switch
        {
            "duplicate" => "{\"run_id\": \"x\"," + text.TrimStart()[1..],
            "type" => name == "audit.json" ? text.Replace("\"steps\": [", "\"steps\": [42, ", StringComparison.Ordinal) : text.Replace($"\"run_id\": \"{runId}\"", "\"run_id\": 5", StringComparison.Ordinal),
            _ => text[..(text.Length / 2)],
        });
        var result = await Verifier().VerifyRunAsync(runId, CancellationToken.None);

        Assert.Equal(VerificationOutcome.Unreadable, result.Outcome);
        Assert.Equal("ALTERED/unreadable", result.Label);
        Assert.StartsWith(name, result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyRun_OtherKey_FailsSayingTheKeyDiffers()
    {
        var runId = await RecordAsync();

        var result = await Verifier(AuditKey.Parse(Convert.ToBase64String(new byte[32]), "AGENTFLOW_AUDIT_KEY")).VerifyRunAsync(runId, CancellationToken.None);

        Assert.Equal(VerificationOutcome.KeyMismatch, result.Outcome);
        Assert.False(result.Ok);
        Assert.Contains("signed with a different key", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyRun_SealDeleted_IsAlteredBecauseTheLedgerNamesIt()
    {
        var runId = await RecordAsync();

        File.Delete(ArtifactFile(runId, "seal.json"));
        var result = await Verifier().VerifyRunAsync(runId, CancellationToken.None);

        Assert.Equal(VerificationOutcome.Altered, result.Outcome);
        Assert.StartsWith("the run's seal (seal.json) was removed (the ledger sealed the run at line 1)", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyRun_RunWithoutSealNotInLedger_IsUnsealedNotOk()
    {
        // As an older version recorded it: chain, no seal, no ledger line.
        var runId = await RecordAsync(ledger: new RunLedger(Path.Combine(_folder, "elsewhere.jsonl"), TimeProvider.System));
        File.Delete(ArtifactFile(runId, "seal.json"));

        var result = await Verifier().VerifyRunAsync(runId, CancellationToken.None);

        Assert.Equal(VerificationOutcome.Unsealed, result.Outcome);
        Assert.False(result.Ok);
        Assert.Equal("unsealed (recorded by an older version)", result.Label);
    }

    [Fact]
    public async Task VerifyRun_ParkedRun_SaysWaitingNotSealedYet()
    {
        var sealer = new RunSealer(Key, Ledger, TimeProvider.System);
        var recorder = await MlflowRunRecorder.StartAsync(
            _store, RunRecorderTests.Definition(), "test", null, null, sealer, TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, CancellationToken.None);
        var record = RunRecorderTests.Record(recorder.RunId, RunStatus.Succeeded);
        record.Status = RunStatus.Waiting;
        record.Ended = null;
        recorder.OnEvent(new RunStartedEvent(record.RunId, record));
        recorder.OnEvent(new RunFinishedEvent(record.RunId, record));
        await recorder.DisposeAsync();

        var waiting = await Verifier().VerifyRunAsync(recorder.RunId, CancellationToken.None);
        await EditJsonAsync(recorder.RunId, "transcript.json", t => t["steps"]![0]!["output"] = "forged");
        var altered = await Verifier().VerifyRunAsync(recorder.RunId, CancellationToken.None);

        Assert.Equal(VerificationOutcome.Waiting, waiting.Outcome);
        Assert.Contains("the chain so far matches its 2 step records", waiting.Message, StringComparison.Ordinal);
        Assert.Equal(VerificationOutcome.Altered, altered.Outcome);
        Assert.StartsWith("step 'a' (record 1, attempt 1) was altered", altered.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyRun_ExperimentScoreAddedAfterTheEnd_IsANoteNotAFailure()
    {
        var runId = await RecordAsync();

        await _store.LogBatchAsync(runId, [new MlflowMetric("score.exact", 1, 0)], null, null);
        var result = await Verifier().VerifyRunAsync(runId, CancellationToken.None);

        Assert.True(result.Ok, string.Join("; ", result.Problems));
        Assert.Equal(["metric 'score.exact' is not covered by the seal (added after the run ended)"], result.Notes);
    }
}
