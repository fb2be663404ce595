using System.Security.Cryptography;
using System.Text;
using AgentFlow.Retrieval.Chunking;
using AgentFlow.Retrieval.Stores;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.FileSystemGlobbing;

namespace AgentFlow.Retrieval.Indexing;

/// <summary>What to index and how to chunk it.</summary>
public sealed record IndexRequest
{
    /// <summary>Files indexed when no glob is given: markdown and text.</summary>
    public static IReadOnlyList<string> DefaultGlobs { get; } = ["**/*.md", "**/*.markdown", "**/*.txt"];

    /// <summary>Files larger than this are skipped with a warning (default 1 MiB: a document, not a data dump).</summary>
    public const long DefaultMaxFileBytes = 1 << 20;

    /// <summary>The folder indexed; sources are paths relative to it.</summary>
    public required string Directory { get; init; }

    /// <summary>Which files, relative to <see cref="Directory"/> (<c>**/*.md</c>).</summary>
    public IReadOnlyList<string> Globs { get; init; } = DefaultGlobs;

    /// <summary>Chunk budget and overlap.</summary>
    public ChunkingOptions Chunking { get; init; } = new();

    /// <summary>Larger files are skipped with a warning.</summary>
    public long MaxFileBytes { get; init; } = DefaultMaxFileBytes;
}

/// <summary>Where an index run is.</summary>
/// <param name="Done">Files handled so far.</param>
/// <param name="Total">Files found.</param>
/// <param name="Source">The file just handled.</param>
/// <param name="Chunks">Chunks written so far.</param>
public sealed record IndexProgress(int Done, int Total, string Source, int Chunks);

/// <summary>What an index run did.</summary>
public sealed record IndexSummary
{
    /// <summary>Files found by the globs.</summary>
    public int Files { get; init; }

    /// <summary>Files (re)indexed: new or changed.</summary>
    public int Indexed { get; init; }

    /// <summary>Files unchanged since the last run (same content hash), not embedded again.</summary>
    public int Skipped { get; init; }

    /// <summary>Files removed from the collection: deleted from the folder, or now unreadable.</summary>
    public int Removed { get; init; }

    /// <summary>Chunks written.</summary>
    public int Chunks { get; init; }

    /// <summary>Tokens embedded.</summary>
    public long Tokens { get; init; }

    /// <summary>Wall time.</summary>
    public TimeSpan Elapsed { get; init; }

    /// <summary>Files skipped because they are binary, too large or not UTF-8, each with why.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];
}

/// <summary>
/// Indexes a folder into a collection incrementally: each file's SHA-256 is compared with the one stored with its
/// chunks, so unchanged files are skipped, changed ones re-chunked and re-embedded (their chunks replaced file by file),
/// and files gone from the folder removed. Dimensions are checked before the first write; an interrupted run leaves
/// whole files only (the next run finishes the rest).
/// </summary>
public static class DocumentIndexer
{
    /// <summary>Indexes <paramref name="request"/>'s folder into <paramref name="target"/>.</summary>
    /// <exception cref="RetrievalException">The folder does not exist, or the embedder's vectors do not fit the collection.</exception>
    public static async Task<IndexSummary> IndexAsync(CollectionHandle target, IndexRequest request, IProgress<IndexProgress>? progress, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(time);
        var started = time.GetTimestamp();
        var root = Path.GetFullPath(request.Directory);
        if (!Directory.Exists(root))
        {
            throw new RetrievalException($"folder '{request.Directory}' does not exist; pass the folder of the documents to index");
        }

        var matcher = new Matcher(StringComparison.Ordinal);
        matcher.AddIncludePatterns(request.Globs);
        var files = matcher.GetResultsInFullPath(root).Select(f => (Full: f, Source: Path.GetRelativePath(root, f).Replace('\\', '/'))).OrderBy(f => f.Source, StringComparer.Ordinal).ToList();
        var chunker = new MarkdownChunker(target.Embedder.Tokens ?? ApproximateTokenCounter.Instance, request.Chunking);
        if (!target.Exists)
        {
            await target.Store.EnsureCollectionExistsAsync(new CollectionInfo(target.Spec.Embedder, target.Dimensions), cancellationToken).ConfigureAwait(false);
        }

        var indexed = (await target.Store.ListSourcesAsync(cancellationToken).ConfigureAwait(false)).ToDictionary(s => s.Source, StringComparer.Ordinal);
        var warnings = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int done = 0, written = 0, skipped = 0, chunkCount = 0, removed = 0;
        long tokens = 0;
        foreach (var (full, source) in files)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var bytes = ReadDocument(full, source, request.MaxFileBytes, warnings);
            if (bytes is not null)
            {
                seen.Add(source);
                var hash = Convert.ToHexStringLower(SHA256.HashData(bytes));
                if (indexed.TryGetValue(source, out var known) && known.SourceHash == hash && known.IsComplete)
                {
                    skipped++;
                }
                else
                {
                    var chunks = await EmbedAsync(target, chunker, source, hash, Encoding.UTF8.GetString(bytes), cancellationToken).ConfigureAwait(false);
                    await target.Store.ReplaceSourceAsync(source, chunks, cancellationToken).ConfigureAwait(false);
                    written++;
                    chunkCount += chunks.Count;
                    tokens += chunks.Sum(c => (long)c.Tokens);
                }
            }

            progress?.Report(new IndexProgress(++done, files.Count, source, chunkCount));
        }

