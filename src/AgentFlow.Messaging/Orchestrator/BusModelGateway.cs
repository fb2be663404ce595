using AgentFlow.Execution;
using AgentFlow.Models;
using Microsoft.Extensions.AI;
using AgentFlow.Messaging.Contracts;

namespace AgentFlow.Messaging.Orchestrator;

/// <summary>
/// Models answered by model workers over the bus: every agent step becomes a <c>ChatStepRequest</c> on the model's
/// queue. Embedded (in-memory transport), the workers run in this process on <paramref name="localHost"/>'s models,
/// whose files are checked here; with RabbitMQ the check is that some worker serves each model.
/// </summary>
/// <param name="factory">Creates the remote chat clients.</param>
/// <param name="localHost">The host whose models this process's own workers serve, or null for remote workers only.</param>
public sealed class BusModelGateway(RemoteChatClientFactory factory, ModelHost? localHost) : IModelGateway
{
    /// <inheritdoc />
    public async Task<IReadOnlyList<string>> CheckAsync(IReadOnlyCollection<ModelSpec> models, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(models);
        if (localHost is not null)
        {
            return [.. models.SelectMany(localHost.Check).Distinct(StringComparer.Ordinal)];
        }

        var problems = new List<string>();
        foreach (var model in models)
        {
            if (await factory.IsServedAsync(model.Name, cancellationToken).ConfigureAwait(false) == false)
            {
                problems.Add($"no worker serves model '{model.Name}'; start one with: ./agentflow worker --models {model.Name}");
            }
        }

        return problems;
    }

    /// <inheritdoc />
    public async Task<ModelEndpoint> OpenAsync(ModelSpec model, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (localHost is null)
        {
            var remote = new ModelInfo(model.Name, model.Provider, $"{model.Provider} model on remote workers (queue {ModelQueues.For(model.Name)})", null);
            return new ModelEndpoint(factory.Create(model.Name), remote);
        }

        var local = await localHost.GetAsync(model.Name, cancellationToken).ConfigureAwait(false);
        return new ModelEndpoint(factory.Create(model.Name), LocalModelGateway.Describe(local), local.Client.GetService<ITokenCounter>());
    }
}
