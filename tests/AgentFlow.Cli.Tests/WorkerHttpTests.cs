using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace AgentFlow.Cli.Tests;

/// <summary><c>agentflow worker --http</c> as a real process serving the built-in tiny model and MiniLM embedder (no broker).</summary>
public sealed partial class WorkerHttpTests(CliFixture fixture) : IClassFixture<CliFixture>
{
    [Fact]
    public async Task WorkerHttp_ServesCompletionsAndEmbeddingsAndAnswersMistakesInOpenAIsErrorShape()
    {
        var config = fixture.WriteFile("http.yaml", "models:\n  tiny-http: { provider: builtin, seed: 3 }\n");
        var env = new Dictionary<string, string>(fixture.Environment) { ["AGENTFLOW_CONFIG"] = config };
        await using var worker = await WorkerProcess.StartAsync(fixture.Root, env, "tiny-http", "w-http", "--http", "127.0.0.1:0", "--embedders", "minilm");
        var address = new Uri(Address().Match(worker.Log).Groups["url"].Value);
        using var http = new HttpClient { BaseAddress = address };

        var ok = await PostAsync(http, """{"model": "tiny-http", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}""");
        var wrongType = await PostAsync(http, """{"model": "tiny-http", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}""");
        var notJson = await PostAsync(http, "{ nope");
        using var unknownRoute = await http.GetAsync(new Uri("/v1/embeddingz", UriKind.Relative));
        var model = JsonNode.Parse(await http.GetStringAsync(new Uri("/v1/models/tiny-http", UriKind.Relative)))!;
        var models = JsonNode.Parse(await http.GetStringAsync(new Uri("/v1/models", UriKind.Relative)))!["data"]!.AsArray();
        using var embedded = await http.PostAsync(new Uri("/v1/embeddings", UriKind.Relative), new StringContent("""{"model": "minilm", "input": ["tea", "refunds"]}""", Encoding.UTF8, "application/json"));
        var embeddings = JsonNode.Parse(await embedded.Content.ReadAsStringAsync())!;

        Assert.Equal(HttpStatusCode.OK, ok.Status);
        Assert.Equal(5, ok.Body["usage"]!["completion_tokens"]!.GetValue<int>());
        Assert.Equal(HttpStatusCode.BadRequest, wrongType.Status);
        Assert.Equal("temperature", wrongType.Body["error"]!["param"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.BadRequest, notJson.Status);
        Assert.Equal("invalid_request_error", notJson.Body["error"]!["type"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.NotFound, unknownRoute.StatusCode);
        Assert.Equal("unknown_url", JsonNode.Parse(await unknownRoute.Content.ReadAsStringAsync())!["error"]!["code"]!.GetValue<string>());
        Assert.Equal("tiny-http", model["id"]!.GetValue<string>());
        Assert.Equal(["minilm", "tiny-http"], models.Select(m => m!["id"]!.GetValue<string>()));
        Assert.Equal(HttpStatusCode.OK, embedded.StatusCode);
        Assert.All(embeddings["data"]!.AsArray(), e => Assert.Equal(384, e!["embedding"]!.AsArray().Count));
        Assert.True(embeddings["usage"]!["prompt_tokens"]!.GetValue<int>() >= 2);
    }

    private static async Task<(HttpStatusCode Status, JsonObject Body)> PostAsync(HttpClient http, string json)
    {
        using var response = await http.PostAsync(new Uri("/v1/chat/completions", UriKind.Relative), new StringContent(json, Encoding.UTF8, "application/json"));
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject());
    }

    [GeneratedRegex(@"on (?<url>http://127\.0\.0\.1:\d+/?)")]
    private static partial Regex Address();
}
