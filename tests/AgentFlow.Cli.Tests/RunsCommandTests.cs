using System.Text.Json;

namespace AgentFlow.Cli.Tests;

/// <summary>Every run is recorded in the embedded MLflow store; reviewers read it back and verify its audit chain.</summary>
public sealed class RunsCommandTests(CliFixture fixture) : IClassFixture<CliFixture>
{
    [Fact]
    public async Task Runs_RecordedRun_IsListedShownExportedAndVerified_ThenAlteringItFailsVerify()
    {
        var folder = Directory.CreateDirectory(Path.Combine(fixture.Root, "runs-" + Guid.NewGuid().ToString("N")[..6])).FullName;
        var hello = Path.Combine(CliProcess.RepoRoot, "workflows", "hello.yaml");
        var run = await CliProcess.RunAsync(folder, fixture.Environment, "run", hello, "-i", "name=Ada", "--json");
        Assert.True(run.ExitCode == 0, run.ToString());
        var runId = JsonDocument.Parse(run.Stdout).RootElement.GetProperty("run_id").GetString()!;
        Assert.True(File.Exists(Path.Combine(folder, ".agentflow", "mlflow.db")), "the embedded MLflow store is the default");

        var list = await CliProcess.RunAsync(folder, fixture.Environment, "runs", "list", "--json");
        var listed = JsonDocument.Parse(list.Stdout).RootElement.EnumerateArray().Single();
        Assert.Equal(runId, listed.GetProperty("run_id").GetString());
        Assert.Equal("succeeded", listed.GetProperty("status").GetString());
        Assert.Equal("hello", listed.GetProperty("workflow").GetString());
        Assert.True(listed.GetProperty("input_tokens").GetDouble() > 0);

        var show = await CliProcess.RunAsync(folder, fixture.Environment, "runs", "show", runId);
        Assert.Contains("prompt: Write a greeting for Ada.", show.Stdout, StringComparison.Ordinal);
        Assert.Contains("── shorten", show.Stdout, StringComparison.Ordinal);

        var export = await CliProcess.RunAsync(folder, fixture.Environment, "runs", "export", runId);
        var exported = JsonDocument.Parse(export.Stdout).RootElement;
        Assert.Equal("tiny", exported.GetProperty("params").GetProperty("model.writer").GetString());
        Assert.Equal(64, exported.GetProperty("params").GetProperty("workflow.sha256").GetString()!.Length);
        Assert.Equal("0", exported.GetProperty("params").GetProperty("step.greet.temperature").GetString());
        Assert.Equal("24", exported.GetProperty("params").GetProperty("step.greet.max_tokens").GetString());
        Assert.Equal(2, exported.GetProperty("transcript").GetProperty("steps").GetArrayLength());

        var verified = await CliProcess.RunAsync(folder, fixture.Environment, "runs", "verify", runId);
        Assert.True(verified.ExitCode == 0, verified.ToString());

        // A reviewer's worst case: someone edits the stored answer of the second step.
        var transcript = Directory.GetFiles(Path.Combine(folder, ".agentflow"), "transcript.json", SearchOption.AllDirectories).Single(f => f.Contains(runId, StringComparison.Ordinal));
        var doc = System.Text.Json.Nodes.JsonNode.Parse(await File.ReadAllTextAsync(transcript))!;
        doc["steps"]![1]!["output"] = "a friendlier answer";
        await File.WriteAllTextAsync(transcript, doc.ToJsonString());

        var altered = await CliProcess.RunAsync(folder, fixture.Environment, "runs", "verify", runId);
        Assert.Equal(1, altered.ExitCode);
        Assert.Contains("step 'shorten' (record 2, attempt 1) was altered", altered.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_FailedRun_IsRecordedWithItsFailingStep()
    {
        var folder = Directory.CreateDirectory(Path.Combine(fixture.Root, "failed-" + Guid.NewGuid().ToString("N")[..6])).FullName;
        var file = Path.Combine(folder, "fail.yaml");
        await File.WriteAllTextAsync(file, """
            name: always-fails
            version: 1
            models: { w: tiny }
            steps:
              - id: refine
                loop:
                  max_iterations: 1
                  until: "false"
                  steps: [ { id: draft, agent: { model: w, prompt: "x", max_tokens: 2 } } ]
            """);

        var run = await CliProcess.RunAsync(folder, fixture.Environment, "run", file);
        Assert.Equal(1, run.ExitCode);

        var list = await CliProcess.RunAsync(folder, fixture.Environment, "runs", "list", "-w", "always-fails", "--status", "failed", "--json");
        var listed = JsonDocument.Parse(list.Stdout).RootElement.EnumerateArray().Single();
        Assert.Equal("failed", listed.GetProperty("status").GetString());
        Assert.Equal("refine", listed.GetProperty("failed_step").GetString());
    }
}

/// <summary><c>runs verify</c> checks the seal, the key and the ledger; malformed records are reported, never an internal error.</summary>
public sealed class RunsVerifyCommandTests(CliFixture fixture) : IClassFixture<CliFixture>
{
    [Fact]
    public async Task RunsVerify_SealedRun_IsVerified_ThenOtherKeyMalformedTranscriptAndLedgerAreReported()
    {
        var folder = Directory.CreateDirectory(Path.Combine(fixture.Root, "verify-" + Guid.NewGuid().ToString("N")[..6])).FullName;
        var hello = Path.Combine(CliProcess.RepoRoot, "workflows", "hello.yaml");
        var run = await CliProcess.RunAsync(folder, fixture.Environment, "run", hello, "-i", "name=Ada", "--json");
        Assert.True(run.ExitCode == 0, run.ToString());
        var runId = JsonDocument.Parse(run.Stdout).RootElement.GetProperty("run_id").GetString()!;

        var keyFile = Path.Combine(fixture.Environment["AGENTFLOW_HOME"], "audit.key");
        Assert.True(File.Exists(keyFile), "the key file is created in the data folder on first use");
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
        }

        Assert.True(File.Exists(Path.Combine(folder, ".agentflow", "ledger.jsonl")), "the ledger lies beside the store");

        var verified = await CliProcess.RunAsync(folder, fixture.Environment, "runs", "verify", runId);
        Assert.True(verified.ExitCode == 0, verified.ToString());
        Assert.Contains($"run {runId}: verified: sealed ", verified.Stdout, StringComparison.Ordinal);

        var ledger = await CliProcess.RunAsync(folder, fixture.Environment, "runs", "verify", "--ledger");
        Assert.True(ledger.ExitCode == 0, ledger.ToString());
        Assert.Contains("1 sealed runs", ledger.Stdout, StringComparison.Ordinal);
        Assert.Contains("intact", ledger.Stdout, StringComparison.Ordinal);

        var otherKey = new Dictionary<string, string>(fixture.Environment) { ["AGENTFLOW_AUDIT_KEY"] = new string('5', 64) };
        var wrongKey = await CliProcess.RunAsync(folder, otherKey, "runs", "verify", runId, "--json");
        Assert.Equal(1, wrongKey.ExitCode);
        var wrong = JsonDocument.Parse(wrongKey.Stdout).RootElement;
        Assert.False(wrong.GetProperty("ok").GetBoolean());
        Assert.Equal("key_mismatch", wrong.GetProperty("outcome").GetString());
        Assert.Contains("different key", wrong.GetProperty("message").GetString(), StringComparison.Ordinal);

        var transcript = Directory.GetFiles(Path.Combine(folder, ".agentflow"), "transcript.json", SearchOption.AllDirectories).Single(f => f.Contains(runId, StringComparison.Ordinal));
        var text = await File.ReadAllTextAsync(transcript);
        await File.WriteAllTextAsync(transcript, "{\"status\": \"succeeded\", " + text.TrimStart()[1..]);
        var duplicate = await CliProcess.RunAsync(folder, fixture.Environment, "runs", "verify", runId);
        Assert.Equal(1, duplicate.ExitCode);
        Assert.Contains($"run {runId}: ALTERED/unreadable: transcript.json:", duplicate.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("internal error", duplicate.Stderr, StringComparison.Ordinal);

        await File.WriteAllTextAsync(transcript, text[..(text.Length / 3)]);
        var all = await CliProcess.RunAsync(folder, fixture.Environment, "runs", "verify", "--all");
        Assert.Equal(1, all.ExitCode);
        Assert.Contains($"run {runId}: ALTERED/unreadable: transcript.json:", all.Stdout, StringComparison.Ordinal);
        Assert.Contains("0 of 1 runs verified", all.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("internal error", all.Stderr, StringComparison.Ordinal);
    }
}
