using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using AgentFlow.Diagnostics;
using AgentFlow.Models;
using AgentFlow.Models.OpenAI;
using AgentFlow.Serving.OpenAI.Tests.Chat;
using Microsoft.Extensions.AI;

namespace AgentFlow.Serving.OpenAI.Tests.Embeddings;

/// <summary><c>POST /v1/embeddings</c> serving the built-in MiniLM embedder, compared with calling it directly.</summary>
[Collection(TinyEndpointTests.Name)]
public sealed class EmbeddingsTests(TinyEndpointFixture fixture)
{
    private const string Tea = "How do I brew green tea?";
    private const string Refund = "Refunds are paid within 14 days.";

    private async Task<(HttpStatusCode Status, JsonObject Body)> EmbedAsync(string json)
    {
        using var response = await fixture.Http.PostAsync(fixture.Url("/v1/embeddings"), new StringContent(json, Encoding.UTF8, "application/json"));
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject());
    }

    [Fact]
    public async Task Embeddings_StringInput_IsMiniLmsVectorWithItsTokenCount()
    {
        var direct = await fixture.MiniLm.GenerateVectorAsync(Tea);

        var (status, body) = await EmbedAsync($$"""{"model": "minilm", "input": "{{Tea}}"}""");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("list", body["object"]!.GetValue<string>());
        Assert.Equal("minilm", body["model"]!.GetValue<string>());
        var item = Assert.Single(body["data"]!.AsArray())!;
        Assert.Equal("embedding", item["object"]!.GetValue<string>());
        Assert.Equal(0, item["index"]!.GetValue<int>());
        var vector = item["embedding"]!.AsArray().Select(v => v!.GetValue<float>()).ToArray();
        Assert.Equal(direct.ToArray(), vector);
        Assert.Equal(fixture.MiniLm.CountTokens(Tea), body["usage"]!["prompt_tokens"]!.GetValue<int>());
        Assert.Equal(body["usage"]!["prompt_tokens"]!.GetValue<int>(), body["usage"]!["total_tokens"]!.GetValue<int>());
    }

    [Fact]
    public async Task Embeddings_ArrayInputAsBase64_DecodesToTheVectorsInOrder()
    {
        var direct = await fixture.MiniLm.GenerateAsync([Tea, Refund]);

        var (status, body) = await EmbedAsync($$"""{"model": "minilm", "input": ["{{Tea}}", "{{Refund}}"], "encoding_format": "base64", "dimensions": 384, "user": "ann"}""");

        Assert.Equal(HttpStatusCode.OK, status);
        var data = body["data"]!.AsArray();
        Assert.Equal([0, 1], data.Select(d => d!["index"]!.GetValue<int>()));
        for (var i = 0; i < 2; i++)
        {
            var bytes = Convert.FromBase64String(data[i]!["embedding"]!.GetValue<string>());
            var floats = new float[bytes.Length / sizeof(float)];
            Buffer.BlockCopy(bytes, 0, floats, 0, bytes.Length);
            Assert.Equal(direct[i].Vector.ToArray(), floats);
        }

        Assert.Equal(fixture.MiniLm.CountTokens(Tea) + fixture.MiniLm.CountTokens(Refund), body["usage"]!["prompt_tokens"]!.GetValue<int>());
    }

    [Fact]
    public async Task OpenAIEmbedder_AgainstTheEndpoint_GetsTheSameVectorsAsADirectCall()
    {
        // AgentFlow's own provider: openai embedder (the OpenAI .NET client asks for base64 and sends dimensions).
        var location = new SourceLocation("agentflow.yaml", 1, 1);
        var spec = new ModelSpec("remote-minilm", "openai", new Dictionary<string, ModelSetting>
        {
            ["endpoint"] = new(fixture.Url("/v1").ToString(), location),
            ["model"] = new("minilm", location),
            ["api_key_env"] = new("none", location),
            ["dimensions"] = new("384", location),
        }, location);
        await using var remote = await new OpenAIEmbeddingProvider().LoadAsync(spec, CancellationToken.None);
        var direct = await fixture.MiniLm.GenerateAsync([Tea, Refund]);

        var served = await remote.Generator.GenerateAsync([Tea, Refund]);

        Assert.Equal(direct.Select(e => e.Vector.ToArray()), served.Select(e => e.Vector.ToArray()));
        Assert.Equal(direct.Usage!.InputTokenCount, served.Usage!.InputTokenCount);
    }

    public static TheoryData<string, string> BadFields => new()
    {
        { """{"model": "minilm"}""", "input" },
        { """{"model": "minilm", "input": ""}""", "input" },
        { """{"model": "minilm", "input": 5}""", "input" },
        { """{"model": "minilm", "input": []}""", "input" },
        { """{"model": "minilm", "input": ["tea", ""]}""", "input[1]" },
        { """{"model": "minilm", "input": [101, 102]}""", "input[0]" },
        { """{"model": "minilm", "input": [[101, 102]]}""", "input[0]" },
        { """{"model": "minilm", "input": "tea", "encoding_format": "hex"}""", "encoding_format" },
        { """{"model": "minilm", "input": "tea", "dimensions": 128}""", "dimensions" },
        { """{"model": "minilm", "input": "tea", "dimensions": "small"}""", "dimensions" },
        { """{"model": "minilm", "input": "tea", "dimensions": 0}""", "dimensions" },
        { """{"model": 42, "input": "tea"}""", "model" },
        { """{"input": "tea"}""", "model" },
        { """{"model": "minilm", "input": "tea", "frobnicate": 1}""", "frobnicate" },
        { """{"model": "tiny", "input": "tea"}""", "model" },
    };

    [Theory]
    [MemberData(nameof(BadFields))]
    public async Task Embeddings_BadField_Is400NamingTheField(string json, string param)
    {
        var (status, body) = await EmbedAsync(json);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = ChatCompletionRequestTests.AssertOpenAIError(body);
        Assert.Equal("invalid_request_error", error["type"]!.GetValue<string>());
        Assert.Equal(param, error["param"]!.GetValue<string>());
    }

    [Fact]
    public async Task Embeddings_UnknownModel_Is404ModelNotFound()
    {
        var (status, body) = await EmbedAsync("""{"model": "text-embedding-3-small", "input": "tea"}""");

        Assert.Equal(HttpStatusCode.NotFound, status);
        var error = ChatCompletionRequestTests.AssertOpenAIError(body);
        Assert.Equal("model_not_found", error["code"]!.GetValue<string>());
        Assert.Contains("minilm", error["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ChatCompletions_WithTheEmbeddingModel_Is400SayingUseEmbeddings()
    {
        var (status, body) = await fixture.ChatAsync(new JsonObject { ["model"] = "minilm" });

        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = ChatCompletionRequestTests.AssertOpenAIError(body);
        Assert.Equal("model", error["param"]!.GetValue<string>());
        Assert.Contains("/v1/embeddings", error["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }
}
