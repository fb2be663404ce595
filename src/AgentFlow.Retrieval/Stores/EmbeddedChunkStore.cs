using System.Globalization;
using System.Linq.Expressions;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.VectorData;

namespace AgentFlow.Retrieval.Stores;

/// <summary>
/// The embedded store: one SQLite file per collection (by default <c>.agentflow/collections/NAME.db</c>), vectors as
/// float blobs, exact cosine search over every vector (no server, no approximate index). The vectors are read into
/// one contiguous array on the first search and kept until the file changes, so a search is one SIMD dot product per
/// chunk (100k × 384 floats is ~150 MB and a few tens of milliseconds). Each file's chunks are replaced in one
/// transaction, so an interrupted index run never leaves half a file.
/// </summary>
public sealed class EmbeddedChunkStore : ChunkStore
{
    private const string Schema = """
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS chunks (
            id TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            source_hash TEXT NOT NULL,
            chunk_index INTEGER NOT NULL,
            chunk_count INTEGER NOT NULL,
            heading TEXT,
            text TEXT NOT NULL,
            tokens INTEGER NOT NULL,
            vector BLOB NOT NULL);
        CREATE INDEX IF NOT EXISTS chunks_source ON chunks (source);
        """;

    private const string Columns = "id, source, source_hash, chunk_index, chunk_count, heading, text, tokens";
    private static readonly string[] InsertParameters = ["$id", "$source", "$hash", "$index", "$count", "$heading", "$text", "$tokens", "$vector"];

    private readonly string _path;
    private readonly string _connectionString;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private SqliteConnection? _connection;
    private VectorIndex? _index;

    /// <summary>Opens (lazily) the collection <paramref name="name"/> kept in the SQLite file <paramref name="path"/>.</summary>
    public EmbeddedChunkStore(string name, string path)
    {
        Name = name ?? throw new ArgumentNullException(nameof(name));
        _path = Path.GetFullPath(path ?? throw new ArgumentNullException(nameof(path)));
        _connectionString = new SqliteConnectionStringBuilder { DataSource = _path, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false }.ToString();
    }

    /// <inheritdoc />
    public override string Name { get; }

    /// <inheritdoc />
    public override string Location => _path;

    /// <inheritdoc />
    public override Task<bool> CollectionExistsAsync(CancellationToken cancellationToken = default) =>
        Task.FromResult(File.Exists(_path));

    /// <inheritdoc />
    public override Task EnsureCollectionExistsAsync(CancellationToken cancellationToken = default) =>
        File.Exists(_path) ? Task.CompletedTask : throw new RetrievalException($"collection '{Name}' does not exist yet ({_path}); index documents into it first");

