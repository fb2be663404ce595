using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace AgentFlow.Cli.Tests;

/// <summary>Runs that wait for people and outlive processes, driven through separate real <c>./agentflow</c> processes.</summary>
public sealed class DurableRunTests(CliFixture fixture) : IClassFixture<CliFixture>
{
    private const string Approval = """
        name: cli-approval
        version: 1
        inputs: { ticket: { required: true } }
        models: { w: tiny }
        steps:
          - id: draft
            agent: { model: w, prompt: "Reply to: {{ inputs.ticket }}", max_tokens: 8, temperature: 0 }
          - id: review
            approval: { message: "Send it?", show: "{{ steps.draft.output }}", timeout: 24h }
          - id: route
            switch:
              cases:
                - when: "steps.review.approved"
                  steps:
                    - id: send
                      agent: { model: w, prompt: "Polish: {{ steps.draft.output }}", max_tokens: 8, temperature: 0 }
        outputs:
          decision: "{{ steps.review.output }} by {{ steps.review.decided_by }}: {{ steps.review.comment }}"
        """;

    private static string RunIdOf(CliResult result)
    {
        using var json = JsonDocument.Parse(result.Stdout);
        return json.RootElement.GetProperty("run_id").GetString()!;
    }

    private (string Dir, Dictionary<string, string> Env) Workspace(IReadOnlyDictionary<string, string>? extra = null)
    {
        var dir = Directory.CreateDirectory(Path.Combine(fixture.Root, Guid.NewGuid().ToString("N"))).FullName;
        var env = new Dictionary<string, string>(fixture.Environment);
        foreach (var (key, value) in extra ?? new Dictionary<string, string>())
        {
            env[key] = value;
        }

        return (dir, env);
    }

