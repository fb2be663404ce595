using System.Globalization;
using System.Linq.Expressions;
using System.Net;
using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.VectorData;

namespace AgentFlow.Retrieval.Stores;

/// <summary>
/// A collection on a Chroma server (HTTP API v2, default tenant and database), cosine space. The Chroma collection
/// is named <c>agentflow-NAME</c> (Chroma wants 3 characters or more) and keeps the embedder and dimensions in its
/// metadata; each chunk's source, hash, position, heading and token count are chunk metadata.
/// </summary>
public sealed class ChromaChunkStore : ChunkStore
{
    /// <summary>Records per request (Chroma limits a batch).</summary>
    public const int PageSize = 1000;

    private static readonly string[] MetadataOnly = ["metadatas", "documents"];
    private readonly HttpClient _http;
    private readonly Uri _server;
    private readonly string _chromaName;
    private string? _id;

    /// <summary>Opens collection <paramref name="name"/> on the Chroma server at <paramref name="server"/>.</summary>
    /// <param name="name">AgentFlow's collection name.</param>
    /// <param name="server">The server's base URL, e.g. <c>http://127.0.0.1:8000</c>.</param>
    /// <param name="http">The HTTP client (not disposed here).</param>
    public ChromaChunkStore(string name, Uri server, HttpClient http)
    {
        Name = name ?? throw new ArgumentNullException(nameof(name));
        _server = server ?? throw new ArgumentNullException(nameof(server));
        _http = http ?? throw new ArgumentNullException(nameof(http));
        _chromaName = "agentflow-" + name;
    }

    /// <inheritdoc />
    public override string Name { get; }

    /// <inheritdoc />
    public override string Location => $"{_server.GetLeftPart(UriPartial.Path).TrimEnd('/')} (Chroma collection {_chromaName})";

    private string Base => _server.GetLeftPart(UriPartial.Path).TrimEnd('/') + "/api/v2/tenants/default_tenant/databases/default_database/collections";

