using System.Linq.Expressions;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.VectorData;

namespace AgentFlow.Retrieval.Stores;

/// <summary>
/// A collection of chunks in one store, behind Microsoft.Extensions.VectorData's <see cref="VectorStoreCollection{TKey, TRecord}"/>,
/// plus what incremental indexing needs from any store: the collection's embedder and dimensions, the files it holds
/// and replacing one file's chunks. Implemented by the embedded store (<see cref="EmbeddedChunkStore"/>) and Chroma
/// (<see cref="ChromaChunkStore"/>).
/// </summary>
public abstract class ChunkStore : VectorStoreCollection<string, ChunkRecord>
{
    /// <summary>Where the collection lives, for messages (a file path or a server URL); never a secret.</summary>
    public abstract string Location { get; }

    /// <summary>The embedder and dimensions the collection was created with; null when it does not exist.</summary>
    public abstract Task<CollectionInfo?> ReadInfoAsync(CancellationToken cancellationToken);

    /// <summary>Creates the collection for vectors of <paramref name="info"/>'s embedder, if it does not exist.</summary>
    public abstract Task EnsureCollectionExistsAsync(CollectionInfo info, CancellationToken cancellationToken);

    /// <summary>How many chunks the collection holds.</summary>
    public abstract Task<long> CountAsync(CancellationToken cancellationToken);

    /// <summary>Every file the collection holds chunks of, with its hash and how many of its chunks are stored.</summary>
    public virtual async Task<IReadOnlyList<IndexedSource>> ListSourcesAsync(CancellationToken cancellationToken)
    {
        var sources = new Dictionary<string, (string Hash, int Count, int Stored)>(StringComparer.Ordinal);
        await foreach (var record in GetAsync(_ => true, int.MaxValue, new FilteredRecordRetrievalOptions<ChunkRecord> { IncludeVectors = false }, cancellationToken).ConfigureAwait(false))
        {
            (string Hash, int Count, int Stored) seen = sources.TryGetValue(record.Source, out var known) ? known : (record.SourceHash, record.ChunkCount, 0);
            // Chunks of two different versions of a file (an interrupted write) never count as complete.
            sources[record.Source] = seen.Hash == record.SourceHash && seen.Stored >= 0 ? (seen.Hash, seen.Count, seen.Stored + 1) : (seen.Hash, seen.Count, -1);
        }

        return [.. sources.Select(s => new IndexedSource(s.Key, s.Value.Hash, s.Value.Count, s.Value.Stored)).OrderBy(s => s.Source, StringComparer.Ordinal)];
    }

    /// <summary>
    /// Replaces every chunk of <paramref name="source"/> with <paramref name="chunks"/> (none: the file is removed).
    /// A store that cannot do it atomically deletes first: an interruption then leaves the file incomplete, and the
    /// next index run writes it again.
    /// </summary>
    public virtual async Task ReplaceSourceAsync(string source, IReadOnlyList<ChunkRecord> chunks, CancellationToken cancellationToken)
    {
        var old = new List<string>();
        await foreach (var record in GetAsync(r => r.Source == source, int.MaxValue, new FilteredRecordRetrievalOptions<ChunkRecord> { IncludeVectors = false }, cancellationToken).ConfigureAwait(false))
        {
            old.Add(record.Id);
        }

        if (old.Count > 0)
        {
            await DeleteAsync(old, cancellationToken).ConfigureAwait(false);
        }

        if (chunks.Count > 0)
        {
            await UpsertAsync(chunks, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public override Task UpsertAsync(ChunkRecord record, CancellationToken cancellationToken = default) =>
        UpsertAsync([record], cancellationToken);

    /// <inheritdoc />
    public override async Task<ChunkRecord?> GetAsync(string key, RecordRetrievalOptions? options = null, CancellationToken cancellationToken = default)
    {
        await foreach (var record in GetAsync([key], options, cancellationToken).ConfigureAwait(false))
        {
            return record;
        }

        return null;
    }

    /// <inheritdoc />
    public override Task DeleteAsync(string key, CancellationToken cancellationToken = default) => DeleteAsync([key], cancellationToken);

    /// <inheritdoc />
    public override object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceKey is null && serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>The query vector of a search input: a vector (any of the usual shapes), unit length.</summary>
    /// <exception cref="NotSupportedException">The input is not a vector (text needs an embedder first).</exception>
    protected static float[] QueryVector<TInput>(TInput input)
    {
        var vector = input switch
        {
            ReadOnlyMemory<float> memory => memory.ToArray(),
            float[] array => (float[])array.Clone(),
            Embedding<float> embedding => embedding.Vector.ToArray(),
            _ => throw new NotSupportedException($"search by {typeof(TInput).Name} is not supported: embed the query first and search by its vector"),
        };
        Normalize(vector);
        return vector;
    }

    /// <summary>Scales <paramref name="vector"/> to unit length in place (a zero vector stays zero).</summary>
    public static void Normalize(Span<float> vector)
    {
        var norm = TensorPrimitives.Norm(vector);
        if (norm > 0)
        {
            TensorPrimitives.Divide(vector, norm, vector);
        }
    }

    /// <summary>
    /// Reads a filter the stores understand: <c>r =&gt; true</c>, or <c>r.Source == value</c> (a constant or a captured
    /// variable). Returns null for "everything", else the source.
    /// </summary>
    /// <exception cref="NotSupportedException">Any other filter.</exception>
    protected static string? SourceFilter(Expression<Func<ChunkRecord, bool>>? filter)
    {
        switch (filter?.Body)
        {
            case null:
            case ConstantExpression { Value: true }:
                return null;
            case BinaryExpression { NodeType: ExpressionType.Equal } equal
                when equal.Left is MemberExpression { Member.Name: nameof(ChunkRecord.Source), Expression: ParameterExpression }:
                return Expression.Lambda<Func<string>>(equal.Right).Compile(preferInterpretation: true)();
            default:
                throw new NotSupportedException($"filter '{filter}' is not supported; filter on r.Source == value, or take everything");
        }
    }

    /// <summary>Yields <paramref name="items"/> as an async sequence (stores that read a whole page at once).</summary>
    protected static async IAsyncEnumerable<T> Yield<T>(IEnumerable<T> items, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var item in items)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return item;
        }

        await Task.CompletedTask.ConfigureAwait(false);
    }
}
