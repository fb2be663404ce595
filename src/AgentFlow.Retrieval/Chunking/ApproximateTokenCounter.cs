using AgentFlow.Models;

namespace AgentFlow.Retrieval.Chunking;

/// <summary>
/// Counts about four characters per token: for embedders whose tokenizer this process does not have (a remote
/// endpoint). Chunks then stay near the budget rather than exactly within it.
/// </summary>
internal sealed class ApproximateTokenCounter : ITokenCounter
{
    public static ApproximateTokenCounter Instance { get; } = new();

    public int CountTokens(string text) => string.IsNullOrEmpty(text) ? 0 : Math.Max(1, (text.Length + 3) / 4);
}
