using System.Text;
using System.Text.RegularExpressions;
using AgentFlow.Models;

namespace AgentFlow.Retrieval.Chunking;

/// <summary>One chunk of a document.</summary>
/// <param name="Text">The chunk's own text (what a prompt shows).</param>
/// <param name="Heading">The heading path it sits under (<c>Refunds › Damaged items</c>); null before the first heading.</param>
/// <param name="EmbeddingText">What is embedded: the heading path, then the text (a section's words alone often do not say what it is about).</param>
/// <param name="Tokens">Tokens of <paramref name="EmbeddingText"/>, counted with the embedder's tokenizer.</param>
public sealed record TextChunk(string Text, string? Heading, string EmbeddingText, int Tokens);

/// <summary>Chunk sizes, in tokens of the embedder's own tokenizer.</summary>
public sealed record ChunkingOptions
{
    /// <summary>Default budget: MiniLM reads 256 word pieces.</summary>
    public const int DefaultChunkTokens = 256;

    /// <summary>Default overlap between consecutive chunks of one section.</summary>
    public const int DefaultOverlapTokens = 32;

    /// <summary>Most tokens a chunk may have, heading path included (16 to 8192).</summary>
    public int ChunkTokens { get; init; } = DefaultChunkTokens;

    /// <summary>Tokens of the end of a chunk repeated at the start of the next one of the same section (0 to half the budget).</summary>
    public int OverlapTokens { get; init; } = DefaultOverlapTokens;

    /// <summary>Checks the values.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public void Validate()
    {
        if (ChunkTokens is < 16 or > 8192)
        {
            throw new ArgumentOutOfRangeException(nameof(ChunkTokens), ChunkTokens, "--chunk-tokens must be from 16 to 8192");
        }

        if (OverlapTokens < 0 || OverlapTokens > ChunkTokens / 2)
        {
            throw new ArgumentOutOfRangeException(nameof(OverlapTokens), OverlapTokens, $"--overlap must be from 0 to half of --chunk-tokens ({ChunkTokens / 2})");
        }
    }
}

/// <summary>
/// Splits markdown (and plain text) into chunks within a token budget: a heading always starts a new chunk, sections
/// are packed paragraph by paragraph, and a paragraph too long for the budget is split between sentences (a sentence
/// too long, between words). Consecutive chunks of one section share <see cref="ChunkingOptions.OverlapTokens"/>.
/// Tokens are counted with the embedder's tokenizer, so a chunk is never cut off by the model.
/// </summary>
public sealed partial class MarkdownChunker
{
    private readonly ITokenCounter _tokens;
    private readonly ChunkingOptions _options;

    /// <summary>Creates a chunker counting with <paramref name="tokens"/>.</summary>
    public MarkdownChunker(ITokenCounter tokens, ChunkingOptions options)
    {
        _tokens = tokens ?? throw new ArgumentNullException(nameof(tokens));
        _options = options ?? throw new ArgumentNullException(nameof(options));
        options.Validate();
    }

    /// <summary>The chunks of <paramref name="text"/>, in document order.</summary>
    public IReadOnlyList<TextChunk> Chunk(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var chunks = new List<TextChunk>();
        foreach (var section in Sections(text.Replace("\r\n", "\n", StringComparison.Ordinal)))
        {
            Pack(section, chunks);
        }

        return chunks;
    }

    private void Pack(Section section, List<TextChunk> chunks)
    {
        var prefix = section.Heading is null ? string.Empty : section.Heading + "\n\n";
        var budget = Math.Max(8, _options.ChunkTokens - (prefix.Length == 0 ? 0 : _tokens.CountTokens(prefix)));
        var units = section.Blocks.SelectMany(Units).SelectMany(u => u.Tokens > budget ? SplitWords(u, budget) : [u]).ToList();
        var current = new List<Unit>();
        var used = 0;
        foreach (var unit in units)
        {
            if (current.Count > 0 && used + unit.Tokens > budget)
            {
                chunks.Add(Emit(section.Heading, prefix, current));
                // The next chunk starts with the end of this one (whole units within the overlap).
                var carried = new List<Unit>();
                var overlap = 0;
                for (var i = current.Count - 1; i >= 0 && overlap + current[i].Tokens <= _options.OverlapTokens && overlap + current[i].Tokens + unit.Tokens <= budget; i--)
                {
                    carried.Insert(0, current[i]);
                    overlap += current[i].Tokens;
                }

                current = carried;
                used = overlap;
            }

            current.Add(unit);
            used += unit.Tokens;
        }

        if (current.Count > 0)
        {
            chunks.Add(Emit(section.Heading, prefix, current));
        }
    }

