using Microsoft.Extensions.AI;

namespace AgentFlow.Models;

/// <summary>
/// Loads embedding models of one kind (<c>provider: NAME</c> under <c>embedders:</c> in the registry): the built-in
/// MiniLM, an OpenAI-compatible <c>/v1/embeddings</c> endpoint, a GGUF through llama.cpp.
/// </summary>
public interface IEmbeddingProvider
{
    /// <summary>The provider name used in the registry (<c>provider: NAME</c>).</summary>
    string Name { get; }

    /// <summary>
    /// Checks a spec without loading anything heavy; one message per problem, naming the embedder, the setting and
    /// what to do. Empty when the spec is usable.
    /// </summary>
    IReadOnlyList<string> Check(ModelSpec spec);

    /// <summary>Loads the embedder. The caller owns and disposes the result.</summary>
    /// <exception cref="ModelConfigurationException">The embedder cannot be loaded; the message says why.</exception>
    Task<LoadedEmbedder> LoadAsync(ModelSpec spec, CancellationToken cancellationToken);
}

/// <summary>An embedding model ready to embed, with what indexing and run records need to say about it.</summary>
/// <param name="Spec">The registry entry it was loaded from.</param>
/// <param name="Generator">Embeds texts (batched).</param>
/// <param name="Dimensions">Length of its vectors; null when only the first call tells (remote endpoints without a <c>dimensions</c> setting).</param>
/// <param name="Tokens">Its own tokenizer, which chunking budgets are counted with; null when this process has none.</param>
/// <param name="Description">What it is (model, endpoint or file); never a secret.</param>
public sealed record LoadedEmbedder(
    ModelSpec Spec,
    IEmbeddingGenerator<string, Embedding<float>> Generator,
    int? Dimensions,
    ITokenCounter? Tokens,
    string Description) : IAsyncDisposable
{
    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        Generator.Dispose();
        return ValueTask.CompletedTask;
    }
}
