using System.ClientModel;
using System.Text;
using System.Text.Json;
using AgentFlow.Models.OpenAI.Tests.Support;
using Microsoft.Extensions.AI;
using static AgentFlow.Models.OpenAI.Tests.OpenAIModelProviderCheckTests;

namespace AgentFlow.Models.OpenAI.Tests;

/// <summary>Real HTTP round trips between the provider's client and a fake OpenAI server on 127.0.0.1.</summary>
public sealed class OpenAIRoundTripTests
{
    private const string Key = "sk-test-round-trip-key";

    private const string Completion = """
        {
          "id": "chatcmpl-test-1",
          "object": "chat.completion",
          "created": 1700000000,
          "model": "test-model",
          "choices": [
            { "index": 0, "message": { "role": "assistant", "content": "billing" }, "finish_reason": "stop" }
          ],
          "usage": { "prompt_tokens": 23, "completion_tokens": 2, "total_tokens": 25 }
        }
        """;

    private static readonly ChatMessage[] Messages =
    [
        new(ChatRole.System, "You label support tickets."),
        new(ChatRole.User, "Label as billing, bug or other: I was charged twice"),
    ];

    private static readonly ChatOptions StepOptions = new() { MaxOutputTokens = 16, Temperature = 0, TopP = 0.9f, Seed = 42, StopSequences = ["\n"] };

    private static ModelSpec LocalSpec(FakeOpenAIServer server, params (string Key, string Value, int Line)[] extra) =>
        Spec("gpt", [("endpoint", server.Endpoint + "/", 4), ("model", "test-model", 5), ("api_key_env", "TEST_OPENAI_KEY", 6), ("timeout", "10", 7), .. extra]);

    private static OpenAIModelProvider Provider() => new(Env(("TEST_OPENAI_KEY", Key)));

    [Fact]
    public async Task GetResponse_SendsModelMessagesAndLimits_ReturnsTextAndUsage()
    {
        await using var server = new FakeOpenAIServer(Completion);
        await using var loaded = await Provider().LoadAsync(LocalSpec(server), CancellationToken.None);

        var response = await loaded.Client.GetResponseAsync(Messages, StepOptions);

        Assert.Equal("billing", response.Text);
        Assert.Equal(23, response.Usage?.InputTokenCount);
        Assert.Equal(2, response.Usage?.OutputTokenCount);
        Assert.Equal(25, response.Usage?.TotalTokenCount);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);

        var request = Assert.Single(server.Requests);
        Assert.Equal("POST", request.Method);
        Assert.Equal("/v1/chat/completions", request.Path);
        Assert.Equal($"Bearer {Key}", request.Headers["Authorization"]);
        Assert.False(request.Headers.ContainsKey("OpenAI-Organization"));
        using var body = JsonDocument.Parse(request.Body);
        var root = body.RootElement;
        Assert.Equal("test-model", root.GetProperty("model").GetString());
        var messages = root.GetProperty("messages").EnumerateArray().ToArray();
        Assert.Equal(2, messages.Length);
        Assert.Equal("system", messages[0].GetProperty("role").GetString());
        Assert.Equal("You label support tickets.", ContentText(messages[0]));
        Assert.Equal("user", messages[1].GetProperty("role").GetString());
        Assert.Equal("Label as billing, bug or other: I was charged twice", ContentText(messages[1]));

