using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using AgentFlow.Diagnostics;
using AgentFlow.Models;
using AgentFlow.Models.Llama.Builtin;
using AgentFlow.Models.Llama.Chat;
using AgentFlow.Models.Llama.Providers;
using AgentFlow.Models.MiniLM;
using AgentFlow.Models.OpenAI;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentFlow.Serving.OpenAI.Tests;

/// <summary>
/// The built-in tiny llama model and the built-in MiniLM embedder served by the OpenAI-compatible endpoint as the worker
/// serves them (<c>tiny</c>, <c>minilm</c>), and a second endpoint serving <c>relay</c>: AgentFlow's own openai provider pointed at <c>tiny</c>, a real model whose
/// client reports no <see cref="SamplingSupport"/>. Loaded once for every test class of the collection.
/// </summary>
public sealed class TinyEndpointFixture : IAsyncLifetime
{
    private readonly string _home = Directory.CreateTempSubdirectory("agentflow-serving-tests-").FullName;
    private LoadedModel _relayModel = null!;

    public LoadedModel Tiny { get; private set; } = null!;

    public LlamaChatClient TinyClient => (LlamaChatClient)Tiny.Client;

    /// <summary>The built-in embedder, served as <c>minilm</c>.</summary>
    public MiniLmEmbeddingGenerator MiniLm { get; private set; } = null!;

    public OpenAIEndpointHandle Endpoint { get; private set; } = null!;

    /// <summary>Serves <c>relay</c>.</summary>
    public OpenAIEndpointHandle RelayEndpoint { get; private set; } = null!;

    public HttpClient Http { get; } = new();

    private static Task<OpenAIEndpointHandle> StartAsync(string name, IChatClient client, IEmbeddingGenerator<string, Embedding<float>>? embedder = null) =>
        OpenAIEndpoint.StartAsync(
            "http://127.0.0.1:0",
            new Dictionary<string, IChatClient> { [name] = client },
            embedder is null ? new Dictionary<string, IEmbeddingGenerator<string, Embedding<float>>>() : new() { ["minilm"] = embedder },
            NullLoggerFactory.Instance,
            TimeProvider.System,
            CancellationToken.None);

    public async Task InitializeAsync()
    {
        var provider = new BuiltinModelProvider(new BuiltinModelStore(Path.Combine(_home, "models")));
        Tiny = await provider.LoadAsync(ModelRegistry.BuiltinModels[0], CancellationToken.None);
        MiniLm = new MiniLmEmbeddingGenerator();
        Endpoint = await StartAsync("tiny", Tiny.Client, MiniLm);
        _relayModel = await new OpenAIModelProvider().LoadAsync(RemoteSpec("relay", "tiny"), CancellationToken.None);
        RelayEndpoint = await StartAsync("relay", _relayModel.Client);
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await RelayEndpoint.DisposeAsync();
        await Endpoint.DisposeAsync();
        await _relayModel.DisposeAsync();
        await Tiny.DisposeAsync();
        MiniLm.Dispose();
        Directory.Delete(_home, recursive: true);
    }

    public Uri Url(string path) => new(Endpoint.Address, path);

    /// <summary>A registry entry for AgentFlow's openai provider pointed at this endpoint's <paramref name="model"/>.</summary>
    public ModelSpec RemoteSpec(string name, string model)
    {
        var location = new SourceLocation("agentflow.yaml", 1, 1);
        return new ModelSpec(name, "openai", new Dictionary<string, ModelSetting>
        {
            ["endpoint"] = new(Url("/v1").ToString(), location),
            ["model"] = new(model, location),
            ["api_key_env"] = new("none", location),
        }, location);
    }

    /// <summary>Posts raw text to the chat completions route; the status and the parsed JSON body.</summary>
    public async Task<(HttpStatusCode Status, JsonObject Body)> PostAsync(string json, OpenAIEndpointHandle? endpoint = null)
    {
        using var response = await Http.PostAsync(new Uri((endpoint ?? Endpoint).Address, "/v1/chat/completions"), new StringContent(json, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonNode.Parse(text)!.AsObject());
    }

    /// <summary>Posts a request: <c>model: tiny</c> and one user message, with <paramref name="fields"/> added or replaced.</summary>
    public Task<(HttpStatusCode Status, JsonObject Body)> ChatAsync(JsonObject fields, OpenAIEndpointHandle? endpoint = null)
    {
        var body = new JsonObject
        {
            ["model"] = "tiny",
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Tell me about tea." }),
            ["max_tokens"] = 8,
        };
        foreach (var (name, value) in fields)
        {
            body[name] = value?.DeepClone();
        }

        return PostAsync(body.ToJsonString(), endpoint);
    }
}

[CollectionDefinition(Name)]
public sealed class TinyEndpointTests : ICollectionFixture<TinyEndpointFixture>
{
    public const string Name = "tiny endpoint";
}
