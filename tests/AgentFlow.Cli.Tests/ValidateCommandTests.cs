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
    public async Task Validate_NestingBombs_ReportsAF0130AndExitsTwoInsteadOfAStackOverflow()
    {
        // Before the template guard this printed "Stack overflow." and aborted with exit code 134.
        var ifs = string.Concat(Enumerable.Repeat("{% if inputs.a %}", 3000)) + string.Concat(Enumerable.Repeat("{% endif %}", 3000));
        var brackets = "{{ " + string.Concat(Enumerable.Repeat("a[", 5000)) + "1" + new string(']', 5000) + " }}";
        var bomb = fixture.WriteFile("bomb.yaml", $"name: b\nversion: 1\ninputs: {{ a: {{}} }}\nmodels: {{ w: tiny }}\nsteps:\n  - id: s\n    agent: {{ model: w, prompt: \"{ifs}\" }}\n  - id: t\n    agent: {{ model: w, prompt: \"{brackets}\" }}\n");

        var result = await CliProcess.RunAsync(fixture.Root, fixture.Environment, "validate", bomb);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("bomb.yaml:7:", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("bomb.yaml:9:", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("AF0130", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("AF0199", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunsList_SinceBeyondTheRange_ExitsTwoWithTheRange()
    {
        var result = await CliProcess.RunAsync(fixture.Root, fixture.Environment, "runs", "list", "--since", "99999999999999d");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--since '99999999999999d' must be a duration from 0s to 36500d", result.Stderr, StringComparison.Ordinal);
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
