using System.Text.Json;

namespace AgentFlow.Cli.Tests;

/// <summary><c>./agentflow bench</c> from the clone: the CLI hands its arguments to the separate benchmark program.</summary>
public sealed class BenchCommandTests(CliFixture fixture) : IClassFixture<CliFixture>
{
    [Fact]
    public async Task Bench_FromTheClone_RunsTheBenchmarkProgramWithTheArguments()
    {
        var result = await CliProcess.RunAsync(fixture.Root, fixture.Environment, "bench", "--scenario", "durable-scale", "--size", "tiny", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var report = JsonDocument.Parse(result.Stdout);
        var scenario = Assert.Single(report.RootElement.GetProperty("scenarios").EnumerateArray());
        Assert.Equal("durable-scale", scenario.GetProperty("name").GetString());
        Assert.True(scenario.GetProperty("rows").GetArrayLength() > 0);
    }

    [Fact]
    public async Task Bench_UnknownScenario_ExitsTwoNamingTheScenarios()
    {
        var result = await CliProcess.RunAsync(fixture.Root, fixture.Environment, "bench", "--scenario", "nosuch");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("durable-scale", result.Stderr + result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bench_ProgramNotExecutable_ExitsTwoNamingTheVariable()
    {
        var notAProgram = fixture.WriteFile("not-a-bench.txt", "plain text");
        var env = new Dictionary<string, string>(fixture.Environment) { ["AGENTFLOW_BENCH"] = notAProgram };

        var result = await CliProcess.RunAsync(fixture.Root, env, "bench", "--size", "tiny");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("AGENTFLOW_BENCH", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("internal error", result.Stderr, StringComparison.Ordinal);
    }
}