    [Fact]
    public async Task Reject_FromAnotherProcess_ContinuesParkedRunAndRecordsWhoWhenWhy()
    {
        var (dir, env) = Workspace();
        var file = Path.Combine(dir, "approval.yaml");
        await File.WriteAllTextAsync(file, Approval);

        var parked = await CliProcess.RunAsync(dir, env, "run", file, "--input", "ticket=refund", "--json");
        Assert.True(parked.ExitCode == 3, parked.ToString());
        var runId = RunIdOf(parked);
        Assert.Contains($"approve {runId} review", parked.Stderr, StringComparison.Ordinal);

        var list = await CliProcess.RunAsync(dir, env, "approvals", "list", "--json");
        using (var waiting = JsonDocument.Parse(list.Stdout))
        {
            var entry = Assert.Single(waiting.RootElement.EnumerateArray());
            Assert.Equal((runId, "review", "Send it?"), (entry.GetProperty("run_id").GetString(), entry.GetProperty("step").GetString(), entry.GetProperty("message").GetString()));
        }

        var wrong = await CliProcess.RunAsync(dir, env, "approve", runId, "draft");
        Assert.True(wrong.ExitCode == 2, wrong.ToString());
        Assert.Contains("waits at approval 'review', not 'draft'", wrong.Stderr, StringComparison.Ordinal);

        var decided = await CliProcess.RunAsync(dir, env, "reject", runId, "review", "--comment", "too curt", "--as", "carol", "--json");

        Assert.True(decided.ExitCode == 0, decided.ToString());
        using var json = JsonDocument.Parse(decided.Stdout);
        var root = json.RootElement;
        Assert.Equal("succeeded", root.GetProperty("status").GetString());
        Assert.Equal("rejected by carol: too curt", root.GetProperty("outputs").GetProperty("decision").GetString());
        var steps = root.GetProperty("steps").EnumerateArray().ToList();
        Assert.Equal(["draft", "review", "route"], steps.Select(s => s.GetProperty("id").GetString()));
        var approval = steps[1].GetProperty("approval");
        Assert.Equal(("rejected", "carol", "too curt"), (approval.GetProperty("decision").GetString(), approval.GetProperty("decided_by").GetString(), approval.GetProperty("comment").GetString()));
        Assert.Equal("[]", (await CliProcess.RunAsync(dir, env, "approvals", "list", "--json")).Stdout.Trim());

        // The decision is in the MLflow record and its audit chain.
        var verify = await CliProcess.RunAsync(dir, env, "runs", "verify", runId);
        Assert.True(verify.ExitCode == 0, verify.ToString());
        var export = await CliProcess.RunAsync(dir, env, "runs", "export", runId);
        Assert.Contains("\"decided_by\": \"carol\"", export.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Approve_WorkflowFileChangedWhileParked_RefusesAndKeepsTheRunWaiting()
    {
        var (dir, env) = Workspace();
        var file = Path.Combine(dir, "approval.yaml");
        await File.WriteAllTextAsync(file, Approval);
        var parked = await CliProcess.RunAsync(dir, env, "run", file, "--input", "ticket=refund", "--json");
        Assert.True(parked.ExitCode == 3, parked.ToString());
        await File.WriteAllTextAsync(file, Approval.Replace("Polish:", "Polish now:", StringComparison.Ordinal));

        var refused = await CliProcess.RunAsync(dir, env, "approve", RunIdOf(parked), "review");

        Assert.True(refused.ExitCode == 2, refused.ToString());
        Assert.Contains("changed since run", refused.Stderr, StringComparison.Ordinal);
        Assert.Contains(RunIdOf(parked), (await CliProcess.RunAsync(dir, env, "approvals", "list")).Stdout, StringComparison.Ordinal);
    }

    [RedisFact]
    public async Task Approve_RunsInRedis_DecidedFromAnotherProcess()
    {
        var (dir, env) = Workspace(new Dictionary<string, string> { ["AGENTFLOW_REDIS"] = RedisFactAttribute.Connection! });
        var file = Path.Combine(dir, "approval.yaml");
        await File.WriteAllTextAsync(file, Approval);
        var parked = await CliProcess.RunAsync(dir, env, "run", file, "--input", "ticket=refund", "--json");
        Assert.True(parked.ExitCode == 3, parked.ToString());
        Assert.False(Directory.Exists(Path.Combine(dir, ".agentflow", "runs")), "with Redis configured, runs live in Redis");

        // Another working directory: only Redis connects the two processes.
        var (other, _) = Workspace();
        var decided = await CliProcess.RunAsync(other, env, "approve", RunIdOf(parked), "review", "--as", "dana", "--json");

        Assert.True(decided.ExitCode == 0, decided.ToString());
        using var json = JsonDocument.Parse(decided.Stdout);
        Assert.Equal("approved by dana: ", json.RootElement.GetProperty("outputs").GetProperty("decision").GetString());
        Assert.Contains(json.RootElement.GetProperty("steps").EnumerateArray(), s => s.GetProperty("id").GetString() == "send");
    }

    [Fact]
    public async Task RunsResume_OrchestratorKilledMidStep_FinishedStepsNotCalledAgainInFlightStepRunsOnceMore()
    {
        var (dir, env) = Workspace();
        var file = Path.Combine(dir, "chain.yaml");
        // s3 runs on a built-in model with a long context and writes 3,000 tokens (a second or more), so the kill
        // certainly lands while it is in flight.
        var config = Path.Combine(dir, "agentflow.yaml");
        await File.WriteAllTextAsync(config, "models:\n  long: { provider: builtin, context: 16384 }\n");
        var steps = string.Concat(Enumerable.Range(1, 5).Select(i =>
            $"  - id: s{i}\n    agent: {{ model: {(i == 3 ? "x" : "w")}, prompt: \"Step {i}: {{{{ inputs.topic }}}}\", max_tokens: {(i == 3 ? 3000 : 16)}, temperature: 0 }}\n"));
        await File.WriteAllTextAsync(file, $"name: chain\nversion: 1\ninputs: {{ topic: {{ default: x }} }}\nmodels: {{ w: tiny, x: long }}\nsteps:\n{steps}outputs:\n  last: \"{{{{ steps.s5.output }}}}\"\n");

        // Kill (SIGKILL, whole process tree) once s3 has started: s1 and s2 are checkpointed, s3 is in flight.
        var info = new ProcessStartInfo(Path.Combine(CliProcess.RepoRoot, "agentflow")) { WorkingDirectory = dir, RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in new[] { "run", file, "--config", config })
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in env)
        {
            info.Environment[key] = value;
        }

        var log = new StringBuilder();
        using (var process = Process.Start(info)!)
        {
            var started = new TaskCompletionSource();
            process.ErrorDataReceived += (_, e) =>
            {
                lock (log)
                {
                    log.AppendLine(e.Data);
                }

                if (e.Data?.Contains("> s3", StringComparison.Ordinal) == true)
                {
                    started.TrySetResult();
                }
            };
            process.BeginErrorReadLine();
            process.BeginOutputReadLine();
            await started.Task.WaitAsync(TimeSpan.FromMinutes(2));
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        var runId = Assert.Single(Directory.GetDirectories(Path.Combine(dir, ".agentflow", "runs"))).Split(Path.DirectorySeparatorChar)[^1];
        var resumed = await CliProcess.RunAsync(dir, env, "runs", "resume", runId, "--json");

        Assert.True(resumed.ExitCode == 0, resumed + "\n--- killed run\n" + log);
        using var json = JsonDocument.Parse(resumed.Stdout);
        var records = json.RootElement.GetProperty("steps").EnumerateArray()
            .Select(s => (Id: s.GetProperty("id").GetString(), Attempt: s.GetProperty("attempt").GetInt32(), Status: s.GetProperty("status").GetString(), Error: s.GetProperty("error").GetString()))
            .ToList();
        // s3 was in flight: its interrupted attempt stays in the record and it ran exactly once more; the steps that
        // had finished were not called again, and the rest ran once.
        Assert.Equal([("s1", 1, "succeeded"), ("s2", 1, "succeeded"), ("s3", 1, "failed"), ("s3", 2, "succeeded"), ("s4", 1, "succeeded"), ("s5", 1, "succeeded")],
            records.Select(r => (r.Id!, r.Attempt, r.Status!)));
        Assert.StartsWith("interrupted", records[2].Error, StringComparison.Ordinal);
        Assert.Equal("succeeded", json.RootElement.GetProperty("status").GetString());

        // Nothing left to resume; resuming again says the run has ended.
        var again = await CliProcess.RunAsync(dir, env, "runs", "resume", runId);
        Assert.True(again.ExitCode == 2, again.ToString());
        Assert.Contains("has already ended", again.Stderr, StringComparison.Ordinal);
    }
}
