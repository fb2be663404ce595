using AgentFlow.Models;

namespace AgentFlow.Core.Tests.Models;

public sealed class ModelRegistryTests
{
    private static readonly Dictionary<string, string> NoEnvironment = [];

    [Fact]
    public void Load_NoFile_HasOnlyBuiltInModels()
    {
        var dir = Directory.CreateTempSubdirectory().FullName;

        var registry = ModelRegistry.Load(null, NoEnvironment, dir);

        Assert.Null(registry.SourcePath);
        Assert.Equal(["tiny", "tiny2", "tiny-onnx"], registry.Models.Keys);
        Assert.Equal(["builtin", "builtin", "onnx"], registry.Models.Values.Select(m => m.Provider));
        Assert.Equal("true", registry.Models["tiny-onnx"].GetString("builtin"));
        Assert.NotEqual(registry.Models["tiny"].GetString("seed"), registry.Models["tiny2"].GetString("seed"));
    }

    [Fact]
    public void Parse_ModelsWithSettings_KeepsValuesAndLocations()
    {
        var registry = ModelRegistry.Parse("""
            models:
              qwen: { provider: llama, path: ~/q.gguf, context: 4096 }
              gpt:
                provider: openai
                model: gpt-4o-mini
            """, "agentflow.yaml");

        var qwen = registry.Models["qwen"];
        Assert.Equal("llama", qwen.Provider);
        Assert.Equal("~/q.gguf", qwen.GetString("path"));
        Assert.Equal(4096, qwen.GetInt("context", 0));
        Assert.Equal(new Diagnostics.SourceLocation("agentflow.yaml", 2, 3), qwen.Location);
        Assert.Equal(5, registry.Models["gpt"].LocationOf("model").Line);
        Assert.True(registry.TryGet("tiny", out _));
    }

    [Fact]
    public void Parse_EveryProblem_ReportedAtOnceWithLocations()
    {
        var ex = Assert.Throws<DefinitionException>(() => ModelRegistry.Parse("""
            modles: {}
            models:
              a: { path: x.gguf }
              b: just-a-string
              c: { provider: llama, path: [1, 2] }
            """, "agentflow.yaml"));

        Assert.Equal(["AF0904", "AF0909", "AF0907", "AF0908"], ex.Diagnostics.Select(d => d.Code));
        Assert.Equal([1, 3, 4, 5], ex.Diagnostics.Select(d => d.Location.Line));
    }

    [Fact]
    public void Load_EnvironmentOverrides_ChangeSettingsAndAddModels()
    {
        var dir = Directory.CreateTempSubdirectory().FullName;
        var environment = new Dictionary<string, string>
        {
            ["AGENTFLOW_MODELS__tiny__seed"] = "9",
            ["AGENTFLOW_MODELS__remote__provider"] = "openai",
            ["AGENTFLOW_MODELS__remote__model"] = "m",
        };

        var registry = ModelRegistry.Load(null, environment, dir);

        Assert.Equal("9", registry.Models["tiny"].GetString("seed"));
        Assert.Equal("openai", registry.Models["remote"].Provider);
        Assert.Equal("m", registry.Models["remote"].GetString("model"));
    }

    [Fact]
    public void Load_NamedConfigMissing_IsAnError()
    {
        var dir = Directory.CreateTempSubdirectory().FullName;

        var ex = Assert.Throws<DefinitionException>(() => ModelRegistry.Load("nope.yaml", NoEnvironment, dir));

        Assert.Contains("nope.yaml", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_ConfigFromEnvironmentVariable_IsRead()
    {
        var dir = Directory.CreateTempSubdirectory().FullName;
        File.WriteAllText(Path.Combine(dir, "custom.yaml"), "models:\n  x: { provider: builtin, seed: 5 }\n");

        var registry = ModelRegistry.Load(null, new Dictionary<string, string> { ["AGENTFLOW_CONFIG"] = "custom.yaml" }, dir);

        Assert.Equal("custom.yaml", registry.SourcePath);
        Assert.Equal("5", registry.Models["x"].GetString("seed"));
    }
}
