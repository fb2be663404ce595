using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using AgentFlow.Diagnostics;
using AgentFlow.Models;
using AgentFlow.Models.Llama.Builtin;
using AgentFlow.Models.Llama.Providers;
using AgentFlow.Models.OpenAI;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentFlow.Serving.OpenAI.Tests;

/// <summary>A real tiny llama model behind the OpenAI-compatible endpoint, driven by AgentFlow's own openai provider over real HTTP.</summary>
public sealed class OpenAIEndpointTests : IAsyncLifetime
{
    private readonly string _home = Directory.CreateTempSubdirectory("agentflow-serving-tests-").FullName;
    private LoadedModel _tiny = null!;
    private OpenAIEndpointHandle _endpoint = null!;
    private readonly HttpClient _http = new();

    public async Task InitializeAsync()
    {
        var provider = new BuiltinModelProvider(new BuiltinModelStore(Path.Combine(_home, "models")));
        _tiny = await provider.LoadAsync(ModelRegistry.BuiltinModels[0], CancellationToken.None);
        _endpoint = await OpenAIEndpoint.StartAsync("http://127.0.0.1:0", new Dictionary<string, IChatClient> { ["tiny"] = _tiny.Client }, NullLoggerFactory.Instance, TimeProvider.System, CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _endpoint.DisposeAsync();
        await _tiny.DisposeAsync();
        Directory.Delete(_home, recursive: true);
    }

    private async Task<IChatClient> RemoteAsync()
    {
        var location = new SourceLocation("agentflow.yaml", 1, 1);
        var spec = new ModelSpec("remote-tiny", "openai", new Dictionary<string, ModelSetting>
        {
            ["endpoint"] = new(new Uri(_endpoint.Address, "/v1").ToString(), location),
            ["model"] = new("tiny", location),
            ["api_key_env"] = new("none", location),
        }, location);
        return (await new OpenAIModelProvider().LoadAsync(spec, CancellationToken.None)).Client;
    }

    private static List<ChatMessage> Prompt() => [new(ChatRole.System, "Be brief."), new(ChatRole.User, "Tell me about tea.")];

    private static ChatOptions Greedy() => new() { Temperature = 0, MaxOutputTokens = 12 };

    [Fact]
    public async Task OpenAIProvider_AgainstTheEndpoint_GetsTheSameAnswerAndUsageAsADirectCall()
    {
        var direct = await _tiny.Client.GetResponseAsync(Prompt(), Greedy());

        var remote = await (await RemoteAsync()).GetResponseAsync(Prompt(), Greedy());

        Assert.Equal(direct.Text, remote.Text);
        Assert.Equal(direct.Usage!.InputTokenCount, remote.Usage!.InputTokenCount);
        Assert.Equal(direct.Usage.OutputTokenCount, remote.Usage.OutputTokenCount);
    }

    [Fact]
    public async Task OpenAIProvider_Streaming_ConcatenatesToTheNonStreamingText()
    {
        var client = await RemoteAsync();
        var whole = await client.GetResponseAsync(Prompt(), Greedy());

        var chunks = new StringBuilder();
        var updates = 0;
        await foreach (var update in client.GetStreamingResponseAsync(Prompt(), Greedy()))
        {
            chunks.Append(update.Text);
            updates++;
        }

        Assert.Equal(whole.Text, chunks.ToString());
        Assert.True(updates > 2, "tokens arrive as separate chunks");
    }

    [Fact]
    public async Task Models_ListsTheServedModels()
    {
        var models = await _http.GetFromJsonAsync<JsonObject>(new Uri(_endpoint.Address, "/v1/models"));

        Assert.Equal("tiny", models!["data"]![0]!["id"]!.GetValue<string>());
    }

    [Fact]
    public async Task ChatCompletions_UnknownModelAndBadBodies_AreOpenAIErrors()
    {
        var unknown = await _http.PostAsJsonAsync(new Uri(_endpoint.Address, "/v1/chat/completions"), new { model = "gpt-9", messages = new[] { new { role = "user", content = "hi" } } });
        var notJson = await _http.PostAsync(new Uri(_endpoint.Address, "/v1/chat/completions"), new StringContent("{ nope", Encoding.UTF8, "application/json"));
        var noMessages = await _http.PostAsJsonAsync(new Uri(_endpoint.Address, "/v1/chat/completions"), new { model = "tiny", messages = Array.Empty<object>() });

        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("model_not_found", (await unknown.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["code"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.BadRequest, notJson.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, noMessages.StatusCode);
        Assert.Contains("messages", (await noMessages.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ChatCompletions_Stream_IsServerSentEventsEndingWithDone()
    {
        var response = await _http.PostAsJsonAsync(new Uri(_endpoint.Address, "/v1/chat/completions"), new
        {
            model = "tiny",
            stream = true,
            stream_options = new { include_usage = true },
            max_tokens = 6,
            messages = new[] { new { role = "user", content = "hi" } },
        });

        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        var events = text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(events, e => Assert.StartsWith("data: ", e, StringComparison.Ordinal));
        Assert.Equal("data: [DONE]", events[^1]);
        var usage = JsonNode.Parse(events[^2]["data: ".Length..])!["usage"]!;
        Assert.Equal(6, usage["completion_tokens"]!.GetValue<int>());
    }
}
