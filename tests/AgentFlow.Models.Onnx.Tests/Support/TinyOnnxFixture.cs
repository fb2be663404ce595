using AgentFlow.Models.Onnx.Chat;
using AgentFlow.Models.Onnx.Tiny;

namespace AgentFlow.Models.Onnx.Tests.Support;

/// <summary>The built-in tiny ONNX model written once to a temporary folder and loaded once per test class.</summary>
public sealed class TinyOnnxFixture : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("agentflow-onnx-").FullName;

    public TinyOnnxStore Store => new(Path.Combine(_root, "models"));

    public string Folder { get; private set; } = string.Empty;

    public OnnxChatClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Folder = Store.Ensure(new TinyOnnxOptions());
        Client = await OnnxChatClient.LoadAsync(Folder, new OnnxChatClientOptions { ModelId = "tiny-onnx", Concurrency = 4 });
    }

    public Task DisposeAsync()
    {
        Client.Dispose();
        Directory.Delete(_root, recursive: true);
        return Task.CompletedTask;
    }

    /// <summary>A fresh temporary folder under the fixture's root.</summary>
    public string NewFolder() => Directory.CreateDirectory(Path.Combine(_root, Guid.NewGuid().ToString("N"))).FullName;
}
