using System.Text.Json;

namespace AgentFlow.Cli.Tests;

public sealed class RunCommandTests(CliFixture fixture) : IClassFixture<CliFixture>
{
    private const string Chain = """
        name: chain
        version: 1
        inputs:
          topic: { type: string, required: true }
        models:
          writer: tiny
        steps:
          - id: first
            agent: { model: writer, prompt: "Write about {{ inputs.topic }}", max_tokens: 12, temperature: 0 }
          - id: second
            agent: { model: writer, prompt: "Improve: {{ steps.first.output }}", max_tokens: 12, temperature: 0 }
        outputs:
          text: "{{ steps.second.output }}"
        """;

    [Fact]
    public async Task Run_ChainWithJson_PrintsResultWithEveryStep()
    {
        var file = fixture.WriteFile("chain.yaml", Chain);

        var result = await CliProcess.RunAsync(fixture.Root, fixture.Environment, "run", file, "--input", "topic=tea", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var root = json.RootElement;
        Assert.Equal("succeeded", root.GetProperty("status").GetString());
        Assert.Equal(32, root.GetProperty("run_id").GetString()!.Length);
        var steps = root.GetProperty("steps").EnumerateArray().ToList();
        Assert.Equal(["first", "second"], steps.Select(s => s.GetProperty("id").GetString()));
        foreach (var step in steps)
        {
            Assert.Equal("tiny", step.GetProperty("model").GetString());
            Assert.Equal("succeeded", step.GetProperty("status").GetString());
            Assert.True(step.GetProperty("input_tokens").GetInt32() > 0);
            Assert.InRange(step.GetProperty("output_tokens").GetInt32(), 1, 12);
            Assert.True(step.GetProperty("latency_ms").GetDouble() > 0);
        }

        Assert.Equal(steps[1].GetProperty("output").GetString(), root.GetProperty("outputs").GetProperty("text").GetString());
        // Progress goes to stderr, never into the JSON on stdout.
        Assert.Contains("first", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_WorkflowWithoutAgentSteps_RunsWithNoModelToHost()
    {
        // No agent step, so no model for the embedded worker: the run still starts (and parks at its approval).
        var file = fixture.WriteFile("no-agent.yaml", "name: no-agent\nversion: 1\nsteps:\n  - id: review\n    approval: { message: \"Go ahead?\" }\noutputs: { decision: \"{{ steps.review.output }}\" }\n");

        var result = await CliProcess.RunAsync(fixture.Root, fixture.Environment, "run", file, "--json");

        Assert.True(result.ExitCode == 3, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.Equal("waiting", json.RootElement.GetProperty("status").GetString());
    }

    [Fact]
    public async Task Run_SameInputsInTwoProcesses_GivesIdenticalOutputs()
    {
        var file = fixture.WriteFile("chain-determinism.yaml", Chain);

        var a = await CliProcess.RunAsync(fixture.Root, fixture.Environment, "run", file, "--input", "topic=tea");
        var b = await CliProcess.RunAsync(fixture.Root, fixture.Environment, "run", file, "--input", "topic=tea");

        Assert.True(a.ExitCode == 0, a.ToString());
        Assert.Equal(a.Stdout, b.Stdout);
        Assert.False(string.IsNullOrWhiteSpace(a.Stdout));
    }

    [Fact]
    public async Task Run_BindToOtherModel_ChangesTheModelUsed()
    {
        var file = fixture.WriteFile("chain-bind.yaml", Chain);

        var result = await CliProcess.RunAsync(fixture.Root, fixture.Environment, "run", file, "-i", "topic=tea", "--bind", "writer=tiny2", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.All(json.RootElement.GetProperty("steps").EnumerateArray(), s => Assert.Equal("tiny2", s.GetProperty("model").GetString()));
        Assert.Equal("tiny2", json.RootElement.GetProperty("bindings").GetProperty("writer").GetString());
    }

    [Fact]
    public async Task Run_MissingRequiredInput_ExitsTwoBeforeAnyStep()
    {
        var file = fixture.WriteFile("chain-missing.yaml", Chain);

        var result = await CliProcess.RunAsync(fixture.Root, fixture.Environment, "run", file);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("missing required input 'topic'", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("first", result.Stderr.Replace("--input", string.Empty, StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_UnknownAliasAndModel_ExitsTwoNamingBoth()
    {
        var file = fixture.WriteFile("chain-bad-bind.yaml", Chain);

        var result = await CliProcess.RunAsync(fixture.Root, fixture.Environment, "run", file, "-i", "topic=x", "--bind", "writter=tiny", "--bind", "writer=qwen");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("no model alias 'writter'; did you mean 'writer'?", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("unknown model 'qwen'", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_ModelFileMissing_ExitsTwoNamingFileAndSetting()
    {
        var config = fixture.WriteFile("missing-model.yaml", "models:\n  qwen: { provider: llama, path: /nowhere/qwen.gguf }\n");
        var file = fixture.WriteFile("chain-missing-file.yaml", Chain);

        var result = await CliProcess.RunAsync(fixture.Root, fixture.Environment, "run", file, "-i", "topic=x", "--bind", "writer=qwen", "--config", config);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("/nowhere/qwen.gguf", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("'path'", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_LoopExhausted_ExitsOneNamingTheLoop()
    {
        var file = fixture.WriteFile("loop-fail.yaml", """
            name: loop-fail
            version: 1
            models: { writer: tiny }
            steps:
              - id: refine
                loop:
                  max_iterations: 2
                  until: "steps.draft.output contains 'NEVER-PRODUCED-BY-THE-TINY-MODEL'"
                  steps:
                    - id: draft
                      agent: { model: writer, prompt: "Draft {{ loop.iteration }}", max_tokens: 4 }
            """);

        var result = await CliProcess.RunAsync(fixture.Root, fixture.Environment, "run", file, "--json");

        Assert.True(result.ExitCode == 1, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.Equal("failed", json.RootElement.GetProperty("status").GetString());
        Assert.Equal("refine", json.RootElement.GetProperty("error").GetProperty("step").GetString());
        Assert.Equal(2, json.RootElement.GetProperty("steps").EnumerateArray().Count(s => s.GetProperty("id").GetString() == "draft"));
        Assert.Contains("max_iterations (2)", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_InvalidDefinition_ExitsTwoWithLocatedErrorAndNoStackTrace()
    {
        var file = fixture.WriteFile("broken.yaml", "name: broken\nversion: 1\nsteps:\n  - id: a\n    agent: { model: nope, prompt: hi }\n");

        var result = await CliProcess.RunAsync(fixture.Root, fixture.Environment, "run", file);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("broken.yaml:5:", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
    }
}
