namespace AgentFlow.Models;

/// <summary>
/// Turns a registry entry into a running model behind <see cref="Microsoft.Extensions.AI.IChatClient"/>.
/// One implementation per provider (<c>builtin</c> and <c>llama</c> in AgentFlow.Models.Llama,
/// <c>openai</c> in AgentFlow.Models.OpenAI); the core never references a native library or a server client.
/// </summary>
public interface IModelProvider
{
    /// <summary>The provider name used in the registry (<c>provider: NAME</c>).</summary>
    string Name { get; }

    /// <summary>
    /// Checks a spec without loading anything heavy (file exists, API key variable set, settings well-formed),
    /// so a run can fail before any step runs. Returns one message per problem, each naming the model, the
    /// setting and what to do; empty when the spec is usable.
    /// </summary>
    IReadOnlyList<string> Check(ModelSpec spec);

    /// <summary>Loads the model. The caller owns and disposes the result.</summary>
    /// <exception cref="ModelConfigurationException">The model cannot be loaded; the message says why.</exception>
    Task<LoadedModel> LoadAsync(ModelSpec spec, CancellationToken cancellationToken);
}
