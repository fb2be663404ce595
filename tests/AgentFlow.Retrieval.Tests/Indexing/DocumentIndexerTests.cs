using AgentFlow.Models;
using AgentFlow.Retrieval.Indexing;
using AgentFlow.Retrieval.Tests.Support;

namespace AgentFlow.Retrieval.Tests.Indexing;

public sealed class DocumentIndexerTests(MiniLmFixture minilm) : IClassFixture<MiniLmFixture>, IDisposable
{
    private readonly TempFolder _work = new();
    private readonly TempFolder _docs = new();

    public void Dispose()
    {
        _work.Dispose();
        _docs.Dispose();
    }

    private async Task<IndexSummary> IndexAsync(CollectionHost host)
    {
        var target = await host.OpenAsync("kb", mustExist: false, CancellationToken.None);
        return await DocumentIndexer.IndexAsync(target, new IndexRequest { Directory = _docs.Path }, null, TimeProvider.System, CancellationToken.None);
    }

    [Fact]
    public async Task IndexAsync_RunTwiceThenChangeAndDelete_SkipsUnchangedReindexesChangedRemovesDeleted()
    {
        _docs.Write("refunds.md", "# Refunds\n\nRefunds are paid within 5 days.\n");
        _docs.Write("shipping/times.md", "# Shipping\n\nDelivery takes 3 days.\n");
        _docs.Write("notes.txt", "Plain text notes about the office.\n");
        await using var host = minilm.Host(ModelRegistry.Parse("", "agentflow.yaml"), _work.Path);

        var first = await IndexAsync(host);
        var second = await IndexAsync(host);
        _docs.Write("refunds.md", "# Refunds\n\nRefunds are paid within 10 days.\n");
        File.Delete(Path.Combine(_docs.Path, "notes.txt"));
        var third = await IndexAsync(host);

        Assert.Equal((3, 3, 0, 0), (first.Files, first.Indexed, first.Skipped, first.Removed));
        Assert.Equal((3, 0, 3, 0), (second.Files, second.Indexed, second.Skipped, second.Removed));
        Assert.Equal((2, 1, 1, 1), (third.Files, third.Indexed, third.Skipped, third.Removed));
        var found = await host.RetrieveAsync("kb", "how long until I get my money back", 1, null, CancellationToken.None);
        Assert.Equal(("refunds.md", "Refunds"), (found[0].Source, found[0].Heading));
        Assert.Contains("10 days", found[0].Text, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(_work.Path, ".agentflow", "collections", "kb.db")));
    }

    [Fact]
    public async Task IndexAsync_BinaryAndHugeFiles_AreSkippedWithAWarning()
    {
        _docs.Write("ok.md", "# Ok\n\nFine.\n");
        File.WriteAllBytes(Path.Combine(_docs.Path, "image.md"), [0x89, 0x50, 0x4E, 0x47, 0, 0, 1, 2]);
        _docs.Write("huge.txt", new string('a', 2_000_000));
        await using var host = minilm.Host(ModelRegistry.Parse("", "agentflow.yaml"), _work.Path);

        var summary = await IndexAsync(host);

        Assert.Equal(1, summary.Indexed);
        Assert.Equal(["huge.txt: skipped", "image.md: skipped"], summary.Warnings.Select(w => w.Split(',')[0]).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task OpenAsync_DeclaredDimensionsDifferFromTheEmbedder_FailsBeforeAnythingIsWritten()
    {
        _docs.Write("ok.md", "# Ok\n\nFine.\n");
        var registry = ModelRegistry.Parse("collections:\n  kb: { embedder: minilm, dimensions: 768 }\n", "agentflow.yaml");
        await using var host = minilm.Host(registry, _work.Path);

        var error = await Assert.ThrowsAsync<RetrievalException>(() => IndexAsync(host));

        Assert.Contains("dimensions: 768", error.Message, StringComparison.Ordinal);
        Assert.Contains("384-dimensional", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_work.Path, ".agentflow")));
    }

    [Fact]
    public async Task CheckAsync_CollectionNeverIndexed_SaysSoAndHowToIndexIt()
    {
        await using var host = minilm.Host(ModelRegistry.Parse("", "agentflow.yaml"), _work.Path);

        var problems = await host.CheckAsync(["missing"], CancellationToken.None);

        Assert.Contains("agentflow index DIR --collection missing", problems["missing"], StringComparison.Ordinal);
    }
}