    /// <inheritdoc />
    public override async Task EnsureCollectionExistsAsync(CollectionInfo info, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(info);
        await WithConnectionAsync(async connection =>
        {
            await using var command = connection.CreateCommand();
            command.CommandText = "INSERT OR IGNORE INTO meta (key, value) VALUES ('embedder', $embedder), ('dimensions', $dimensions)";
            command.Parameters.AddWithValue("$embedder", info.Embedder);
            command.Parameters.AddWithValue("$dimensions", info.Dimensions.ToString(CultureInfo.InvariantCulture));
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return 0;
        }, create: true, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public override async Task EnsureCollectionDeletedAsync(CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_connection is not null)
            {
                await _connection.DisposeAsync().ConfigureAwait(false);
                _connection = null;
            }

            _index = null;
            foreach (var file in new[] { _path, _path + "-wal", _path + "-shm" })
            {
                File.Delete(file);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public override async Task<CollectionInfo?> ReadInfoAsync(CancellationToken cancellationToken)
    {
        if (!File.Exists(_path))
        {
            return null;
        }

        return await WithConnectionAsync(async connection =>
        {
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT key, value FROM meta WHERE key IN ('embedder', 'dimensions')";
            var values = new Dictionary<string, string>(StringComparer.Ordinal);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                values[reader.GetString(0)] = reader.GetString(1);
            }

            return values.TryGetValue("embedder", out var embedder) && values.TryGetValue("dimensions", out var dimensions)
                ? new CollectionInfo(embedder, int.Parse(dimensions, CultureInfo.InvariantCulture))
                : null;
        }, create: false, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public override async Task<long> CountAsync(CancellationToken cancellationToken)
    {
        if (!File.Exists(_path))
        {
            return 0;
        }

        return await WithConnectionAsync(async connection =>
        {
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT COUNT(*) FROM chunks";
            return (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        }, create: false, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public override async Task<IReadOnlyList<IndexedSource>> ListSourcesAsync(CancellationToken cancellationToken)
    {
        if (!File.Exists(_path))
        {
            return [];
        }

        return await WithConnectionAsync<IReadOnlyList<IndexedSource>>(async connection =>
        {
            await using var command = connection.CreateCommand();
            // Two versions of one file (never written by this store, which replaces a file in one transaction) count as incomplete.
            command.CommandText = "SELECT source, MIN(source_hash), MIN(chunk_count), CASE WHEN COUNT(DISTINCT source_hash) = 1 THEN COUNT(*) ELSE -1 END FROM chunks GROUP BY source ORDER BY source";
            var sources = new List<IndexedSource>();
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                sources.Add(new IndexedSource(reader.GetString(0), reader.GetString(1), reader.GetInt32(2), reader.GetInt32(3)));
            }

            return sources;
        }, create: false, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public override async Task ReplaceSourceAsync(string source, IReadOnlyList<ChunkRecord> chunks, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(chunks);
        await WriteAsync(async (connection, transaction) =>
        {
            await using var delete = connection.CreateCommand();
            delete.Transaction = transaction;
            delete.CommandText = "DELETE FROM chunks WHERE source = $source";
            delete.Parameters.AddWithValue("$source", source);
            await delete.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            await InsertAsync(connection, transaction, chunks, cancellationToken).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public override Task UpsertAsync(IEnumerable<ChunkRecord> records, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(records);
        var list = records.ToList();
        return WriteAsync((connection, transaction) => InsertAsync(connection, transaction, list, cancellationToken), cancellationToken);
    }

    /// <inheritdoc />
    public override Task DeleteAsync(IEnumerable<string> keys, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var list = keys.ToList();
        return WriteAsync(async (connection, transaction) =>
        {
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = "DELETE FROM chunks WHERE id = $id";
            var id = command.Parameters.Add("$id", SqliteType.Text);
            foreach (var key in list)
            {
                id.Value = key;
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }, cancellationToken);
    }

    /// <inheritdoc />
    public override async IAsyncEnumerable<ChunkRecord> GetAsync(IEnumerable<string> keys, RecordRetrievalOptions? options = null, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var list = keys.ToList();
        var records = list.Count == 0 || !File.Exists(_path) ? [] : await ReadAsync("WHERE id IN (SELECT value FROM json_each($p))", System.Text.Json.JsonSerializer.Serialize(list), options?.IncludeVectors ?? false, top: int.MaxValue, cancellationToken).ConfigureAwait(false);
        foreach (var record in records)
        {
            yield return record;
        }
    }

    /// <inheritdoc />
    public override async IAsyncEnumerable<ChunkRecord> GetAsync(Expression<Func<ChunkRecord, bool>> filter, int top, FilteredRecordRetrievalOptions<ChunkRecord>? options = null, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var source = SourceFilter(filter);
        var records = !File.Exists(_path) ? []
            : await ReadAsync(source is null ? "WHERE $p IS NULL" : "WHERE source = $p", source, options?.IncludeVectors ?? false, top, cancellationToken).ConfigureAwait(false);
        foreach (var record in records)
        {
            yield return record;
        }
    }

    /// <inheritdoc />
    public override async IAsyncEnumerable<VectorSearchResult<ChunkRecord>> SearchAsync<TInput>(TInput searchValue, int top, VectorSearchOptions<ChunkRecord>? options = null, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(top, 1);
        var query = QueryVector(searchValue);
        var source = SourceFilter(options?.Filter);
        var index = await LoadIndexAsync(cancellationToken).ConfigureAwait(false);
        if (index.Count == 0)
        {
            yield break;
        }

        if (query.Length != index.Dimensions)
        {
            throw new RetrievalException($"collection '{Name}' holds {index.Dimensions}-dimensional vectors, the query has {query.Length}; search it with the embedder it was indexed with");
        }

        var best = index.Top(query, top + Math.Max(0, options?.Skip ?? 0), source, options?.ScoreThreshold);
        var hits = best.Skip(options?.Skip ?? 0).ToList();
        var records = await ReadAsync("WHERE id IN (SELECT value FROM json_each($p))", System.Text.Json.JsonSerializer.Serialize(hits.Select(h => index.Ids[h.Row])), options?.IncludeVectors ?? false, int.MaxValue, cancellationToken).ConfigureAwait(false);
        var byId = records.ToDictionary(r => r.Id, StringComparer.Ordinal);
        foreach (var (row, score) in hits)
        {
            if (byId.TryGetValue(index.Ids[row], out var record))
            {
                yield return new VectorSearchResult<ChunkRecord>(record, score);
            }
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _connection?.Dispose();
            _connection = null;
            _gate.Dispose();
        }

        base.Dispose(disposing);
    }

    private async Task<List<ChunkRecord>> ReadAsync(string where, string? parameter, bool includeVectors, int top, CancellationToken cancellationToken) =>
        await WithConnectionAsync(async connection =>
        {
            await using var command = connection.CreateCommand();
            command.CommandText = $"SELECT {Columns}{(includeVectors ? ", vector" : string.Empty)} FROM chunks {where} ORDER BY source, chunk_index LIMIT $top";
            command.Parameters.AddWithValue("$p", (object?)parameter ?? DBNull.Value);
            command.Parameters.AddWithValue("$top", top);
            var records = new List<ChunkRecord>();
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                records.Add(new ChunkRecord
                {
                    Id = reader.GetString(0),
                    Source = reader.GetString(1),
                    SourceHash = reader.GetString(2),
                    ChunkIndex = reader.GetInt32(3),
                    ChunkCount = reader.GetInt32(4),
                    Heading = reader.IsDBNull(5) ? null : reader.GetString(5),
                    Text = reader.GetString(6),
                    Tokens = reader.GetInt32(7),
                    Vector = includeVectors ? MemoryMarshal.Cast<byte, float>((byte[])reader.GetValue(8)).ToArray() : ReadOnlyMemory<float>.Empty,
                });
            }

            return records;
        }, create: false, cancellationToken).ConfigureAwait(false);

    private static async Task InsertAsync(SqliteConnection connection, SqliteTransaction transaction, IReadOnlyList<ChunkRecord> chunks, CancellationToken cancellationToken)
    {
        await using var insert = connection.CreateCommand();
        insert.Transaction = transaction;
        insert.CommandText = $"INSERT OR REPLACE INTO chunks ({Columns}, vector) VALUES ($id, $source, $hash, $index, $count, $heading, $text, $tokens, $vector)";
        var parameters = InsertParameters.Select(name => insert.Parameters.Add(name, SqliteType.Text)).ToArray();
        parameters[3].SqliteType = parameters[4].SqliteType = parameters[7].SqliteType = SqliteType.Integer;
        parameters[8].SqliteType = SqliteType.Blob;
        foreach (var chunk in chunks)
        {
            var vector = chunk.Vector.ToArray();
            Normalize(vector);
            parameters[0].Value = chunk.Id;
            parameters[1].Value = chunk.Source;
            parameters[2].Value = chunk.SourceHash;
            parameters[3].Value = chunk.ChunkIndex;
            parameters[4].Value = chunk.ChunkCount;
            parameters[5].Value = (object?)chunk.Heading ?? DBNull.Value;
            parameters[6].Value = chunk.Text;
            parameters[7].Value = chunk.Tokens;
            parameters[8].Value = MemoryMarshal.AsBytes(vector.AsSpan()).ToArray();
            await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task WriteAsync(Func<SqliteConnection, SqliteTransaction, Task> write, CancellationToken cancellationToken) =>
        await WithConnectionAsync(async connection =>
        {
            await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await write(connection, transaction).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            _index = null;
            return 0;
        }, create: true, cancellationToken).ConfigureAwait(false);

    private async Task<T> WithConnectionAsync<T>(Func<SqliteConnection, Task<T>> action, bool create, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_connection is null)
            {
                if (!create && !File.Exists(_path))
                {
                    throw new RetrievalException($"collection '{Name}' does not exist ({_path}); index documents into it first: agentflow index DIR --collection {Name}");
                }

                Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
                var connection = new SqliteConnection(_connectionString);
                await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
                await using (var setup = connection.CreateCommand())
                {
                    setup.CommandText = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; " + Schema;
                    await setup.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }

                _connection = connection;
            }

            return await action(_connection).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    // The vectors of every chunk, read once; another process's write (PRAGMA data_version) or our own drops it.
    private async Task<VectorIndex> LoadIndexAsync(CancellationToken cancellationToken)
    {
        if (!File.Exists(_path))
        {
            return VectorIndex.Empty;
        }

        return await WithConnectionAsync(async connection =>
        {
            await using var version = connection.CreateCommand();
            version.CommandText = "PRAGMA data_version";
            var dataVersion = (long)(await version.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
            if (_index is { } cached && cached.DataVersion == dataVersion)
            {
                return cached;
            }

            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT id, source, vector FROM chunks";
            var ids = new List<string>();
            var sources = new List<string>();
            var vectors = new List<float>();
            var dimensions = 0;
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    var vector = MemoryMarshal.Cast<byte, float>((byte[])reader.GetValue(2));
                    dimensions = dimensions == 0 ? vector.Length : dimensions;
                    if (vector.Length != dimensions)
                    {
                        throw new RetrievalException($"collection '{Name}' ({_path}) holds vectors of {dimensions} and {vector.Length} dimensions; delete it and index again");
                    }

                    ids.Add(reader.GetString(0));
                    sources.Add(reader.GetString(1));
                    vectors.AddRange(vector);
                }
            }

            _index = new VectorIndex([.. ids], [.. sources], [.. vectors], dimensions, dataVersion);
            return _index;
        }, create: false, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Every vector of the collection in one array, row by row, with exact top-k search.</summary>
    private sealed record VectorIndex(string[] Ids, string[] Sources, float[] Vectors, int Dimensions, long DataVersion)
    {
        public static VectorIndex Empty { get; } = new([], [], [], 0, -1);

        public int Count => Ids.Length;

        public List<(int Row, double Score)> Top(float[] query, int top, string? source, double? threshold)
        {
            // A min-heap of the best so far: the root is the weakest, replaced by anything better.
            var heap = new PriorityQueue<int, float>(top + 1);
            var vectors = Vectors.AsSpan();
            for (var row = 0; row < Ids.Length; row++)
            {
                if (source is not null && !string.Equals(Sources[row], source, StringComparison.Ordinal))
                {
                    continue;
                }

                var score = TensorPrimitives.Dot(query, vectors.Slice(row * Dimensions, Dimensions));
                if (threshold is { } min && score < min)
                {
                    continue;
                }

                if (heap.Count < top)
                {
                    heap.Enqueue(row, score);
                }
                else if (heap.TryPeek(out _, out var weakest) && score > weakest)
                {
                    heap.DequeueEnqueue(row, score);
                }
            }

            var result = new List<(int Row, double Score)>(heap.Count);
            while (heap.TryDequeue(out var row, out var score))
            {
                result.Add((row, score));
            }

            result.Reverse();
            return result;
        }
    }
}
