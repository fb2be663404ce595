using System.Collections.Concurrent;
using Microsoft.Extensions.AI;

namespace AgentFlow.Messaging.ModelWorker;

/// <summary>Resolves each model's client once (a failed load is retried on next use). The clients are not owned here.</summary>
internal sealed class ModelClientCache(Func<string, CancellationToken, Task<IChatClient>> factory)
{
    private readonly ConcurrentDictionary<string, Lazy<Task<IChatClient>>> _clients = new(StringComparer.Ordinal);

    public async Task<IChatClient> GetAsync(string model, CancellationToken cancellationToken)
    {
        var lazy = _clients.GetOrAdd(model, m => new Lazy<Task<IChatClient>>(() => factory(m, CancellationToken.None), LazyThreadSafetyMode.ExecutionAndPublication));
        try
        {
            return await lazy.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception) when (lazy.Value.IsFaulted || lazy.Value.IsCanceled)
        {
            _clients.TryRemove(KeyValuePair.Create(model, lazy));
            throw;
        }
    }
}
