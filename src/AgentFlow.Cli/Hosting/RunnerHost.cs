using AgentFlow.Definitions;
using AgentFlow.Execution;
using AgentFlow.Memory;
using AgentFlow.Models;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Cli.Hosting;

/// <summary>
/// A workflow runner for several runs of one definition under several binding sets (experiments, replays): the
/// models of every binding set (and any extra model, e.g. a judge) are served by one bus runtime.
/// </summary>
internal sealed class RunnerHost : IAsyncDisposable
{
    private readonly ModelRuntime _runtime;
    private readonly IConversationStore? _store;

    private readonly Retrieval.CollectionHost? _collections;

    private RunnerHost(ModelRuntime runtime, IConversationStore? store, WorkflowRunner runner, Retrieval.CollectionHost? collections)
    {
        _collections = collections;
        _runtime = runtime;
        _store = store;
        Runner = runner;
    }

    public WorkflowRunner Runner { get; }

    public ModelHost Models => _runtime.Models;

    /// <summary>
    /// Checks every binding set (unknown aliases and models throw <see cref="ModelConfigurationException"/>) and starts the
    /// runtime; child runs of workflow steps get MLflow runs of their own in <paramref name="childTracking"/> when given.
    /// </summary>
    public static async Task<RunnerHost> StartAsync(
        CliContext cli, ModelRegistry registry, WorkflowDefinition definition, IEnumerable<IReadOnlyDictionary<string, string>> bindingSets,
        IEnumerable<string> extraModels, CancellationToken cancellationToken, Tracking.MLflow.IMlflowStore? childTracking = null)
    {
        var models = new ModelHost(registry, cli.CreateProviders());
        try
        {
            var names = bindingSets.SelectMany(b => models.ModelsFor(definition, b)).Select(s => s.Name).Concat(extraModels).Distinct(StringComparer.Ordinal).ToList();
            var runtime = await ModelRuntime.StartOrchestratorAsync(cli, models, names, cancellationToken).ConfigureAwait(false);
            var store = definition.Memory is null ? null : await cli.OpenConversationStoreAsync(registry, cancellationToken).ConfigureAwait(false);
            var collections = definition.AllSteps().OfType<RetrieveStepDefinition>().Any() || definition.Tools.Any(t => t.Source is RetrieveToolSource) ? cli.OpenCollections(registry) : null;
            var runner = new WorkflowRunner(models, runtime.Gateway, cli.Time, cli.LoggerFactory.CreateLogger<WorkflowRunner>(), store?.AsConversationMemory())
            {
                Secrets = cli.Secrets,
                ToolProviders = Tools.ToolKinds.Create(),
                Retriever = collections,
                RecordChildRun = childTracking is null ? null : (start, ct) => Commands.RunHost.RecordChildAsync(cli, childTracking, start, ct),
            };
            return new RunnerHost(runtime, store, runner, collections);
        }
        catch
        {
            await models.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>A chat client for registry model <paramref name="name"/> (checked first).</summary>
    public async Task<IChatClient> OpenModelAsync(string name, CancellationToken cancellationToken)
    {
        if (!Models.Registry.TryGet(name, out var spec))
        {
            throw new ModelConfigurationException($"unknown model '{name}' (known models: {string.Join(", ", Models.Registry.Models.Keys)})");
        }

        var problems = await _runtime.Gateway.CheckAsync([spec], cancellationToken).ConfigureAwait(false);
        if (problems.Count > 0)
        {
            throw new ModelConfigurationException(string.Join(Environment.NewLine, problems));
        }

        return (await _runtime.Gateway.OpenAsync(spec, cancellationToken).ConfigureAwait(false)).Client;
    }

    public async ValueTask DisposeAsync()
    {
        if (_collections is not null)
        {
            await _collections.DisposeAsync().ConfigureAwait(false);
        }

        if (_store is not null)
        {
            await _store.DisposeAsync().ConfigureAwait(false);
        }

        await _runtime.DisposeAsync().ConfigureAwait(false);
    }
}