        // A server other than OpenAI's gets the limit in max_tokens (see MaxTokensField), and only there.
        Assert.Equal(16, root.GetProperty("max_tokens").GetInt32());
        Assert.False(root.TryGetProperty("max_completion_tokens", out _));
        Assert.Equal(0, root.GetProperty("temperature").GetDouble());
        Assert.Equal(0.9, root.GetProperty("top_p").GetDouble(), 3);
        Assert.Equal(42, root.GetProperty("seed").GetInt64());
        Assert.Equal(["\n"], root.GetProperty("stop").EnumerateArray().Select(s => s.GetString()!).ToArray());
        Assert.False(root.TryGetProperty("stream", out var stream) && stream.GetBoolean());
    }

    [Fact]
    public async Task GetResponse_JsonSchemaResponseFormat_SentAsResponseFormatJsonSchema()
    {
        await using var server = new FakeOpenAIServer(Completion);
        await using var loaded = await Provider().LoadAsync(LocalSpec(server), CancellationToken.None);
        using var schema = JsonDocument.Parse("""{"type":"object","properties":{"category":{"enum":["billing","bug"]}},"required":["category"]}""");

        await loaded.Client.GetResponseAsync(Messages, new ChatOptions { ResponseFormat = ChatResponseFormat.ForJsonSchema(schema.RootElement, "extract") });

        using var body = JsonDocument.Parse(Assert.Single(server.Requests).Body);
        var format = body.RootElement.GetProperty("response_format");
        Assert.Equal("json_schema", format.GetProperty("type").GetString());
        Assert.Equal("extract", format.GetProperty("json_schema").GetProperty("name").GetString());
        Assert.Equal(["billing", "bug"], format.GetProperty("json_schema").GetProperty("schema").GetProperty("properties").GetProperty("category")
            .GetProperty("enum").EnumerateArray().Select(e => e.GetString()!).ToArray());
    }

    [Fact]
    public async Task GetResponse_MaxCompletionTokensField_SendsTheNewFieldOnly()
    {
        await using var server = new FakeOpenAIServer(Completion);
        await using var loaded = await Provider().LoadAsync(LocalSpec(server, ("max_tokens_field", "max_completion_tokens", 8)), CancellationToken.None);

        await loaded.Client.GetResponseAsync(Messages, StepOptions);

        using var body = JsonDocument.Parse(Assert.Single(server.Requests).Body);
        Assert.Equal(16, body.RootElement.GetProperty("max_completion_tokens").GetInt32());
        Assert.False(body.RootElement.TryGetProperty("max_tokens", out _));
    }

    [Fact]
    public async Task GetResponse_ApiKeyEnvNone_SendsNoAuthorizationHeader()
    {
        await using var server = new FakeOpenAIServer(Completion);
        var provider = new OpenAIModelProvider(Env());
        var spec = Spec("local", ("endpoint", server.Endpoint, 4), ("model", "test-model", 5), ("api_key_env", "none", 6));
        await using var loaded = await provider.LoadAsync(spec, CancellationToken.None);

        var response = await loaded.Client.GetResponseAsync("hi");

        Assert.Equal("billing", response.Text);
        Assert.False(Assert.Single(server.Requests).Headers.ContainsKey("Authorization"));
    }

    [Fact]
    public async Task GetResponse_Organization_SentAsHeader()
    {
        await using var server = new FakeOpenAIServer(Completion);
        await using var loaded = await Provider().LoadAsync(LocalSpec(server, ("organization", "org-test", 8)), CancellationToken.None);

        await loaded.Client.GetResponseAsync("hi");

        Assert.Equal("org-test", Assert.Single(server.Requests).Headers["OpenAI-Organization"]);
    }

    [Fact]
    public async Task GetStreamingResponse_TextArrivesInChunks_UsageAtTheEnd()
    {
        var sse = new StringBuilder();
        foreach (var piece in new[] { "bil", "li", "ng" })
        {
            sse.Append("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"test-model\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"")
                .Append(piece).Append("\"},\"finish_reason\":null}]}\n\n");
        }

        sse.Append("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"test-model\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
        sse.Append("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"test-model\",\"choices\":[],\"usage\":{\"prompt_tokens\":23,\"completion_tokens\":3,\"total_tokens\":26}}\n\n");
        sse.Append("data: [DONE]\n\n");
        await using var server = new FakeOpenAIServer(_ => new CannedResponse(200, "text/event-stream", sse.ToString()));
        await using var loaded = await Provider().LoadAsync(LocalSpec(server), CancellationToken.None);

        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in loaded.Client.GetStreamingResponseAsync(Messages, StepOptions))
        {
            updates.Add(update);
        }

        var response = updates.ToChatResponse();
        Assert.Equal("billing", response.Text);
        Assert.True(updates.Count(u => u.Text.Length > 0) >= 3);
        Assert.Equal(23, response.Usage?.InputTokenCount);
        Assert.Equal(3, response.Usage?.OutputTokenCount);
        using var body = JsonDocument.Parse(Assert.Single(server.Requests).Body);
        Assert.True(body.RootElement.GetProperty("stream").GetBoolean());
        Assert.Equal(16, body.RootElement.GetProperty("max_tokens").GetInt32());
    }

    [Fact]
    public async Task GetResponse_ServerRejectsTheKey_ErrorCarriesStatusButNeverTheKey()
    {
        await using var server = new FakeOpenAIServer(_ => new CannedResponse(
            401, "application/json", """{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","code":"invalid_api_key"}}"""));
        await using var loaded = await Provider().LoadAsync(LocalSpec(server), CancellationToken.None);

        var ex = await Assert.ThrowsAsync<ClientResultException>(() => loaded.Client.GetResponseAsync("hi"));

        Assert.Equal(401, ex.Status);
        Assert.Contains("Incorrect API key provided", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Key, ex.ToString(), StringComparison.Ordinal);
    }

    private static string? ContentText(JsonElement message)
    {
        var content = message.GetProperty("content");
        return content.ValueKind == JsonValueKind.String
            ? content.GetString()
            : string.Concat(content.EnumerateArray().Select(p => p.GetProperty("text").GetString()));
    }
}
