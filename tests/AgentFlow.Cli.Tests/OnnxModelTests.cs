using System.Text.Json;

namespace AgentFlow.Cli.Tests;

/// <summary>Workflows on ONNX Runtime GenAI models (<c>provider: onnx</c>), through the real ./agentflow.</summary>
public sealed class OnnxModelTests(CliFixture fixture) : IClassFixture<CliFixture>
{
    private const string Chain = """
        name: onnx-chain
        version: 1
        inputs:
          topic: { type: string, required: true }
        models:
          writer: tiny-onnx
        steps:
          - id: draft
            agent: { model: writer, prompt: "Write about {{ inputs.topic }}", max_tokens: 12, temperature: 0 }
          - id: polish
            agent: { model: writer, prompt: "Improve: {{ steps.draft.output }}", max_tokens: 12, temperature: 0 }
        outputs:
          text: "{{ steps.polish.output }}"
        """;

    [Fact]
    public async Task Run_ChainOnBuiltinOnnxModel_SucceedsWithTokensAndIsDeterministic()
    {
        var file = fixture.WriteFile("onnx-chain.yaml", Chain);

        var a = await CliProcess.RunAsync(fixture.Root, fixture.Environment, "run", file, "--input", "topic=tea", "--json");
        var b = await CliProcess.RunAsync(fixture.Root, fixture.Environment, "run", file, "--input", "topic=tea", "--json");

        Assert.True(a.ExitCode == 0, a.ToString());
        using var json = JsonDocument.Parse(a.Stdout);
        var steps = json.RootElement.GetProperty("steps").EnumerateArray().ToList();
        Assert.Equal(["draft", "polish"], steps.Select(s => s.GetProperty("id").GetString()));
        foreach (var step in steps)
        {
            Assert.Equal("tiny-onnx", step.GetProperty("model").GetString());
            Assert.Equal("succeeded", step.GetProperty("status").GetString());
            Assert.True(step.GetProperty("input_tokens").GetInt32() > 0);
            Assert.Equal(12, step.GetProperty("output_tokens").GetInt32());
            Assert.False(string.IsNullOrEmpty(step.GetProperty("output").GetString()));
        }

        using var again = JsonDocument.Parse(b.Stdout);
        Assert.Equal(
            json.RootElement.GetProperty("outputs").GetProperty("text").GetString(),
            again.RootElement.GetProperty("outputs").GetProperty("text").GetString());
    }

    [Fact]
    public async Task Run_OnnxModelWithUnknownExecutionProvider_ExitsTwoWithLocatedError()
    {
        var config = fixture.WriteFile("onnx-bad.yaml", """
            models:
              gen:
                provider: onnx
                builtin: true
                execution_provider: cdua
            """);
        var file = fixture.WriteFile("onnx-bad-chain.yaml", Chain.Replace("writer: tiny-onnx", "writer: gen", StringComparison.Ordinal));

        var result = await CliProcess.RunAsync(fixture.Root, fixture.Environment, "run", file, "--config", config, "--input", "topic=tea");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("onnx-bad.yaml:5:25: model 'gen': unknown execution provider 'cdua' (did you mean 'cuda'?)", result.Stderr, StringComparison.Ordinal);
    }
}
