using AgentFlow.Execution;
using Microsoft.Extensions.AI;

namespace AgentFlow.Models;

/// <summary>
/// Where a run's models answer: loaded in this process (<see cref="LocalModelGateway"/>), or on model workers over
/// the message bus (AgentFlow.Messaging). The runner only sees chat clients, so both paths run the same steps.
/// </summary>
public interface IModelGateway
{
    /// <summary>
    /// Problems that would stop <paramref name="models"/> from answering (missing files or keys, no worker serving a
    /// model), checked before any step runs; empty when all can answer.
    /// </summary>
    Task<IReadOnlyList<string>> CheckAsync(IReadOnlyCollection<ModelSpec> models, CancellationToken cancellationToken);

    /// <summary>The client answering for <paramref name="model"/>, and what the run record says about the model.</summary>
    /// <exception cref="ModelConfigurationException">The model cannot be used.</exception>
    Task<ModelEndpoint> OpenAsync(ModelSpec model, CancellationToken cancellationToken);
}

/// <summary>A chat client for a model and its description for the record.</summary>
/// <param name="Client">Answers prompts (owned by the gateway).</param>
/// <param name="Info">Provider, description and weights hash, as far as this process knows them.</param>
/// <param name="Tokens">The model's tokenizer, when this process has it (token-budget memory windows need it).</param>
public sealed record ModelEndpoint(IChatClient Client, ModelInfo Info, ITokenCounter? Tokens = null);

/// <summary>Models loaded and run in this process by a <see cref="ModelHost"/>.</summary>
/// <param name="host">Loads each model once and keeps it.</param>
public sealed class LocalModelGateway(ModelHost host) : IModelGateway
{
    /// <inheritdoc />
    public Task<IReadOnlyList<string>> CheckAsync(IReadOnlyCollection<ModelSpec> models, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(models);
        IReadOnlyList<string> problems = [.. models.SelectMany(host.Check).Distinct(StringComparer.Ordinal)];
        return Task.FromResult(problems);
    }

    /// <inheritdoc />
    public async Task<ModelEndpoint> OpenAsync(ModelSpec model, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(model);
        var loaded = await host.GetAsync(model.Name, cancellationToken).ConfigureAwait(false);
        return new ModelEndpoint(loaded.Client, Describe(loaded), loaded.Client.GetService<ITokenCounter>());
    }

    /// <summary>The record's view of a loaded model.</summary>
    public static ModelInfo Describe(LoadedModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return new ModelInfo(model.Name, model.Provider, model.Description, model.FileSha256);
    }
}
