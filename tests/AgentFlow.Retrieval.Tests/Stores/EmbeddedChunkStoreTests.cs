using AgentFlow.Retrieval.Stores;
using AgentFlow.Retrieval.Tests.Support;
using Microsoft.Extensions.VectorData;

namespace AgentFlow.Retrieval.Tests.Stores;

public sealed class EmbeddedChunkStoreTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    internal static ChunkRecord Record(string source, int index, params float[] vector) => new()
    {
        Id = ChunkRecord.IdOf(source, index),
        Source = source,
        SourceHash = "h-" + source,
        ChunkIndex = index,
        ChunkCount = 1,
        Text = $"text of {source} {index}",
        Heading = index == 0 ? null : "Heading",
        Vector = vector,
    };

    [Fact]
    public async Task SearchAsync_ManyVectors_ReturnsTheExactTopKByCosineBestFirst()
    {
        using var store = new EmbeddedChunkStore("kb", Path.Combine(_folder.Path, "kb.db"));
        await store.EnsureCollectionExistsAsync(new CollectionInfo("minilm", 2), CancellationToken.None);
        var random = new Random(7);
        var records = Enumerable.Range(0, 500).Select(i => Record($"f{i}.md", 0, (float)random.NextDouble() - 0.5f, (float)random.NextDouble() - 0.5f)).ToList();
        await store.UpsertAsync(records);
        float[] query = [1, 0.25f];

        var hits = await store.SearchAsync(query, 5).ToListAsync();

        var expected = records
            .Select(r => (r.Id, Score: Cosine(query, r.Vector.Span)))
            .OrderByDescending(r => r.Score).Take(5).ToList();
        Assert.Equal(expected.Select(e => e.Id), hits.Select(h => h.Record.Id));
        Assert.All(hits.Zip(expected), p => Assert.Equal(p.Second.Score, p.First.Score!.Value, 4));
    }

    [Fact]
    public async Task ReplaceSourceAsync_ThenListSources_KeepsOneVersionPerFileAndDropsRemovedOnes()
    {
        using var store = new EmbeddedChunkStore("kb", Path.Combine(_folder.Path, "kb.db"));
        await store.EnsureCollectionExistsAsync(new CollectionInfo("minilm", 2), CancellationToken.None);
        await store.ReplaceSourceAsync("a.md", [Record("a.md", 0, 1, 0), Record("a.md", 1, 0, 1)], CancellationToken.None);
        await store.ReplaceSourceAsync("b.md", [Record("b.md", 0, 1, 1)], CancellationToken.None);

        await store.ReplaceSourceAsync("a.md", [Record("a.md", 0, 1, 0)], CancellationToken.None);
        await store.ReplaceSourceAsync("b.md", [], CancellationToken.None);

        var sources = await store.ListSourcesAsync(CancellationToken.None);
        Assert.Equal([("a.md", 1, true)], sources.Select(s => (s.Source, s.Stored, s.IsComplete)));
        Assert.Equal(1, await store.CountAsync(CancellationToken.None));
        Assert.Equal(new CollectionInfo("minilm", 2), await store.ReadInfoAsync(CancellationToken.None));
        var filtered = await store.GetAsync(r => r.Source == "a.md", 10).ToListAsync();
        Assert.Equal(["a.md#0"], filtered.Select(r => r.Id));
    }

    private static double Cosine(float[] a, ReadOnlySpan<float> b)
    {
        double dot = 0, na = 0, nb = 0;
        for (var i = 0; i < a.Length; i++)
        {
            dot += a[i] * b[i];
            na += a[i] * a[i];
            nb += b[i] * b[i];
        }

        return dot / Math.Sqrt(na * nb);
    }
}
