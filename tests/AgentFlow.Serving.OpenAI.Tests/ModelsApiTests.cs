using System.Net;
using System.Text.Json.Nodes;
using AgentFlow.Serving.OpenAI.Tests.Chat;

namespace AgentFlow.Serving.OpenAI.Tests;

[Collection(TinyEndpointTests.Name)]
public sealed class ModelsApiTests(TinyEndpointFixture fixture)
{
    private async Task<(HttpStatusCode Status, JsonObject Body)> GetAsync(string path)
    {
        using var response = await fixture.Http.GetAsync(fixture.Url(path));
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject());
    }

    [Fact]
    public async Task Models_List_HasTheServedChatAndEmbeddingModelsWithCreatedInUnixSeconds()
    {
        var (status, body) = await GetAsync("/v1/models");

        Assert.Equal(HttpStatusCode.OK, status);
        var models = body["data"]!.AsArray();
        Assert.Equal(["minilm", "tiny"], models.Select(m => m!["id"]!.GetValue<string>()));
        foreach (var model in models)
        {
            Assert.Equal("model", model!["object"]!.GetValue<string>());
            var created = DateTimeOffset.FromUnixTimeSeconds(model["created"]!.GetValue<long>());
            Assert.InRange(created, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddMinutes(1));
        }
    }

    [Fact]
    public async Task Models_Retrieve_IsTheModelObject()
    {
        var (status, body) = await GetAsync("/v1/models/tiny");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("tiny", body["id"]!.GetValue<string>());
        Assert.Equal("model", body["object"]!.GetValue<string>());
        Assert.Equal("agentflow", body["owned_by"]!.GetValue<string>());
        Assert.True(body["created"]!.GetValue<long>() > 0);
    }

    [Fact]
    public async Task Models_RetrieveUnknown_Is404ModelNotFound()
    {
        var (status, body) = await GetAsync("/v1/models/gpt-9");

        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal("model_not_found", ChatCompletionRequestTests.AssertOpenAIError(body)["code"]!.GetValue<string>());
    }
}
