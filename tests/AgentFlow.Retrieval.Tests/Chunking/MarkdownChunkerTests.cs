using AgentFlow.Retrieval.Chunking;
using AgentFlow.Retrieval.Tests.Support;

namespace AgentFlow.Retrieval.Tests.Chunking;

public sealed class MarkdownChunkerTests(MiniLmFixture minilm) : IClassFixture<MiniLmFixture>
{
    [Fact]
    public void Chunk_HeadingsAndParagraphs_StartsAChunkAtEachHeadingWithItsPath()
    {
        var chunker = new MarkdownChunker(minilm.Generator, new ChunkingOptions());

        var chunks = chunker.Chunk("# Refunds\n\nIntro text.\n\n## Damaged items\n\nRefunded in full.\n\nNo need to return it.\n\n# Other\n\nMore.\n");

        Assert.Equal(
            [("Refunds", "Intro text."), ("Refunds › Damaged items", "Refunded in full.\n\nNo need to return it."), ("Other", "More.")],
            chunks.Select(c => (c.Heading, c.Text)));
        Assert.StartsWith("Refunds › Damaged items\n\n", chunks[1].EmbeddingText, StringComparison.Ordinal);
    }

    [Fact]
    public void Chunk_LongSection_StaysWithinTheTokenBudgetAndOverlaps()
    {
        var chunker = new MarkdownChunker(minilm.Generator, new ChunkingOptions { ChunkTokens = 40, OverlapTokens = 12 });
        var sentences = Enumerable.Range(1, 30).Select(i => $"Sentence number {i} talks about refunds.");

        var chunks = chunker.Chunk("# Policy\n\n" + string.Join(' ', sentences));

        Assert.True(chunks.Count > 3);
        Assert.All(chunks, c => Assert.True(c.Tokens <= 40, $"{c.Tokens} tokens: {c.EmbeddingText}"));
        Assert.All(chunks, c => Assert.Equal(minilm.Generator.CountTokens(c.EmbeddingText), c.Tokens));
        // The last sentence of a chunk opens the next one.
        var lastOfFirst = chunks[0].Text.Split(". ")[^1].TrimEnd('.');
        Assert.StartsWith(lastOfFirst, chunks[1].Text, StringComparison.Ordinal);
        Assert.Contains("Sentence number 30", chunks[^1].Text, StringComparison.Ordinal);
    }

    [Fact]
    public void CountTokens_Text_CountsWordPiecesWithoutMarkers()
    {
        Assert.Equal(0, minilm.Generator.CountTokens(" "));
        Assert.Equal(3, minilm.Generator.CountTokens("refunds are"));
    }
}
