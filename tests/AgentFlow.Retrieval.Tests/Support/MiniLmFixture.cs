using AgentFlow.Models;
using AgentFlow.Models.MiniLM;
using AgentFlow.Retrieval.Embedding;

namespace AgentFlow.Retrieval.Tests.Support;

/// <summary>The real MiniLM model, loaded once per test class (about a second and 90 MB).</summary>
public sealed class MiniLmFixture : IAsyncLifetime
{
    public MiniLmEmbeddingGenerator Generator { get; private set; } = null!;

    public Task InitializeAsync()
    {
        Generator = new MiniLmEmbeddingGenerator();
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        Generator.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>A collection host over <paramref name="registry"/> in <paramref name="folder"/>, sharing this fixture's model.</summary>
    public CollectionHost Host(ModelRegistry registry, string folder) =>
        new(registry, new EmbedderHost(registry, [new SharedProvider(Generator)]), new RetrievalOptions { WorkingDirectory = folder });

    // The fixture's model under provider 'minilm', not disposed with a host (the fixture owns it).
    private sealed class SharedProvider(MiniLmEmbeddingGenerator generator) : IEmbeddingProvider
    {
        public string Name => "minilm";

        public IReadOnlyList<string> Check(ModelSpec spec) => [];

        public Task<LoadedEmbedder> LoadAsync(ModelSpec spec, CancellationToken cancellationToken) =>
            Task.FromResult(new LoadedEmbedder(spec, new NonDisposing(generator), MiniLmEmbeddingGenerator.Dimensions, generator, "minilm (test fixture)"));
    }

    private sealed class NonDisposing(MiniLmEmbeddingGenerator inner) : Microsoft.Extensions.AI.IEmbeddingGenerator<string, Microsoft.Extensions.AI.Embedding<float>>
    {
        public Task<Microsoft.Extensions.AI.GeneratedEmbeddings<Microsoft.Extensions.AI.Embedding<float>>> GenerateAsync(IEnumerable<string> values, Microsoft.Extensions.AI.EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default) =>
            inner.GenerateAsync(values, options, cancellationToken);

        public object? GetService(Type serviceType, object? serviceKey = null) => inner.GetService(serviceType, serviceKey);

        public void Dispose()
        {
            // The fixture disposes the model.
        }
    }
}

/// <summary>A temporary folder, deleted afterwards.</summary>
public sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("agentflow-rag-").FullName;

    public string Write(string relative, string text)
    {
        var full = System.IO.Path.Combine(Path, relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        File.WriteAllText(full, text);
        return full;
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>The repository's own files (examples/kb).</summary>
public static class Repository
{
    public static string Root
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "AgentFlow.slnx")))
            {
                dir = dir.Parent;
            }

            return dir?.FullName ?? throw new InvalidOperationException("AgentFlow.slnx not found above the test binaries");
        }
    }
}
