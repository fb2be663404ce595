using AgentFlow.Models;
using AgentFlow.Models.Llama.Builtin;
using AgentFlow.Models.Llama.Providers;
using Microsoft.Extensions.AI;

namespace AgentFlow.Messaging.Tests.Support;

/// <summary>The real built-in tiny model (llama.cpp), written to a temp folder and loaded once per test class.</summary>
public sealed class TinyModel : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "agentflow-messaging-tests-" + Guid.NewGuid().ToString("N")[..12]);

    public LoadedModel Loaded { get; private set; } = null!;

    public IChatClient Client => Loaded.Client;

    public async Task InitializeAsync()
    {
        var provider = new BuiltinModelProvider(new BuiltinModelStore(_directory));
        var spec = ModelRegistry.BuiltinModels.Single(m => m.Name == "tiny");
        Loaded = await provider.LoadAsync(spec, CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await Loaded.DisposeAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    public static List<ChatMessage> Prompt(string text = "Write a short story about a lighthouse.") =>
        [new(ChatRole.System, "You are terse."), new(ChatRole.User, text)];

    public static ChatOptions Greedy(int maxTokens = 24) => new() { Temperature = 0f, MaxOutputTokens = maxTokens };
}
