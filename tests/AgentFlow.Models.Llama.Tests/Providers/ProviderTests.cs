using System.Security.Cryptography;
using AgentFlow.Diagnostics;
using AgentFlow.Models.Llama.Builtin;
using AgentFlow.Models.Llama.Chat;
using AgentFlow.Models.Llama.Hosting;
using AgentFlow.Models.Llama.Providers;
using AgentFlow.Models.Llama.Tests.Support;
using Microsoft.Extensions.AI;

namespace AgentFlow.Models.Llama.Tests.Providers;

public sealed class ProviderTests : IDisposable
{
    private readonly TempDirectory _home = new();

    public void Dispose() => _home.Dispose();

    private static ModelSpec Spec(string name, string provider, params (string Key, string Value, int Line)[] settings) => new(
        name,
        provider,
        settings.ToDictionary(s => s.Key, s => new ModelSetting(s.Value, new SourceLocation("agentflow.yaml", s.Line, 5))),
        new SourceLocation("agentflow.yaml", 3, 3));

    private BuiltinModelProvider Builtin() =>
        new(new BuiltinModelStore(Path.Combine(_home.Path, "models")), new FileHashCache(Path.Combine(_home.Path, "cache")));

    private LlamaModelProvider Llama() => new(new FileHashCache(Path.Combine(_home.Path, "cache")));

    [Fact]
    public void LlamaCheck_MissingFile_MessageNamesLocationModelSettingAndFix()
    {
        var missing = Path.Combine(_home.Path, "x", "y.gguf");

        var problems = Llama().Check(Spec("qwen", "llama", ("path", missing, 4)));

        Assert.Equal([$"agentflow.yaml:4:5: model 'qwen': file '{missing}' (setting 'path') does not exist; download a GGUF file there or fix the path"], problems);
    }

