using System.Collections.Concurrent;
using AgentFlow.Models;
using AgentFlow.Retrieval.Embedding;
using AgentFlow.Retrieval.Stores;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.VectorData;

namespace AgentFlow.Retrieval;

/// <summary>Where collections live and how their stores are reached.</summary>
public sealed class RetrievalOptions
{
    /// <summary>Folder of the embedded store's files, relative to <see cref="WorkingDirectory"/>: <c>.agentflow/collections</c>.</summary>
    public const string EmbeddedFolder = ".agentflow/collections";

    /// <summary>The folder <c>.agentflow/</c> is in (the current folder by default).</summary>
    public string WorkingDirectory { get; init; } = Environment.CurrentDirectory;

    /// <summary>Time allowed for one request to a vector database server (default 30 s).</summary>
    public TimeSpan ServerTimeout { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>A collection opened for searching or indexing: its spec, store and embedder, checked against each other.</summary>
/// <param name="Spec">The collection as the registry names it (or the implicit one).</param>
/// <param name="Store">Where its chunks are.</param>
/// <param name="Embedder">The embedder its vectors come from.</param>
/// <param name="Dimensions">The embedder's vector length.</param>
/// <param name="Exists">Whether the store already holds the collection.</param>
public sealed record CollectionHandle(CollectionSpec Spec, ChunkStore Store, LoadedEmbedder Embedder, int Dimensions, bool Exists);

/// <summary>
/// The collections of a registry: opens each on its store (embedded file or Chroma) with its embedder, checks that
/// they agree (embedder and dimensions) before anything is written, and searches them for the retrieve step.
/// </summary>
public sealed class CollectionHost : IRetriever, IAsyncDisposable
{
    private readonly ModelRegistry _registry;
    private readonly RetrievalOptions _options;
    private readonly HttpClient _http;
    private readonly ConcurrentDictionary<string, ChunkStore> _stores = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<Task<CollectionHandle>>> _searchable = new(StringComparer.Ordinal);

    /// <summary>Creates the host.</summary>
    public CollectionHost(ModelRegistry registry, EmbedderHost embedders, RetrievalOptions options)
    {
        _registry = registry ?? throw new ArgumentNullException(nameof(registry));
        Embedders = embedders ?? throw new ArgumentNullException(nameof(embedders));
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _http = new HttpClient { Timeout = options.ServerTimeout };
    }

    /// <summary>The embedders collections use.</summary>
    public EmbedderHost Embedders { get; }

    /// <summary>Every collection known here: the registry's, then those only on the embedded store, by name.</summary>
    public IReadOnlyList<CollectionSpec> List()
    {
        var folder = Path.Combine(_options.WorkingDirectory, RetrievalOptions.EmbeddedFolder);
        var onDisk = Directory.Exists(folder)
            ? Directory.EnumerateFiles(folder, "*.db").Select(Path.GetFileNameWithoutExtension).OfType<string>().Where(CollectionSpec.IsValidName)
            : [];
        return [.. _registry.Collections.Values.Concat(onDisk.Where(n => !_registry.Collections.ContainsKey(n)).Order(StringComparer.Ordinal).Select(CollectionSpec.Implicit))];
    }

    /// <summary>The store collection <paramref name="spec"/> lives in (opened lazily; nothing is created).</summary>
    public ChunkStore StoreOf(CollectionSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return _stores.GetOrAdd(spec.Name, _ => spec.Store switch
        {
            CollectionSpec.ChromaStore => new ChromaChunkStore(spec.Name, ChromaUrl(spec), _http),
            _ => new EmbeddedChunkStore(spec.Name, EmbeddedPath(spec)),
        });
    }

    /// <summary>
    /// Opens <paramref name="name"/> with its embedder and checks that they agree: the registry's <c>dimensions</c> and
    /// the stored collection's embedder and dimensions must match the embedder's. Nothing is written.
    /// </summary>
    /// <param name="name">The collection.</param>
    /// <param name="mustExist">Fail when the store does not hold it yet (searching); indexing creates it.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <exception cref="RetrievalException">They disagree, the store is unreachable, or (with <paramref name="mustExist"/>) it does not exist.</exception>
    /// <exception cref="ModelConfigurationException">The embedder cannot be loaded.</exception>
    public async Task<CollectionHandle> OpenAsync(string name, bool mustExist, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(name);
        var spec = _registry.CollectionOrImplicit(name);
        var store = StoreOf(spec);
        // The store first: an unreachable server or a missing collection is reported before a model is loaded.
        var info = await store.ReadInfoAsync(cancellationToken).ConfigureAwait(false);
        if (info is null && mustExist)
        {
            throw new RetrievalException($"collection '{name}' does not exist ({store.Location}); index documents into it first: agentflow index DIR --collection {name}");
        }

        var embedder = await Embedders.GetAsync(spec.Embedder, cancellationToken).ConfigureAwait(false);
        var dimensions = await Embedders.DimensionsAsync(embedder, cancellationToken).ConfigureAwait(false);
        if (spec.Dimensions is { } declared && declared != dimensions)
        {
            throw new RetrievalException($"{spec.Location}: collection '{name}' is declared with dimensions: {declared}, but embedder '{spec.Embedder}' makes {dimensions}-dimensional vectors; set dimensions: {dimensions} or use an embedder of {declared} dimensions");
        }

        if (info is not null && (info.Dimensions != dimensions || !string.Equals(info.Embedder, spec.Embedder, StringComparison.Ordinal)))
        {
            throw new RetrievalException($"collection '{name}' ({store.Location}) was indexed with embedder '{info.Embedder}' ({info.Dimensions} dimensions), but is configured with '{spec.Embedder}' ({dimensions} dimensions); vectors of different embedders cannot be compared: configure '{info.Embedder}' again, or delete the collection (agentflow collections delete {name}) and index again");
        }

        return new CollectionHandle(spec, store, embedder, dimensions, info is not null);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyDictionary<string, string>> CheckAsync(IReadOnlyCollection<string> collections, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(collections);
        var problems = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in collections)
        {
            try
            {
                await SearchableAsync(name, cancellationToken).ConfigureAwait(false);
            }
            catch (AgentFlowException ex)
            {
                problems[name] = ex.Message;
            }
        }

        return problems;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<RetrievedChunk>> RetrieveAsync(string collection, string query, int topK, double? minScore, CancellationToken cancellationToken)
    {
        var open = await SearchableAsync(collection, cancellationToken).ConfigureAwait(false);
        return await SearchAsync(open, query, topK, minScore, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Embeds <paramref name="query"/> and returns the best <paramref name="topK"/> chunks of <paramref name="open"/>.</summary>
    public static async Task<IReadOnlyList<RetrievedChunk>> SearchAsync(CollectionHandle open, string query, int topK, double? minScore, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(open);
        var vector = await open.Embedder.Generator.GenerateVectorAsync(query, cancellationToken: cancellationToken).ConfigureAwait(false);
        var found = new List<RetrievedChunk>();
        await foreach (var hit in open.Store.SearchAsync(vector, topK, new VectorSearchOptions<ChunkRecord> { ScoreThreshold = minScore }, cancellationToken).ConfigureAwait(false))
        {
            found.Add(new RetrievedChunk(hit.Record.Id, hit.Record.Text, hit.Record.Source, hit.Record.Heading, hit.Score ?? 0));
        }

        return found;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var store in _stores.Values)
        {
            store.Dispose();
        }

        _stores.Clear();
        _http.Dispose();
        await Embedders.DisposeAsync().ConfigureAwait(false);
    }

    // Opened once per process; a failed open is not kept (the next run checks again).
    private async Task<CollectionHandle> SearchableAsync(string name, CancellationToken cancellationToken)
    {
        var lazy = _searchable.GetOrAdd(name, n => new Lazy<Task<CollectionHandle>>(() => OpenAsync(n, mustExist: true, CancellationToken.None)));
        try
        {
            return await lazy.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception) when (lazy.Value.IsFaulted)
        {
            _searchable.TryRemove(KeyValuePair.Create(name, lazy));
            throw;
        }
    }

    private string EmbeddedPath(CollectionSpec spec) =>
        spec.GetString("path") is { } path
            ? Path.GetFullPath(DataDirectories.ExpandHome(path), ConfigFolder(spec))
            : Path.Combine(_options.WorkingDirectory, RetrievalOptions.EmbeddedFolder, spec.Name + ".db");

    private string ConfigFolder(CollectionSpec spec) =>
        spec.Location.File is { Length: > 0 } file && !file.StartsWith('<')
            ? Path.GetDirectoryName(Path.GetFullPath(file, _options.WorkingDirectory)) ?? _options.WorkingDirectory
            : _options.WorkingDirectory;

    private static Uri ChromaUrl(CollectionSpec spec) =>
        Uri.TryCreate(spec.GetString("url"), UriKind.Absolute, out var url) && url.Scheme is "http" or "https"
            ? url
            : throw new RetrievalException($"{spec.Location}: collection '{spec.Name}': url '{spec.GetString("url")}' is not an http(s) URL; e.g. url: http://127.0.0.1:8000");
}
