using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace AgentFlow.Cli.Tests;

/// <summary>
/// A run refused before any step ("nothing ran", exit 2) must not leave a run in MLflow that looks as if it still
/// ran: <c>runs list</c> never shows it as running.
/// </summary>
public sealed class RefusedRunTests(CliFixture fixture) : IClassFixture<CliFixture>
{
    private static readonly string Hello = Path.Combine(CliProcess.RepoRoot, "workflows", "hello.yaml");

    [Fact]
    public async Task Run_UnknownBinding_IsRefusedAndLeavesNoRunningRun()
    {
        var (folder, environment) = Scratch();

        var run = await CliProcess.RunAsync(folder, environment, "run", Hello, "--bind", "writer=nosuch");

        await AssertRefusedAsync(folder, environment, run, "nosuch");
    }

    [Fact]
    public async Task Run_MissingApiKey_IsRefusedAndLeavesNoRunningRun()
    {
        var (folder, environment) = Scratch();
        await File.WriteAllTextAsync(Path.Combine(folder, "agentflow.yaml"), """
            models:
              remote: { provider: openai, endpoint: "http://127.0.0.1:9/v1", model: m, api_key_env: AF_TEST_UNSET_KEY }
            """);

        var run = await CliProcess.RunAsync(folder, environment, "run", Hello, "--bind", "writer=remote");

        await AssertRefusedAsync(folder, environment, run, "AF_TEST_UNSET_KEY");
    }

    [Fact]
    public async Task Run_RedisUnreachable_IsRefusedAndLeavesNoRunningRun()
    {
        var (folder, environment) = Scratch();
        environment["AGENTFLOW_REDIS"] = $"127.0.0.1:{ClosedPort()},connectTimeout=1000";

        var run = await CliProcess.RunAsync(folder, environment, "run", Hello);

        await AssertRefusedAsync(folder, environment, run, "Redis");
    }

    [Fact]
    public async Task Run_BrokerUnreachable_IsRefusedWithOneLineNamingTheBroker()
    {
        var (folder, environment) = Scratch();
        var port = ClosedPort();
        environment["AGENTFLOW_RABBITMQ"] = $"amqp://guest:pw-not-shown@127.0.0.1:{port}/";

        var run = await CliProcess.RunAsync(folder, environment, "run", Hello);

        await AssertRefusedAsync(folder, environment, run, $"cannot connect to RabbitMQ at amqp://guest:***@127.0.0.1:{port}/");
    }

    [RabbitMqFact]
    public async Task Run_WrongBrokerPassword_IsRefusedWithOneLineNamingTheBroker()
    {
        var (folder, environment) = Scratch();
        var broker = new UriBuilder(RabbitMqFactAttribute.Uri!) { Password = "wrong-password" };
        environment["AGENTFLOW_RABBITMQ"] = broker.Uri.ToString();

        var run = await CliProcess.RunAsync(folder, environment, "run", Hello);

        await AssertRefusedAsync(folder, environment, run, $"cannot connect to RabbitMQ at amqp://{broker.UserName}:***@");
    }

    private (string Folder, Dictionary<string, string> Environment) Scratch()
    {
        var folder = Directory.CreateDirectory(Path.Combine(fixture.Root, "refused-" + Guid.NewGuid().ToString("N")[..6])).FullName;
        return (folder, new Dictionary<string, string>(fixture.Environment));
    }

    private static async Task AssertRefusedAsync(string folder, Dictionary<string, string> environment, CliResult run, string reason)
    {
        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Contains(reason, run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("internal error", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("pw-not-shown", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong-password", run.Stderr, StringComparison.Ordinal);

        // The listing reads the same store; the stores that refused are not needed for it.
        environment.Remove("AGENTFLOW_REDIS");
        environment.Remove("AGENTFLOW_RABBITMQ");
        var list = await CliProcess.RunAsync(folder, environment, "runs", "list", "--json");
        Assert.True(list.ExitCode == 0, list.ToString());
        var runs = list.Stdout.Trim().Length == 0 ? [] : JsonDocument.Parse(list.Stdout).RootElement.EnumerateArray().ToList();
        Assert.DoesNotContain(runs, r => r.GetProperty("status").GetString() == "running");
    }

    private static int ClosedPort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
