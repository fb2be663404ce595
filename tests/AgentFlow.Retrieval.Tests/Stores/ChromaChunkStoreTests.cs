using System.Net;
using System.Net.Sockets;
using AgentFlow.Models;
using AgentFlow.Retrieval.Indexing;
using AgentFlow.Retrieval.Stores;
using AgentFlow.Retrieval.Tests.Support;

namespace AgentFlow.Retrieval.Tests.Stores;

/// <summary>A fact that needs the real Chroma server scripts/test.sh starts (AGENTFLOW_TEST_CHROMA); skipped, and says so, without it.</summary>
public sealed class ChromaFactAttribute : FactAttribute
{
    public ChromaFactAttribute()
    {
        if (string.IsNullOrEmpty(Url))
        {
            Skip = "set AGENTFLOW_TEST_CHROMA=http://127.0.0.1:PORT (scripts/test.sh does) to run against a real Chroma server";
        }
    }

    public static string? Url => Environment.GetEnvironmentVariable("AGENTFLOW_TEST_CHROMA");
}

public sealed class ChromaChunkStoreTests(MiniLmFixture minilm) : IClassFixture<MiniLmFixture>, IDisposable
{
    private readonly TempFolder _work = new();
    private readonly TempFolder _docs = new();

    public void Dispose()
    {
        _work.Dispose();
        _docs.Dispose();
    }

    [ChromaFact]
    public async Task IndexAndRetrieve_RealChroma_SkipsUnchangedRemovesDeletedAndFindsThePage()
    {
        var name = "t" + Guid.NewGuid().ToString("N")[..10];
        var registry = ModelRegistry.Parse($"collections:\n  {name}: {{ store: chroma, url: {ChromaFactAttribute.Url}, embedder: minilm, dimensions: 384 }}\n", "agentflow.yaml");
        _docs.Write("refunds.md", "# Refunds\n\nDamaged items are refunded in full.\n");
        _docs.Write("shipping.md", "# Shipping\n\nStandard delivery takes 3 to 5 business days.\n");
        await using var host = minilm.Host(registry, _work.Path);
        try
        {
            var first = await IndexAsync(host, name);
            var second = await IndexAsync(host, name);
            File.Delete(Path.Combine(_docs.Path, "shipping.md"));
            var third = await IndexAsync(host, name);
            var found = await host.RetrieveAsync(name, "my order arrived broken", 2, null, CancellationToken.None);

            Assert.Equal((2, 0), (first.Indexed, first.Skipped));
            Assert.Equal((0, 2), (second.Indexed, second.Skipped));
            Assert.Equal(1, third.Removed);
            Assert.Equal(["refunds.md"], found.Select(c => c.Source));
            Assert.InRange(found[0].Score, 0.2, 1);
        }
        finally
        {
            await host.StoreOf(registry.Collections[name]).EnsureCollectionDeletedAsync();
        }
    }

    [Fact]
    public async Task ReadInfoAsync_ChromaDown_ErrorNamesTheUrl()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        using var http = new HttpClient();
        using var store = new ChromaChunkStore("kb", new Uri($"http://127.0.0.1:{port}"), http);

        var error = await Assert.ThrowsAsync<RetrievalException>(() => store.ReadInfoAsync(CancellationToken.None));

        Assert.Contains($"http://127.0.0.1:{port}", error.Message, StringComparison.Ordinal);
        Assert.Contains("not reachable", error.Message, StringComparison.Ordinal);
    }

    private async Task<IndexSummary> IndexAsync(CollectionHost host, string name)
    {
        var target = await host.OpenAsync(name, mustExist: false, CancellationToken.None);
        return await DocumentIndexer.IndexAsync(target, new IndexRequest { Directory = _docs.Path }, null, TimeProvider.System, CancellationToken.None);
    }
}
