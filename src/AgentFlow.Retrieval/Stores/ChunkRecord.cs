using Microsoft.Extensions.VectorData;

namespace AgentFlow.Retrieval.Stores;

/// <summary>One chunk of one indexed file, as every store keeps it.</summary>
public sealed class ChunkRecord
{
    /// <summary><c>SOURCE#N</c>: the file and the chunk's 0-based position in it.</summary>
    [VectorStoreKey]
    public required string Id { get; init; }

    /// <summary>The file, relative to the indexed folder, with '/' separators.</summary>
    [VectorStoreData(IsIndexed = true)]
    public required string Source { get; init; }

    /// <summary>SHA-256 of the file's bytes when it was indexed: unchanged files are skipped on the next run.</summary>
    [VectorStoreData]
    public required string SourceHash { get; init; }

    /// <summary>0-based position of the chunk in its file.</summary>
    [VectorStoreData]
    public required int ChunkIndex { get; init; }

    /// <summary>How many chunks the file has: a file with fewer stored (an interrupted write) is indexed again.</summary>
    [VectorStoreData]
    public required int ChunkCount { get; init; }

    /// <summary>The heading path the chunk sits under (<c>Refunds › Damaged items</c>); null before the first heading.</summary>
    [VectorStoreData]
    public string? Heading { get; init; }

    /// <summary>The chunk's text.</summary>
    [VectorStoreData]
    public required string Text { get; init; }

    /// <summary>Tokens of the embedded text, counted with the embedder's tokenizer.</summary>
    [VectorStoreData]
    public int Tokens { get; init; }

    /// <summary>
    /// The embedding, unit length (stores compare by cosine); empty when read without vectors. The attribute states
    /// MiniLM's length; each collection keeps the length of its own embedder (<see cref="CollectionInfo"/>).
    /// </summary>
    [VectorStoreVector(384, DistanceFunction = DistanceFunction.CosineSimilarity)]
    public ReadOnlyMemory<float> Vector { get; init; }

    /// <summary>The chunk id of <paramref name="source"/>'s chunk <paramref name="index"/>.</summary>
    public static string IdOf(string source, int index) => $"{source}#{index.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
}

/// <summary>What a collection holds of one file.</summary>
/// <param name="Source">The file, relative to the indexed folder.</param>
/// <param name="SourceHash">SHA-256 of its bytes when indexed.</param>
/// <param name="ChunkCount">Chunks the file should have.</param>
/// <param name="Stored">Chunks actually stored (fewer after an interrupted write).</param>
public sealed record IndexedSource(string Source, string SourceHash, int ChunkCount, int Stored)
{
    /// <summary>Whether every chunk of the file is stored.</summary>
    public bool IsComplete => Stored == ChunkCount;
}

/// <summary>What a collection says about itself: the embedder its vectors come from and their length.</summary>
/// <param name="Embedder">Registry embedder name.</param>
/// <param name="Dimensions">Vector length.</param>
public sealed record CollectionInfo(string Embedder, int Dimensions);