    /// <summary>Answers when the server is up.</summary>
    /// <exception cref="RetrievalException">It is not reachable; the message names the URL.</exception>
    public async Task HeartbeatAsync(CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Get, _server.GetLeftPart(UriPartial.Path).TrimEnd('/') + "/api/v2/heartbeat", null, cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(response, "heartbeat", cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public override async Task<bool> CollectionExistsAsync(CancellationToken cancellationToken = default) =>
        await ReadCollectionAsync(cancellationToken).ConfigureAwait(false) is not null;

    /// <inheritdoc />
    public override async Task EnsureCollectionExistsAsync(CancellationToken cancellationToken = default)
    {
        if (await ReadCollectionAsync(cancellationToken).ConfigureAwait(false) is null)
        {
            throw new RetrievalException($"collection '{Name}' does not exist on {Location}; index documents into it first");
        }
    }

    /// <inheritdoc />
    public override async Task EnsureCollectionExistsAsync(CollectionInfo info, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(info);
        var body = new JsonObject
        {
            ["name"] = _chromaName,
            ["metadata"] = new JsonObject { ["agentflow:embedder"] = info.Embedder, ["agentflow:dimensions"] = info.Dimensions },
            ["configuration"] = new JsonObject { ["hnsw"] = new JsonObject { ["space"] = "cosine" } },
            ["get_or_create"] = true,
        };
        var created = await PostAsync(Base, body, "create collection", cancellationToken).ConfigureAwait(false);
        _id = created["id"]?.GetValue<string>();
    }

    /// <inheritdoc />
    public override async Task EnsureCollectionDeletedAsync(CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(HttpMethod.Delete, $"{Base}/{Uri.EscapeDataString(_chromaName)}", null, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.NotFound)
        {
            await EnsureSuccessAsync(response, "delete collection", cancellationToken).ConfigureAwait(false);
        }

        _id = null;
    }

    /// <inheritdoc />
    public override async Task<CollectionInfo?> ReadInfoAsync(CancellationToken cancellationToken)
    {
        var collection = await ReadCollectionAsync(cancellationToken).ConfigureAwait(false);
        return collection?["metadata"] is JsonObject metadata
            && metadata["agentflow:embedder"]?.GetValue<string>() is { } embedder
            && metadata["agentflow:dimensions"] is JsonValue dimensions
            ? new CollectionInfo(embedder, dimensions.GetValue<int>())
            : null;
    }

    /// <inheritdoc />
    public override async Task<long> CountAsync(CancellationToken cancellationToken)
    {
        if (await IdAsync(cancellationToken).ConfigureAwait(false) is not { } id)
        {
            return 0;
        }

        using var response = await SendAsync(HttpMethod.Get, $"{Base}/{id}/count", null, cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(response, "count", cancellationToken).ConfigureAwait(false);
        return await response.Content.ReadFromJsonAsync<long>(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public override async Task UpsertAsync(IEnumerable<ChunkRecord> records, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(records);
        var id = await RequireIdAsync(cancellationToken).ConfigureAwait(false);
        foreach (var page in records.Chunk(PageSize))
        {
            var body = new JsonObject
            {
                ["ids"] = new JsonArray([.. page.Select(r => (JsonNode)r.Id)]),
                ["embeddings"] = new JsonArray([.. page.Select(r => (JsonNode)Vector(r.Vector))]),
                ["documents"] = new JsonArray([.. page.Select(r => (JsonNode)r.Text)]),
                ["metadatas"] = new JsonArray([.. page.Select(r => (JsonNode)Metadata(r))]),
            };
            await PostAsync($"{Base}/{id}/upsert", body, "upsert", cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public override async Task DeleteAsync(IEnumerable<string> keys, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var id = await RequireIdAsync(cancellationToken).ConfigureAwait(false);
        foreach (var page in keys.Chunk(PageSize))
        {
            await PostAsync($"{Base}/{id}/delete", new JsonObject { ["ids"] = new JsonArray([.. page.Select(k => (JsonNode)k)]) }, "delete", cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public override async Task ReplaceSourceAsync(string source, IReadOnlyList<ChunkRecord> chunks, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        var id = await RequireIdAsync(cancellationToken).ConfigureAwait(false);
        // Delete first: an interruption before the upsert leaves the file without chunks, and the next run writes it.
        await PostAsync($"{Base}/{id}/delete", new JsonObject { ["where"] = new JsonObject { ["source"] = source } }, "delete", cancellationToken).ConfigureAwait(false);
        if (chunks.Count > 0)
        {
            await UpsertAsync(chunks, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public override async IAsyncEnumerable<ChunkRecord> GetAsync(IEnumerable<string> keys, RecordRetrievalOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keys);
        if (await IdAsync(cancellationToken).ConfigureAwait(false) is not { } id)
        {
            yield break;
        }

        foreach (var page in keys.Chunk(PageSize))
        {
            var body = new JsonObject { ["ids"] = new JsonArray([.. page.Select(k => (JsonNode)k)]), ["include"] = Include(options?.IncludeVectors ?? false) };
            foreach (var record in Records(await PostAsync($"{Base}/{id}/get", body, "get", cancellationToken).ConfigureAwait(false)))
            {
                yield return record;
            }
        }
    }

    /// <inheritdoc />
    public override async IAsyncEnumerable<ChunkRecord> GetAsync(Expression<Func<ChunkRecord, bool>> filter, int top, FilteredRecordRetrievalOptions<ChunkRecord>? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var source = SourceFilter(filter);
        if (await IdAsync(cancellationToken).ConfigureAwait(false) is not { } id)
        {
            yield break;
        }

        var offset = options?.Skip ?? 0;
        var left = top;
        while (left > 0)
        {
            var body = new JsonObject { ["include"] = Include(options?.IncludeVectors ?? false), ["limit"] = Math.Min(PageSize, left), ["offset"] = offset };
            if (source is not null)
            {
                body["where"] = new JsonObject { ["source"] = source };
            }

            var page = Records(await PostAsync($"{Base}/{id}/get", body, "get", cancellationToken).ConfigureAwait(false)).ToList();
            foreach (var record in page)
            {
                yield return record;
            }

            if (page.Count < Math.Min(PageSize, left))
            {
                yield break;
            }

            offset += page.Count;
            left -= page.Count;
        }
    }

    /// <inheritdoc />
    public override async IAsyncEnumerable<VectorSearchResult<ChunkRecord>> SearchAsync<TInput>(TInput searchValue, int top, VectorSearchOptions<ChunkRecord>? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(top, 1);
        var query = QueryVector(searchValue);
        var source = SourceFilter(options?.Filter);
        if (await IdAsync(cancellationToken).ConfigureAwait(false) is not { } id)
        {
            yield break;
        }

        var skip = options?.Skip ?? 0;
        var body = new JsonObject
        {
            ["query_embeddings"] = new JsonArray(Vector(query)),
            ["n_results"] = top + skip,
            ["include"] = new JsonArray([.. Include(options?.IncludeVectors ?? false).Select(n => n!.DeepClone()), "distances"]),
        };
        if (source is not null)
        {
            body["where"] = new JsonObject { ["source"] = source };
        }

        var result = await PostAsync($"{Base}/{id}/query", body, "query", cancellationToken).ConfigureAwait(false);
        // A query answers one list per query vector; this sends one.
        var flat = new JsonObject();
        foreach (var key in new[] { "ids", "documents", "metadatas", "embeddings", "distances" })
        {
            flat[key] = result[key] is JsonArray { Count: > 0 } lists ? lists[0]!.DeepClone() : null;
        }

        var distances = flat["distances"] as JsonArray;
        var records = Records(flat).ToList();
        for (var i = skip; i < records.Count; i++)
        {
            // Chroma's cosine distance is 1 - cosine similarity.
            var score = 1 - (distances?[i]?.GetValue<double>() ?? 1);
            if (options?.ScoreThreshold is { } min && score < min)
            {
                continue;
            }

            yield return new VectorSearchResult<ChunkRecord>(records[i], score);
        }
    }

    private static JsonArray Include(bool vectors) => vectors ? new JsonArray("metadatas", "documents", "embeddings") : new JsonArray([.. MetadataOnly.Select(m => (JsonNode)m)]);

    private static JsonArray Vector(ReadOnlyMemory<float> vector)
    {
        var copy = vector.ToArray();
        Normalize(copy);
        return new JsonArray([.. copy.Select(f => (JsonNode)f)]);
    }

    private static JsonObject Metadata(ChunkRecord record)
    {
        var metadata = new JsonObject
        {
            ["source"] = record.Source,
            ["source_hash"] = record.SourceHash,
            ["chunk_index"] = record.ChunkIndex,
            ["chunk_count"] = record.ChunkCount,
            ["tokens"] = record.Tokens,
        };
        if (record.Heading is not null)
        {
            metadata["heading"] = record.Heading;
        }

        return metadata;
    }

    private static IEnumerable<ChunkRecord> Records(JsonNode result)
    {
        if (result["ids"] is not JsonArray ids)
        {
            yield break;
        }

        var documents = result["documents"] as JsonArray;
        var metadatas = result["metadatas"] as JsonArray;
        var embeddings = result["embeddings"] as JsonArray;
        for (var i = 0; i < ids.Count; i++)
        {
            var metadata = metadatas?[i] as JsonObject;
            yield return new ChunkRecord
            {
                Id = ids[i]!.GetValue<string>(),
                Source = metadata?["source"]?.GetValue<string>() ?? string.Empty,
                SourceHash = metadata?["source_hash"]?.GetValue<string>() ?? string.Empty,
                ChunkIndex = metadata?["chunk_index"]?.GetValue<int>() ?? 0,
                ChunkCount = metadata?["chunk_count"]?.GetValue<int>() ?? 0,
                Tokens = metadata?["tokens"]?.GetValue<int>() ?? 0,
                Heading = metadata?["heading"]?.GetValue<string>(),
                Text = documents?[i]?.GetValue<string>() ?? string.Empty,
                Vector = embeddings?[i] is JsonArray vector ? vector.Select(v => v!.GetValue<float>()).ToArray() : ReadOnlyMemory<float>.Empty,
            };
        }
    }

    private async Task<JsonObject?> ReadCollectionAsync(CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Get, $"{Base}/{Uri.EscapeDataString(_chromaName)}", null, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        await EnsureSuccessAsync(response, "read collection", cancellationToken).ConfigureAwait(false);
        var collection = await response.Content.ReadFromJsonAsync<JsonObject>(cancellationToken).ConfigureAwait(false);
        _id = collection?["id"]?.GetValue<string>();
        return collection;
    }

    private async Task<string?> IdAsync(CancellationToken cancellationToken) =>
        _id ?? (await ReadCollectionAsync(cancellationToken).ConfigureAwait(false))?["id"]?.GetValue<string>();

    private async Task<string> RequireIdAsync(CancellationToken cancellationToken) =>
        await IdAsync(cancellationToken).ConfigureAwait(false)
        ?? throw new RetrievalException($"collection '{Name}' does not exist on {Location}; index documents into it first");

    private async Task<JsonNode> PostAsync(string url, JsonObject body, string what, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Post, url, body, cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(response, what, cancellationToken).ConfigureAwait(false);
        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        return (text.Length == 0 ? null : JsonNode.Parse(text)) ?? new JsonObject();
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string url, JsonObject? body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, url);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        try
        {
            return await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            throw new RetrievalException($"the Chroma server at {_server.GetLeftPart(UriPartial.Authority)} is not reachable ({ex.Message}); start it (scripts/services.sh up starts one) or fix the collection's url in agentflow.yaml", ex);
        }
        catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new RetrievalException($"the Chroma server at {_server.GetLeftPart(UriPartial.Authority)} did not answer in time", ex);
        }
    }

    private async Task EnsureSuccessAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        string? message = null;
        try
        {
            message = JsonNode.Parse(text)?["message"]?.GetValue<string>();
        }
        catch (JsonException)
        {
            // Not JSON: the status says enough.
        }

        throw new RetrievalException(string.Create(CultureInfo.InvariantCulture,
            $"Chroma at {_server.GetLeftPart(UriPartial.Authority)} refused {what} on collection '{Name}': {(int)response.StatusCode} {message ?? response.ReasonPhrase}"));
    }
}
