using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace AgentFlow.Cli.Tests;

/// <summary>
/// Redis (the run store) stops answering mid-run: the run ends as a clear failure naming Redis, recorded in MLflow
/// (FAILED, the step, the cause, audit.json), and continues with <c>runs resume</c> once Redis answers again. The test
/// starts its own redis-server (never the shared one) and freezes it with SIGSTOP, so its data is still there after.
/// </summary>
public sealed class RunStoreLossTests(CliFixture fixture) : IClassFixture<CliFixture>
{
    [RedisFact]
    public async Task Run_RedisStopsAnsweringMidRun_FailsNamingRedisIsRecordedAndResumesLater()
    {
        if (!File.Exists("/usr/bin/redis-server") || !File.Exists("/usr/bin/redis-cli"))
        {
            return;
        }

        var folder = Directory.CreateDirectory(Path.Combine(fixture.Root, "redis-lost-" + Guid.NewGuid().ToString("N")[..6])).FullName;
        var port = FreePort();
        var pidFile = Path.Combine(folder, "redis.pid");
        await ExecAsync("redis-server", "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--daemonize", "yes", "--save", "", "--appendonly", "no", "--pidfile", pidFile, "--dir", folder);
        var pid = await WaitForPidAsync(pidFile);
        try
        {
            var workflow = Path.Combine(folder, "long.yaml");
            await File.WriteAllTextAsync(workflow, """
                name: long-run
                version: 1
                models: { w: tiny }
                steps:
                  - id: rounds
                    loop:
                      max_iterations: 30
                      until: "false"
                      on_exhausted: continue
                      steps: [ { id: draft, agent: { model: w, prompt: "x", max_tokens: 4 } } ]
                """);
            var environment = new Dictionary<string, string>(fixture.Environment) { ["AGENTFLOW_REDIS"] = $"127.0.0.1:{port},syncTimeout=2000,asyncTimeout=2000" };

            var running = CliProcess.RunAsync(folder, environment, "run", workflow);
            var runId = await WaitForRunKeyAsync(port, running);
            await ExecAsync("kill", "-STOP", pid);
            var run = await running;
            await ExecAsync("kill", "-CONT", pid);

            Assert.True(run.ExitCode == 1, run.ToString());
            Assert.Contains($"redis 127.0.0.1:{port} stopped answering", run.Stderr, StringComparison.Ordinal);
            Assert.Contains($"runs resume {runId}", run.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("internal error", run.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", run.Stderr, StringComparison.Ordinal);

            var listed = await ListedAsync(folder, environment, runId);
            Assert.Equal("failed", listed.GetProperty("status").GetString());
            // The step in flight when Redis stopped, or none when it stopped at the run's first checkpoint.
            Assert.True(listed.GetProperty("failed_step").GetString() is "draft" or "rounds" or "(none)", listed.ToString());
            Assert.Contains(Directory.GetFiles(Path.Combine(folder, ".agentflow"), "audit.json", SearchOption.AllDirectories), f => f.Contains(runId, StringComparison.Ordinal));

            // Redis answers again (with the run's last saved state): the run continues to its end.
            CliResult resumed;
            var deadline = DateTime.UtcNow.AddSeconds(30);
            do
            {
                // The stopped process's lease lapses after its time to live.
                resumed = await CliProcess.RunAsync(folder, environment, "runs", "resume", runId);
            }
            while (resumed.ExitCode != 0 && resumed.Stderr.Contains("another process", StringComparison.Ordinal) && DateTime.UtcNow < deadline && await Delay());

            Assert.True(resumed.ExitCode == 0, resumed.ToString());
            Assert.Equal("succeeded", (await ListedAsync(folder, environment, runId)).GetProperty("status").GetString());
        }
        finally
        {
            await ExecAsync("kill", "-CONT", pid);
            await ExecAsync("kill", pid);
        }
    }

    private static async Task<bool> Delay()
    {
        await Task.Delay(1000);
        return true;
    }

    private static async Task<JsonElement> ListedAsync(string folder, IReadOnlyDictionary<string, string> environment, string runId)
    {
        var list = await CliProcess.RunAsync(folder, environment, "runs", "list", "--json");
        Assert.True(list.ExitCode == 0, list.ToString());
        return JsonDocument.Parse(list.Stdout).RootElement.EnumerateArray().Single(r => r.GetProperty("run_id").GetString() == runId);
    }

    // The run's key appears when its first state is saved, just before its first step.
    private static async Task<string> WaitForRunKeyAsync(int port, Task<CliResult> running)
    {
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (DateTime.UtcNow < deadline)
        {
            Assert.False(running.IsCompleted, running.IsCompleted ? (await running).ToString() : null);
            var keys = await ExecAsync("redis-cli", "-p", port.ToString(CultureInfo.InvariantCulture), "--scan", "--pattern", "agentflow:run:*");
            var key = keys.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .FirstOrDefault(k => k.Count(c => c == ':') == 2);
            if (key is not null)
            {
                return key["agentflow:run:".Length..];
            }

            await Task.Delay(20);
        }

        throw new TimeoutException("the run never saved its state in Redis");
    }

    private static async Task<string> WaitForPidAsync(string pidFile)
    {
        for (var i = 0; i < 100 && !File.Exists(pidFile); i++)
        {
            await Task.Delay(50);
        }

        return (await File.ReadAllTextAsync(pidFile)).Trim();
    }

    private static async Task<string> ExecAsync(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return output;
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
