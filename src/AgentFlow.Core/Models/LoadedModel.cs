using Microsoft.Extensions.AI;

namespace AgentFlow.Models;

/// <summary>A model ready to answer, with what the run record needs to say about it.</summary>
public sealed class LoadedModel : IAsyncDisposable
{
    private readonly IAsyncDisposable? _owner;

    /// <summary>Creates a loaded model.</summary>
    /// <param name="spec">The registry entry it was loaded from.</param>
    /// <param name="client">The chat client that answers prompts.</param>
    /// <param name="description">Human description, e.g. the file or endpoint and model id (never a secret).</param>
    /// <param name="fileSha256">SHA-256 of the model file for local models; null for remote ones.</param>
    /// <param name="owner">Disposed with this object (e.g. the native model weights); the client is disposed too.</param>
    public LoadedModel(ModelSpec spec, IChatClient client, string description, string? fileSha256 = null, IAsyncDisposable? owner = null)
    {
        Spec = spec;
        Client = client;
        Description = description;
        FileSha256 = fileSha256;
        _owner = owner;
    }

    /// <summary>The registry entry.</summary>
    public ModelSpec Spec { get; }

    /// <summary>Registry name of the model.</summary>
    public string Name => Spec.Name;

    /// <summary>Provider name.</summary>
    public string Provider => Spec.Provider;

    /// <summary>The chat client.</summary>
    public IChatClient Client { get; }

    /// <summary>What the model is (file or endpoint + model id); safe to print.</summary>
    public string Description { get; }

    /// <summary>SHA-256 of the weights file, when local.</summary>
    public string? FileSha256 { get; }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        if (_owner is not null)
        {
            await _owner.DisposeAsync().ConfigureAwait(false);
        }
    }
}
