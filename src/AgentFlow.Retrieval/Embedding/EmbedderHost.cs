using System.Collections.Concurrent;
using AgentFlow.Models;
using Microsoft.Extensions.AI;

namespace AgentFlow.Retrieval.Embedding;

/// <summary>
/// Resolves embedder names (<c>embedders:</c> in the registry, plus the built-in <c>minilm</c>) to loaded embedding
/// models, each loaded once for the life of the process, like <see cref="ModelHost"/> for chat models.
/// </summary>
public sealed class EmbedderHost : IAsyncDisposable
{
    private readonly Dictionary<string, IEmbeddingProvider> _providers;
    private readonly ConcurrentDictionary<string, Lazy<Task<LoadedEmbedder>>> _loaded = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _dimensions = new(StringComparer.Ordinal);

    /// <summary>Creates a host over <paramref name="registry"/>'s embedders and the providers this process has.</summary>
    public EmbedderHost(ModelRegistry registry, IEnumerable<IEmbeddingProvider> providers)
    {
        Registry = registry ?? throw new ArgumentNullException(nameof(registry));
        _providers = providers.ToDictionary(p => p.Name, StringComparer.Ordinal);
    }

    /// <summary>The registry embedders are looked up in.</summary>
    public ModelRegistry Registry { get; }

    /// <summary>Problems that would stop <paramref name="spec"/> from loading; empty when it is usable.</summary>
    public IReadOnlyList<string> Check(ModelSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return _providers.TryGetValue(spec.Provider, out var provider)
            ? provider.Check(spec)
            : [$"{spec.Location}: embedder '{spec.Name}' has unknown provider '{spec.Provider}' (available: {string.Join(", ", _providers.Keys.Order(StringComparer.Ordinal))})"];
    }

    /// <summary>The loaded embedder <paramref name="name"/>, loading it on first use (once, even under concurrency).</summary>
    /// <exception cref="ModelConfigurationException">Unknown embedder or provider, or the load failed.</exception>
    public async Task<LoadedEmbedder> GetAsync(string name, CancellationToken cancellationToken)
    {
        if (!Registry.Embedders.TryGetValue(name, out var spec))
        {
            throw new ModelConfigurationException($"unknown embedder '{name}'{Diagnostics.NameSuggestion.DidYouMean(name, Registry.Embedders.Keys)} (known embedders: {string.Join(", ", Registry.Embedders.Keys)}; declare it under embedders: in {Registry.SourcePath ?? ModelRegistry.DefaultFileName})");
        }

        if (Check(spec) is [var problem, ..])
        {
            throw new ModelConfigurationException(problem);
        }

        var provider = _providers[spec.Provider];
        var lazy = _loaded.GetOrAdd(name, _ => new Lazy<Task<LoadedEmbedder>>(
            () => provider.LoadAsync(spec, CancellationToken.None), LazyThreadSafetyMode.ExecutionAndPublication));
        try
        {
            return await lazy.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception) when (lazy.Value.IsFaulted)
        {
            _loaded.TryRemove(KeyValuePair.Create(name, lazy));
            throw;
        }
    }

    /// <summary>
    /// The length of <paramref name="embedder"/>'s vectors: as it states, else measured by embedding one short text
    /// (a remote endpoint without a <c>dimensions</c> setting).
    /// </summary>
    public async Task<int> DimensionsAsync(LoadedEmbedder embedder, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(embedder);
        if (embedder.Dimensions is { } stated)
        {
            return stated;
        }

        if (_dimensions.TryGetValue(embedder.Spec.Name, out var measured))
        {
            return measured;
        }

        var probe = await embedder.Generator.GenerateVectorAsync("dimensions", cancellationToken: cancellationToken).ConfigureAwait(false);
        return _dimensions[embedder.Spec.Name] = probe.Length;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var lazy in _loaded.Values)
        {
            if (lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully)
            {
                await lazy.Value.Result.DisposeAsync().ConfigureAwait(false);
            }
        }

        _loaded.Clear();
    }
}
