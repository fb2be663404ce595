using AgentFlow.Definitions;
using AgentFlow.Execution;
using AgentFlow.Models;
using AgentFlow.Models.Llama.Builtin;
using AgentFlow.Models.Llama.Providers;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentFlow.Core.Tests.Execution;

/// <summary>The real built-in tiny llama models (written to a private folder) behind a model host shared by a test class.</summary>
public sealed class TinyModelFixture : IAsyncLifetime
{
    private readonly string _home = Directory.CreateTempSubdirectory("agentflow-engine-tests-").FullName;

    public ModelHost Models { get; private set; } = null!;

    public Task InitializeAsync()
    {
        var registry = ModelRegistry.Load(configPath: null, new Dictionary<string, string>(), _home);
        Models = new ModelHost(registry, [new BuiltinModelProvider(new BuiltinModelStore(Path.Combine(_home, "models")))]);
        return Task.CompletedTask;
    }

    /// <summary>A fresh real on-disk conversation store in this fixture's folder.</summary>
    public AgentFlow.Memory.IConversationStore OpenStore() =>
        AgentFlow.Memory.Local.SqliteConversationStore.Open(new AgentFlow.Memory.MemoryStoreOptions { WorkingDirectory = Path.Combine(_home, Guid.NewGuid().ToString("N")) });

    public async Task DisposeAsync()
    {
        await Models.DisposeAsync();
        Directory.Delete(_home, recursive: true);
    }

    public Task<RunRecord> RunAsync(string yaml, IReadOnlyDictionary<string, string>? inputs = null, IRunObserver? observer = null, Conversations.IConversationMemory? memory = null)
    {
        var definition = WorkflowLoader.Parse(yaml, "test.yaml").GetDefinitionOrThrow();
        var runner = new WorkflowRunner(Models, new LocalModelGateway(Models), TimeProvider.System, NullLogger<WorkflowRunner>.Instance, memory);
        return runner.RunAsync(new RunRequest(definition) { Inputs = inputs ?? new Dictionary<string, string>() }, observer, CancellationToken.None);
    }
}
