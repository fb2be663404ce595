using System.Collections.Concurrent;
using AgentFlow.Definitions;
using AgentFlow.Diagnostics;

namespace AgentFlow.Models;

/// <summary>
/// Resolves model aliases to registry models, checks them before any step runs, and keeps each loaded model
/// for the life of the process (loading weights once, not per run).
/// </summary>
public sealed class ModelHost : IAsyncDisposable
{
    private readonly Dictionary<string, IModelProvider> _providers;
    private readonly ConcurrentDictionary<string, Lazy<Task<LoadedModel>>> _loaded = new(StringComparer.Ordinal);

    /// <summary>Creates a host over a registry and the providers this process has.</summary>
    public ModelHost(ModelRegistry registry, IEnumerable<IModelProvider> providers)
    {
        Registry = registry ?? throw new ArgumentNullException(nameof(registry));
        _providers = providers.ToDictionary(p => p.Name, StringComparer.Ordinal);
    }

    /// <summary>The registry models are looked up in.</summary>
    public ModelRegistry Registry { get; }

    /// <summary>
    /// Alias → model for a run: the workflow's <c>models:</c> defaults with <paramref name="overrides"/>
    /// (<c>--bind alias=model</c>) applied. Names are checked here; whether each model can answer is the gateway's
    /// check (<see cref="IModelGateway.CheckAsync"/>).
    /// </summary>
    /// <exception cref="ModelConfigurationException">Lists every unknown alias and unknown model.</exception>
    public IReadOnlyDictionary<string, ModelSpec> Resolve(WorkflowDefinition definition, IReadOnlyDictionary<string, string> overrides)
    {
        ArgumentNullException.ThrowIfNull(definition);
        ArgumentNullException.ThrowIfNull(overrides);
        var problems = new List<string>();
        var names = definition.Models.ToDictionary(m => m.Alias, m => m.Model, StringComparer.Ordinal);
        foreach (var (alias, model) in overrides)
        {
            if (!names.ContainsKey(alias))
            {
                problems.Add($"--bind {alias}={model}: workflow '{definition.Name}' has no model alias '{alias}'" +
                    NameSuggestion.DidYouMean(alias, names.Keys) +
                    $" (aliases: {string.Join(", ", names.Keys)})");
                continue;
            }

            names[alias] = model;
        }

        var bindings = new Dictionary<string, ModelSpec>(StringComparer.Ordinal);
        foreach (var (alias, model) in names)
        {
            if (Registry.TryGet(model, out var spec))
            {
                bindings[alias] = spec;
                continue;
            }

            problems.Add($"alias '{alias}' is bound to unknown model '{model}'" +
                NameSuggestion.DidYouMean(model, Registry.Models.Keys) +
                $" (known models: {string.Join(", ", Registry.Models.Keys)}; declare it in {Registry.SourcePath ?? ModelRegistry.DefaultFileName})");
        }

        return problems.Count > 0
            ? throw new ModelConfigurationException(string.Join(Environment.NewLine, problems.Distinct(StringComparer.Ordinal)))
            : bindings;
    }

    /// <summary>
    /// Every registry model a run of <paramref name="definition"/> may call: the bound aliases' models, the steps'
    /// fallback models, and those of the child workflows its workflow steps and workflow tools run (with their own
    /// default bindings: <paramref name="overrides"/> apply to this workflow only).
    /// </summary>
    /// <exception cref="ModelConfigurationException">An alias, binding or fallback names an unknown model.</exception>
    public IReadOnlyList<ModelSpec> ModelsFor(WorkflowDefinition definition, IReadOnlyDictionary<string, string> overrides)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var own = OwnModelsFor(definition, overrides);
        var children = ChildWorkflows.Reachable(definition);
        return children.Count == 0 ? own : [.. own.Concat(children.SelectMany(c => OwnModelsFor(c, new Dictionary<string, string>()))).DistinctBy(s => s.Name)];
    }

    private List<ModelSpec> OwnModelsFor(WorkflowDefinition definition, IReadOnlyDictionary<string, string> overrides)
    {
        var bound = Resolve(definition, overrides).Values;
        var problems = new List<string>();
        var fallbacks = new List<ModelSpec>();
        foreach (var agent in definition.AllSteps().OfType<AgentStepDefinition>())
        {
            foreach (var name in agent.Fallback)
            {
                if (Registry.TryGet(name, out var spec))
                {
                    fallbacks.Add(spec);
                }
                else
                {
                    problems.Add($"{agent.FallbackLocation}: fallback model '{name}' of step '{agent.Id}' is unknown{NameSuggestion.DidYouMean(name, Registry.Models.Keys)} (known models: {string.Join(", ", Registry.Models.Keys)})");
                }
            }
        }

        return problems.Count > 0
            ? throw new ModelConfigurationException(string.Join(Environment.NewLine, problems))
            : [.. bound.Concat(fallbacks).DistinctBy(s => s.Name)];
    }

    /// <summary>Problems that would stop <paramref name="spec"/> from loading; empty when it is usable.</summary>
    public IReadOnlyList<string> Check(ModelSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return _providers.TryGetValue(spec.Provider, out var provider)
            ? provider.Check(spec)
            : [$"{spec.Location}: model '{spec.Name}' has unknown provider '{spec.Provider}' (available: {string.Join(", ", _providers.Keys.Order(StringComparer.Ordinal))})"];
    }

    /// <summary>The loaded model named <paramref name="name"/>, loading it on first use (once, even under concurrency).</summary>
    /// <exception cref="ModelConfigurationException">Unknown model or provider, or the load failed.</exception>
    public async Task<LoadedModel> GetAsync(string name, CancellationToken cancellationToken)
    {
        if (!Registry.TryGet(name, out var spec))
        {
            throw new ModelConfigurationException($"unknown model '{name}'");
        }

        if (!_providers.TryGetValue(spec.Provider, out var provider))
        {
            throw new ModelConfigurationException(Check(spec)[0]);
        }

        var lazy = _loaded.GetOrAdd(name, _ => new Lazy<Task<LoadedModel>>(
            () => provider.LoadAsync(spec, CancellationToken.None), LazyThreadSafetyMode.ExecutionAndPublication));
        try
        {
            return await lazy.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception) when (lazy.Value.IsFaulted)
        {
            // A failed load is not cached: the next run tries again (e.g. after the file was fixed).
            _loaded.TryRemove(KeyValuePair.Create(name, lazy));
            throw;
        }
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