    private TextChunk Emit(string? heading, string prefix, List<Unit> units)
    {
        var text = new StringBuilder();
        foreach (var unit in units)
        {
            if (text.Length > 0)
            {
                text.Append(unit.Separator);
            }

            text.Append(unit.Text);
        }

        var body = text.ToString();
        var embedded = prefix + body;
        return new TextChunk(body, heading, embedded, _tokens.CountTokens(embedded));
    }

    // A paragraph becomes sentences, a list its items, a code block its lines when it has to be split.
    private IEnumerable<Unit> Units(Block block)
    {
        string[] pieces = block.Kind switch
        {
            BlockKind.Code => [block.Text],
            BlockKind.List => block.Text.Split('\n'),
            _ => SentenceBoundary().Split(block.Text),
        };
        var separator = block.Kind == BlockKind.List ? "\n" : " ";
        for (var i = 0; i < pieces.Length; i++)
        {
            if (pieces[i].Trim().Length == 0)
            {
                continue;
            }

            yield return new Unit(pieces[i].Trim('\n'), _tokens.CountTokens(pieces[i]), i == 0 ? "\n\n" : separator);
        }
    }

    private IEnumerable<Unit> SplitWords(Unit unit, int budget)
    {
        var words = unit.Text.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
        var piece = new StringBuilder();
        var tokens = 0;
        var separator = unit.Separator;
        foreach (var word in words)
        {
            var count = _tokens.CountTokens(word);
            if (piece.Length > 0 && tokens + count > budget)
            {
                yield return new Unit(piece.ToString(), tokens, separator);
                piece.Clear();
                tokens = 0;
                separator = " ";
            }

            if (piece.Length > 0)
            {
                piece.Append(' ');
            }

            // A single "word" over the budget (a long URL, base64) is cut by characters.
            var text = count > budget ? word[..Math.Max(1, word.Length * budget / count)] : word;
            piece.Append(text);
            tokens += Math.Min(count, budget);
        }

        if (piece.Length > 0)
        {
            yield return new Unit(piece.ToString(), tokens, separator);
        }
    }

    private static IEnumerable<Section> Sections(string text)
    {
        var headings = new List<(int Level, string Title)>();
        var blocks = new List<Block>();
        var lines = text.Split('\n');
        var paragraph = new List<string>();
        string? heading = null;

        void EndParagraph()
        {
            if (paragraph.Count > 0)
            {
                var isList = paragraph.All(l => ListItem().IsMatch(l) || l.StartsWith("  ", StringComparison.Ordinal));
                blocks.Add(new Block(isList ? BlockKind.List : BlockKind.Paragraph, string.Join(isList ? "\n" : " ", paragraph.Select(l => isList ? l.TrimEnd() : l.Trim()))));
                paragraph.Clear();
            }
        }

        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            if (line.TrimStart().StartsWith("```", StringComparison.Ordinal))
            {
                EndParagraph();
                var code = new List<string> { line };
                while (++i < lines.Length)
                {
                    code.Add(lines[i]);
                    if (lines[i].TrimStart().StartsWith("```", StringComparison.Ordinal))
                    {
                        break;
                    }
                }

                blocks.Add(new Block(BlockKind.Code, string.Join('\n', code)));
                continue;
            }

            var match = HeadingLine().Match(line);
            if (match.Success)
            {
                EndParagraph();
                if (blocks.Count > 0)
                {
                    yield return new Section(heading, [.. blocks]);
                    blocks.Clear();
                }

                var level = match.Groups[1].Length;
                headings.RemoveAll(h => h.Level >= level);
                headings.Add((level, match.Groups[2].Value.Trim().TrimEnd('#').Trim()));
                heading = string.Join(" › ", headings.Select(h => h.Title));
                continue;
            }

            if (line.Trim().Length == 0)
            {
                EndParagraph();
            }
            else
            {
                paragraph.Add(line);
            }
        }

        EndParagraph();
        if (blocks.Count > 0)
        {
            yield return new Section(heading, [.. blocks]);
        }
    }

    [GeneratedRegex(@"^(#{1,6})\s+(.+)$")]
    private static partial Regex HeadingLine();

    [GeneratedRegex(@"^\s*([-*+]|\d+[.)])\s+")]
    private static partial Regex ListItem();

    [GeneratedRegex(@"(?<=[.!?])\s+(?=[\p{Lu}\d""'(\[])")]
    private static partial Regex SentenceBoundary();

    private enum BlockKind
    {
        Paragraph,
        List,
        Code,
    }

    private sealed record Block(BlockKind Kind, string Text);

    private sealed record Section(string? Heading, Block[] Blocks);

    private sealed record Unit(string Text, int Tokens, string Separator);
}
