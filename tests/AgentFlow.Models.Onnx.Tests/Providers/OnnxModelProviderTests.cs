using AgentFlow.Models.Onnx.Providers;
using AgentFlow.Models.Onnx.Tests.Support;
using AgentFlow.Models.Onnx.Tiny;
using Microsoft.Extensions.AI;

namespace AgentFlow.Models.Onnx.Tests.Providers;

public sealed class OnnxModelProviderTests(TinyOnnxFixture fixture) : IClassFixture<TinyOnnxFixture>
{
    private OnnxModelProvider Provider => new(fixture.Store);

    // The registry parses the YAML, so each setting carries its real file:line:col.
    private static ModelSpec Spec(string settings, string name = "m") =>
        ModelRegistry.Parse($"models:\n  {name}:\n    provider: onnx\n{settings}", "agentflow.yaml").Models[name];

    [Fact]
    public void Check_NoPathNoBuiltin_LocatedErrorSayingWhatToSet()
    {
        var problem = Assert.Single(Provider.Check(Spec("    context: 512\n")));

        Assert.StartsWith("agentflow.yaml:2:3: model 'm':", problem, StringComparison.Ordinal);
        Assert.Contains("setting 'path' is required for provider 'onnx'", problem, StringComparison.Ordinal);
        Assert.Contains("genai_config.json", problem, StringComparison.Ordinal);
        Assert.Contains("builtin: true", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_UnknownExecutionProvider_LocatedAtTheValueWithSuggestion()
    {
        var problem = Assert.Single(Provider.Check(Spec("    builtin: true\n    execution_provider: cdua\n")));

        Assert.StartsWith("agentflow.yaml:5:25: model 'm': unknown execution provider 'cdua' (did you mean 'cuda'?)", problem, StringComparison.Ordinal);
        Assert.Contains("cpu, cuda, dml", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_DeviceIdOnCpu_ErrorAskingForAGpuProvider()
    {
        var problem = Assert.Single(Provider.Check(Spec("    builtin: true\n    device_id: 1\n")));

        Assert.StartsWith("agentflow.yaml:5:16:", problem, StringComparison.Ordinal);
        Assert.Contains("execution_provider: cuda", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_GpuProviderWithDevice_Accepted()
    {
        var spec = Spec("    builtin: true\n    execution_provider: CUDA\n    device_id: 1\n");

        Assert.Empty(Provider.Check(spec));
        var options = OnnxModelOptions.Create(spec);
        Assert.Equal("cuda", options.ExecutionProvider);
        Assert.Equal("1", options.ProviderOptions()["device_id"]);
    }

    [Fact]
    public void Check_EveryProblem_ListedAtOnce()
    {
        var problems = Provider.Check(Spec("    builtin: maybe\n    concurency: 2\n    embedding: 10\n    context: 9\n"));

        Assert.Equal(4, problems.Count);
        Assert.Contains(problems, p => p.Contains("'builtin' must be true or false, got 'maybe'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("unknown setting 'concurency' for provider 'onnx' (did you mean 'concurrency'?)", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("'embedding' only applies to the built-in tiny model", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("'context' must be between 16", StringComparison.Ordinal));
    }

    [Fact]
    public void Check_BuiltinWithPathAndBadEmbedding_BothReported()
    {
        var problems = Provider.Check(Spec("    builtin: true\n    path: /models/x\n    embedding: 30\n"));

        Assert.Equal(2, problems.Count);
        Assert.Contains(problems, p => p.StartsWith("agentflow.yaml:5:11:", StringComparison.Ordinal) && p.Contains("exclude each other", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("agentflow.yaml:6:16:", StringComparison.Ordinal) && p.Contains("multiple of 4", StringComparison.Ordinal));
    }

    [Fact]
    public void Check_PathIsTheConfigFile_PointsAtItsFolder()
    {
        var file = Path.Combine(fixture.Folder, "genai_config.json");

        var problem = Assert.Single(Provider.Check(Spec($"    path: {file}\n")));

        Assert.StartsWith("agentflow.yaml:4:11:", problem, StringComparison.Ordinal);
        Assert.Contains($"is a file; set 'path' to the folder holding genai_config.json, here '{fixture.Folder}'", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_FolderWithoutGenAIConfig_SaysItIsNotAGenAIFolder()
    {
        var folder = fixture.NewFolder();
        File.WriteAllBytes(Path.Combine(folder, "model.onnx"), TinyOnnxWriter.BuildModel(new TinyOnnxOptions()));

        var problem = Assert.Single(Provider.Check(Spec($"    path: {folder}\n")));

        Assert.Contains("has no genai_config.json", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_MissingFolder_SaysItDoesNotExist()
    {
        var problem = Assert.Single(Provider.Check(Spec("    path: does/not/exist\n")));

        Assert.Contains("does not exist", problem, StringComparison.Ordinal);
        Assert.Contains(Path.Combine(Environment.CurrentDirectory, "does/not/exist"), problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LoadAsync_BuiltinRegistryModel_GeneratesAndDescribesIt()
    {
        var spec = ModelRegistry.BuiltinModels.Single(m => m.Name == "tiny-onnx");

        await using var model = await Provider.LoadAsync(spec, CancellationToken.None);
        var response = await model.Client.GetResponseAsync([new ChatMessage(ChatRole.User, "hello")], new ChatOptions { MaxOutputTokens = 6 });

        Assert.Equal("onnx", model.Provider);
        Assert.Contains("built-in tiny ONNX decoder (format 1, seed 1, 1x64)", model.Description, StringComparison.Ordinal);
        Assert.Equal(64, model.FileSha256!.Length);
        Assert.Equal(6, response.Usage!.OutputTokenCount);
    }

    [Fact]
    public async Task LoadAsync_PathToAGenAIFolder_LoadsIt()
    {
        await using var model = await Provider.LoadAsync(Spec($"    path: {fixture.Folder}\n    context: 100\n"), CancellationToken.None);
        var response = await model.Client.GetResponseAsync([new ChatMessage(ChatRole.User, "hello")], new ChatOptions { MaxOutputTokens = 500 });

        Assert.Contains("ONNX Runtime GenAI llama (context 100, cpu)", model.Description, StringComparison.Ordinal);
        Assert.Equal(100, response.Usage!.TotalTokenCount);
    }

    [Fact]
    public async Task LoadAsync_CorruptDecoder_LocatedLoadError()
    {
        var folder = fixture.NewFolder();
        TinyOnnxWriter.Write(folder, new TinyOnnxOptions());
        await File.WriteAllTextAsync(Path.Combine(folder, TinyOnnxWriter.ModelFile), "not onnx");

        var ex = await Assert.ThrowsAsync<ModelConfigurationException>(() => Provider.LoadAsync(Spec($"    path: {folder}\n"), CancellationToken.None));

        Assert.StartsWith("agentflow.yaml:4:11: model 'm': ONNX Runtime GenAI could not load", ex.Message, StringComparison.Ordinal);
        Assert.Contains("complete model", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LoadAsync_CudaOnTheCpuBuild_LocatedErrorNamingTheSetting()
    {
        var ex = await Assert.ThrowsAsync<ModelConfigurationException>(
            () => Provider.LoadAsync(Spec($"    path: {fixture.Folder}\n    execution_provider: cuda\n"), CancellationToken.None));

        Assert.Contains("execution provider 'cuda' (setting 'execution_provider' at agentflow.yaml:5:25)", ex.Message, StringComparison.Ordinal);
        Assert.Contains("use execution_provider: cpu", ex.Message, StringComparison.Ordinal);
    }
}