    [Fact]
    public async Task LlamaLoadAsync_MissingFile_ThrowsModelConfigurationException()
    {
        var missing = Path.Combine(_home.Path, "nope.gguf");

        var ex = await Assert.ThrowsAsync<ModelConfigurationException>(() => Llama().LoadAsync(Spec("qwen", "llama", ("path", missing, 4)), CancellationToken.None));

        Assert.StartsWith("agentflow.yaml:4:5: model 'qwen': file ", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LlamaCheck_NoPath_SaysPathIsRequired()
    {
        var problem = Assert.Single(Llama().Check(Spec("qwen", "llama")));

        Assert.StartsWith("agentflow.yaml:3:3: model 'qwen': setting 'path' is required", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void LlamaCheck_UnknownAndInvalidSettings_EachReported()
    {
        var file = WriteTinyFile();

        var problems = Llama().Check(Spec("qwen", "llama", ("path", file, 4), ("contxt", "8192", 5), ("threads", "many", 6)));

        Assert.Equal(2, problems.Count);
        Assert.Equal(
            "agentflow.yaml:5:5: model 'qwen': unknown setting 'contxt' for provider 'llama' (did you mean 'context'?); the allowed settings are path, context, threads, gpu_layers, batch, concurrency, chat_template",
            problems[0]);
        Assert.StartsWith("agentflow.yaml:6:5: model 'qwen': setting 'threads' must be a whole number", problems[1], StringComparison.Ordinal);
    }

    [Fact]
    public void LlamaCheck_NotGguf_Reported()
    {
        var file = _home.File("model.bin");
        File.WriteAllText(file, "not a model");

        var problem = Assert.Single(Llama().Check(Spec("qwen", "llama", ("path", file, 4))));

        Assert.Contains("is not a GGUF file", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void LlamaOptions_RelativePathAndTilde_Resolved()
    {
        var spec = new ModelSpec(
            "qwen",
            "llama",
            new Dictionary<string, ModelSetting> { ["path"] = new("models/q.gguf", new SourceLocation("/etc/af/agentflow.yaml", 4, 5)) },
            new SourceLocation("/etc/af/agentflow.yaml", 3, 3));
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);

        Assert.Equal("/etc/af/models/q.gguf", LlamaModelOptions.Create(spec).Path);
        Assert.Equal(Path.Combine(home, "m/q.gguf"), spec.ResolvePath("~/m/q.gguf"));
    }

    [Fact]
    public void LlamaOptions_Defaults_AsDocumented()
    {
        var options = LlamaModelOptions.Create(Spec("qwen", "llama", ("path", "/m.gguf", 4)));

        Assert.Equal(4096, options.ContextSize);
        Assert.Equal(Environment.ProcessorCount, options.Threads);
        Assert.Equal(0, options.GpuLayers);
        Assert.Equal(512, options.BatchSize);
        Assert.Equal(1, options.Concurrency);
        Assert.Null(options.ChatTemplate);
    }

    [Fact]
    public async Task LlamaLoadAsync_GgufFile_GeneratesWithHashAndDescription()
    {
        var file = WriteTinyFile();

        await using var model = await Llama().LoadAsync(Spec("local", "llama", ("path", file, 4), ("context", "512", 5), ("threads", "1", 6)), CancellationToken.None);
        var response = await model.Client.GetResponseAsync([new ChatMessage(ChatRole.User, "hi")], new ChatOptions { MaxOutputTokens = 8 });

        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file))), model.FileSha256);
        Assert.Equal($"llama.cpp llama (0.1M parameters, context 512) at {file}", model.Description);
        Assert.Equal("local", response.ModelId);
        Assert.Equal(8, response.Usage!.OutputTokenCount);
    }

    [Fact]
    public async Task LlamaLoadAsync_CorruptGguf_ModelConfigurationException()
    {
        var file = _home.File("broken.gguf");
        File.WriteAllBytes(file, TinyGgufWriter.WriteToArray(new TinyGgufOptions())[..4096]);

        var ex = await Assert.ThrowsAsync<ModelConfigurationException>(() => Llama().LoadAsync(Spec("broken", "llama", ("path", file, 4)), CancellationToken.None));

        Assert.StartsWith($"agentflow.yaml:4:5: model 'broken': llama.cpp could not load '{file}'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BuiltinLoadAsync_Defaults_WritesFileAndDescribesIt()
    {
        var provider = Builtin();

        await using var model = await provider.LoadAsync(Spec("builtin", "builtin"), CancellationToken.None);
        var response = await model.Client.GetResponseAsync([new ChatMessage(ChatRole.User, "hi")], new ChatOptions { MaxOutputTokens = 8 });

        var path = Path.Combine(_home.Path, "models", new TinyGgufOptions().FileName());
        Assert.Equal($"built-in tiny llama (format 1, seed 1, 2x64) at {path}", model.Description);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path))), model.FileSha256);
        Assert.Equal("builtin", model.Provider);
        Assert.Equal(8, response.Usage!.OutputTokenCount);
        Assert.Equal("llama.cpp", model.Client.GetService<ChatClientMetadata>()!.ProviderName);
    }

    [Fact]
    public async Task BuiltinLoadAsync_Settings_ShapeSeedAndContextApplied()
    {
        var spec = Spec("small", "builtin", ("seed", "9", 4), ("layers", "1", 5), ("embedding", "32", 6), ("context", "256", 7));

        await using var model = await Builtin().LoadAsync(spec, CancellationToken.None);

        Assert.StartsWith("built-in tiny llama (format 1, seed 9, 1x32) at ", model.Description, StringComparison.Ordinal);
        Assert.Equal(256, Assert.IsType<LlamaChatClient>(model.Client).ContextSize);
        await Assert.ThrowsAsync<PromptTooLongException>(() => model.Client.GetResponseAsync([new ChatMessage(ChatRole.User, new string('z', 300))]));
    }

    [Fact]
    public void BuiltinCheck_BadSettings_EachReported()
    {
        var problems = Builtin().Check(Spec("builtin", "builtin", ("layers", "0", 4), ("embedding", "65", 5), ("path", "/x", 6)));

        Assert.Equal(3, problems.Count);
        Assert.Contains(problems, p => p.StartsWith("agentflow.yaml:6:5: model 'builtin': unknown setting 'path'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("agentflow.yaml:4:5: model 'builtin': setting 'layers' must be between 1 and 32", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("agentflow.yaml:5:5: model 'builtin': setting 'embedding' must be even", StringComparison.Ordinal));
    }

    [Fact]
    public async Task BuiltinLoadAsync_BadSettings_Throws()
    {
        await Assert.ThrowsAsync<ModelConfigurationException>(() => Builtin().LoadAsync(Spec("builtin", "builtin", ("layers", "x", 4)), CancellationToken.None));
    }

    private string WriteTinyFile()
    {
        var file = _home.File("tiny.gguf");
        if (!File.Exists(file))
        {
            TinyGgufWriter.WriteFile(file, new TinyGgufOptions());
        }

        return file;
    }
}
