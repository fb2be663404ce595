namespace AgentFlow.Cli.Tests;

public sealed class HelpTests(CliFixture fixture) : IClassFixture<CliFixture>
{
    [Theory]
    [InlineData("--help")]
    [InlineData("run", "--help")]
    [InlineData("validate", "--help")]
    [InlineData("models", "--help")]
    [InlineData("worker", "--help")]
    [InlineData("memory", "show", "--help")]
    [InlineData("memory", "clear", "--help")]
    public async Task Help_AnyCommand_ExitsZeroWithUsage(params string[] args)
    {
        var result = await CliProcess.RunAsync(fixture.Root, fixture.Environment, args);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("Usage:", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Models_WithoutConfig_ListsBuiltInModelsAsUsable()
    {
        var result = await CliProcess.RunAsync(fixture.Root, fixture.Environment, "models");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Matches(@"tiny\s+builtin\s+ok", result.Stdout);
        Assert.Matches(@"tiny2\s+builtin\s+ok", result.Stdout);
    }
}
