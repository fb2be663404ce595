namespace AgentFlow.Models.Constraints;

/// <summary>
/// The bytes each token of a model writes into the output (the engine's own detokenizer, one token at a time), and
/// the tokens that end a generation. Built once per loaded model; shared by all its constrained requests.
/// </summary>
public sealed class TokenVocabulary
{
    private readonly byte[][] _texts;
    private readonly HashSet<int> _end;

    /// <summary>Creates the vocabulary.</summary>
    /// <param name="texts">By token id: the bytes it writes (empty for tokens that write nothing, such as control tokens).</param>
    /// <param name="endTokens">Ids that end the generation.</param>
    public TokenVocabulary(IReadOnlyList<byte[]> texts, IEnumerable<int> endTokens)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentNullException.ThrowIfNull(endTokens);
        _texts = [.. texts];
        _end = [.. endTokens];
    }

    /// <summary>Number of tokens.</summary>
    public int Count => _texts.Length;

    /// <summary>The bytes token <paramref name="id"/> writes.</summary>
    public ReadOnlySpan<byte> Text(int id) => _texts[id];

    /// <summary>Whether <paramref name="id"/> ends the generation.</summary>
    public bool IsEnd(int id) => _end.Contains(id);
}
