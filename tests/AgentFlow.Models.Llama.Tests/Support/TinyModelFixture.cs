using AgentFlow.Models.Llama.Builtin;
using AgentFlow.Models.Llama.Chat;

namespace AgentFlow.Models.Llama.Tests.Support;

/// <summary>The default tiny model written to a temp folder and loaded once for a test class.</summary>
public sealed class TinyModelFixture : IAsyncLifetime, IDisposable
{
    private readonly TempDirectory _directory = new();

    public string Directory => _directory.Path;

    public string ModelPath { get; private set; } = "";

    public LlamaChatClient Client { get; private set; } = null!;

    public static LlamaChatClientOptions ClientOptions(int concurrency = 1, int context = 2048) => new()
    {
        ModelId = "tiny",
        ContextSize = context,
        Threads = 1,
        Concurrency = concurrency,
    };

    public async Task InitializeAsync()
    {
        ModelPath = new BuiltinModelStore(Path.Combine(Directory, "models")).Ensure(new TinyGgufOptions());
        Client = await LlamaChatClient.LoadAsync(ModelPath, ClientOptions(concurrency: 2));
    }

    public Task DisposeAsync()
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        Client?.Dispose();
        _directory.Dispose();
    }
}
