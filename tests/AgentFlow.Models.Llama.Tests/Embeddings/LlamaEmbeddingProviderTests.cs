using AgentFlow.Models.Llama.Providers;
using AgentFlow.Models.Llama.Tests.Support;
using AgentFlow.Diagnostics;
using Microsoft.Extensions.AI;

namespace AgentFlow.Models.Llama.Tests.Embeddings;

/// <summary><c>provider: llama</c> under <c>embedders:</c>, on the project's own tiny GGUF and the real llama.cpp.</summary>
public sealed class LlamaEmbeddingProviderTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    private static ModelSpec Spec(params (string Key, string Value, int Line)[] settings) => new(
        "tiny-embed",
        "llama",
        settings.ToDictionary(s => s.Key, s => new ModelSetting(s.Value, new SourceLocation("agentflow.yaml", s.Line, 5))),
        new SourceLocation("agentflow.yaml", 3, 3));

    [Fact]
    public async Task GenerateAsync_TinyGguf_UnitVectorsOfTheModelsWidthSameTextSameVector()
    {
        await using var embedder = await new LlamaEmbeddingProvider().LoadAsync(Spec(("path", fixture.ModelPath, 4), ("threads", "1", 5)), CancellationToken.None);

        var vectors = await embedder.Generator.GenerateAsync(["refund policy", "shipping times", "refund policy"]);

        Assert.Equal(3, vectors.Count);
        Assert.NotNull(embedder.Dimensions);
        Assert.All(vectors, v => Assert.Equal(embedder.Dimensions, v.Vector.Length));
        Assert.All(vectors, v => Assert.Equal(1.0, Math.Sqrt(v.Vector.ToArray().Sum(x => (double)x * x)), 3));
        Assert.Equal(vectors[0].Vector.ToArray(), vectors[2].Vector.ToArray());   // deterministic
        Assert.NotEqual(vectors[0].Vector.ToArray(), vectors[1].Vector.ToArray());
        Assert.Contains("GGUF", embedder.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_MissingPathUnknownKeyAndBadContext_ReportsEachWithItsLocation()
    {
        var problems = new LlamaEmbeddingProvider().Check(Spec(("contxt", "512", 4), ("context", "10", 5)));

        Assert.Equal(3, problems.Count);
        Assert.Contains(problems, p => p.StartsWith("agentflow.yaml:4:5", StringComparison.Ordinal) && p.Contains("unknown setting 'contxt'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("needs 'path: FILE.gguf'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("agentflow.yaml:5:5", StringComparison.Ordinal) && p.Contains("from 64 to 32768", StringComparison.Ordinal));
    }

    [Fact]
    public async Task LoadAsync_NotAGguf_ModelConfigurationErrorNamingTheFile()
    {
        var file = Path.Combine(fixture.Directory, "broken.gguf");
        await File.WriteAllTextAsync(file, "not a model");

        var ex = await Assert.ThrowsAsync<ModelConfigurationException>(() => new LlamaEmbeddingProvider().LoadAsync(Spec(("path", file, 4)), CancellationToken.None));

        Assert.Contains("broken.gguf", ex.Message, StringComparison.Ordinal);
        Assert.StartsWith("agentflow.yaml:4:5", ex.Message, StringComparison.Ordinal);
    }
}