        foreach (var gone in indexed.Keys.Where(s => !seen.Contains(s)))
        {
            await target.Store.ReplaceSourceAsync(gone, [], cancellationToken).ConfigureAwait(false);
            removed++;
        }

        return new IndexSummary
        {
            Files = files.Count,
            Indexed = written,
            Skipped = skipped,
            Removed = removed,
            Chunks = chunkCount,
            Tokens = tokens,
            Elapsed = time.GetElapsedTime(started),
            Warnings = warnings,
        };
    }

    private static async Task<List<ChunkRecord>> EmbedAsync(CollectionHandle target, MarkdownChunker chunker, string source, string hash, string text, CancellationToken cancellationToken)
    {
        var chunks = chunker.Chunk(text);
        if (chunks.Count == 0)
        {
            return [];
        }

        var embeddings = await target.Embedder.Generator.GenerateAsync(chunks.Select(c => c.EmbeddingText), cancellationToken: cancellationToken).ConfigureAwait(false);
        var records = new List<ChunkRecord>(chunks.Count);
        for (var i = 0; i < chunks.Count; i++)
        {
            var vector = embeddings[i].Vector;
            if (vector.Length != target.Dimensions)
            {
                // Before anything of this file is written: a collection never mixes vector lengths.
                throw new RetrievalException($"embedder '{target.Spec.Embedder}' returned a {vector.Length}-dimensional vector for {source}, but collection '{target.Spec.Name}' holds {target.Dimensions}-dimensional ones; nothing of this file was written");
            }

            records.Add(new ChunkRecord
            {
                Id = ChunkRecord.IdOf(source, i),
                Source = source,
                SourceHash = hash,
                ChunkIndex = i,
                ChunkCount = chunks.Count,
                Heading = chunks[i].Heading,
                Text = chunks[i].Text,
                Tokens = chunks[i].Tokens,
                Vector = vector,
            });
        }

        return records;
    }

    // Null (and a warning) for what is not a document: too large, binary, not UTF-8.
    private static byte[]? ReadDocument(string path, string source, long maxBytes, List<string> warnings)
    {
        var length = new FileInfo(path).Length;
        if (length > maxBytes)
        {
            warnings.Add($"{source}: skipped, {length:N0} bytes is more than {maxBytes:N0} (a document, not a data dump)");
            return null;
        }

        var bytes = File.ReadAllBytes(path);
        if (bytes.AsSpan(0, Math.Min(bytes.Length, 8000)).Contains((byte)0))
        {
            warnings.Add($"{source}: skipped, it is binary (it has NUL bytes)");
            return null;
        }

        try
        {
            _ = new UTF8Encoding(false, throwOnInvalidBytes: true).GetCharCount(bytes);
        }
        catch (DecoderFallbackException)
        {
            warnings.Add($"{source}: skipped, it is not UTF-8 text");
            return null;
        }

        return bytes;
    }
}
