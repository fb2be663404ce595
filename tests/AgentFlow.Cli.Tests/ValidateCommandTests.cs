namespace AgentFlow.Cli.Tests;

public sealed class ValidateCommandTests(CliFixture fixture) : IClassFixture<CliFixture>
{
    [Fact]
    public async Task Validate_TwoBrokenFiles_ReportsErrorsOfBothAndExitsTwo()
    {
        var a = fixture.WriteFile("a.yaml", "name: a\nversion: 1\nmodels: { w: tiny }\nsteps:\n  - id: s\n    agent: { model: w, promt: hi }\n");
        var b = fixture.WriteFile("b.yaml", "name: B_bad\nversion: 1\nmodels: { w: tiny }\nsteps:\n  - id: s\n    agent: { model: w, prompt: hi }\n");

        var result = await CliProcess.RunAsync(fixture.Root, fixture.Environment, "validate", a, b);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("a.yaml:6:", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("'prompt'", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("b.yaml:1:", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Validate_AliasBoundToUnknownRegistryModel_ReportsItsLocation()
    {
        var file = fixture.WriteFile("unknown-model.yaml", "name: u\nversion: 1\nmodels:\n  w: qwen\nsteps:\n  - id: s\n    agent: { model: w, prompt: hi }\n");

        var result = await CliProcess.RunAsync(fixture.Root, fixture.Environment, "validate", file);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("unknown-model.yaml:4:", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("'qwen'", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Validate_GoodFile_PrintsOkAndExitsZero()
    {
        var file = fixture.WriteFile("good.yaml", "name: good\nversion: 1\nmodels: { w: tiny }\nsteps:\n  - id: s\n    agent: { model: w, prompt: hi }\n");

        var result = await CliProcess.RunAsync(fixture.Root, fixture.Environment, "validate", file);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("good.yaml: ok", result.Stdout, StringComparison.Ordinal);
    }
}
