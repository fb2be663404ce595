using System.Text.Json;

namespace AgentFlow.Cli.Tests;

/// <summary>Conversations carried across separate `./agentflow run` processes, on the local store and on a real Redis.</summary>
public sealed class MemoryTests(CliFixture fixture) : IClassFixture<CliFixture>
{
    private const string Chat = """
        name: chat
        version: 1
        inputs:
          customer: { required: true }
          message: { required: true }
        models: { w: tiny }
        memory: { conversation: "customer-{{ inputs.customer }}", ttl: 30d }
        steps:
          - id: reply
            agent:
              model: w
              prompt: "{{ inputs.message }}"
              max_tokens: 6
              memory: { read: true, write: true, window: { messages: 20 } }
        """;

    [Fact]
    public Task Run_ThreeRunsOnTheLocalStore_ThirdRunSeesTheFirstTwoTurns() => ThreeRunsAsync("local", redis: null);

    [RedisFact]
    public Task Run_ThreeRunsOnRedis_ThirdRunSeesTheFirstTwoTurns() => ThreeRunsAsync("redis", RedisFactAttribute.Connection);

    private async Task ThreeRunsAsync(string store, string? redis)
    {
        var folder = Directory.CreateDirectory(Path.Combine(fixture.Root, "memory-" + store + Guid.NewGuid().ToString("N")[..6])).FullName;
        var file = Path.Combine(folder, "chat.yaml");
        await File.WriteAllTextAsync(file, Chat);
        var env = new Dictionary<string, string>(fixture.Environment);
        if (redis is not null)
        {
            env["AGENTFLOW_REDIS"] = redis;
        }

        var customer = Guid.NewGuid().ToString("N")[..8];
        var runs = new List<JsonElement>();
        foreach (var message in new[] { "first question", "second question", "third question" })
        {
            var result = await CliProcess.RunAsync(folder, env, "run", file, "-i", $"customer={customer}", "-i", $"message={message}", "--json");
            Assert.True(result.ExitCode == 0, result.ToString());
            runs.Add(JsonDocument.Parse(result.Stdout).RootElement.Clone());
        }

        Assert.Equal([0, 2, 4], runs.Select(r => r.GetProperty("steps")[0].GetProperty("memory_messages").GetInt32()));
        Assert.All(runs, r => Assert.Equal($"customer-{customer}", r.GetProperty("conversation_id").GetString()));

        var show = await CliProcess.RunAsync(folder, env, "memory", "show", $"customer-{customer}", "--json");
        Assert.True(show.ExitCode == 0, show.ToString());
        var messages = JsonDocument.Parse(show.Stdout).RootElement.GetProperty("messages").EnumerateArray().ToList();
        Assert.Equal(["user", "assistant", "user", "assistant", "user", "assistant"], messages.Select(m => m.GetProperty("role").GetString()));
        Assert.Equal(["first question", "second question", "third question"], messages.Where((_, i) => i % 2 == 0).Select(m => m.GetProperty("content").GetString()));
        Assert.Equal(runs[0].GetProperty("run_id").GetString(), messages[0].GetProperty("run_id").GetString());
        Assert.Equal(runs[2].GetProperty("steps")[0].GetProperty("output").GetString(), messages[5].GetProperty("content").GetString());

        var clear = await CliProcess.RunAsync(folder, env, "memory", "clear", $"customer-{customer}");
        Assert.Contains("6 messages removed", clear.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_RedisUnreachable_FailsBeforeAnyStepNamingTheConnection()
    {
        var file = fixture.WriteFile("chat-unreachable.yaml", Chat);
        var env = new Dictionary<string, string>(fixture.Environment) { ["AGENTFLOW_REDIS"] = "127.0.0.1:1" };

        var result = await CliProcess.RunAsync(fixture.Root, env, "run", file, "-i", "customer=1", "-i", "message=hi");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("Cannot connect to Redis at 127.0.0.1:1", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("> reply", result.Stderr, StringComparison.Ordinal);
    }
}
