using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;

namespace AgentFlow.Serving.OpenAI.Tests.Chat;

/// <summary><c>logprobs</c> / <c>top_logprobs</c> on the tiny llama model: one entry per output token, in OpenAI's shape.</summary>
[Collection(TinyEndpointTests.Name)]
public sealed class LogProbabilityTests(TinyEndpointFixture fixture)
{
    private static JsonObject Asked(int top) => new() { ["logprobs"] = true, ["top_logprobs"] = top, ["max_tokens"] = 12 };

    private static List<JsonNode> Content(JsonNode choice) => [.. choice["logprobs"]!["content"]!.AsArray().Select(t => t!)];

    private static byte[] Bytes(JsonNode token) => [.. token["bytes"]!.AsArray().Select(b => (byte)b!.GetValue<int>())];

    [Fact]
    public async Task ChatCompletions_Logprobs_OneEntryPerOutputTokenWhoseBytesMakeTheText()
    {
        var (status, body) = await fixture.ChatAsync(Asked(3));

        Assert.Equal(HttpStatusCode.OK, status);
        var choice = body["choices"]![0]!;
        var tokens = Content(choice);
        Assert.Equal(body["usage"]!["completion_tokens"]!.GetValue<int>(), tokens.Count);
        Assert.Equal(choice["message"]!["content"]!.GetValue<string>(), Encoding.UTF8.GetString([.. tokens.SelectMany(Bytes)]));
        Assert.Null(choice["logprobs"]!["refusal"]);
        foreach (var token in tokens)
        {
            var logprob = token["logprob"]!.GetValue<double>();
            Assert.InRange(logprob, double.MinValue, 0);
            var top = token["top_logprobs"]!.AsArray().Select(t => t!["logprob"]!.GetValue<double>()).ToList();
            Assert.Equal(3, top.Count);
            Assert.Equal(top.OrderDescending(), top);
            Assert.True(top.Sum(Math.Exp) <= 1 + 1e-9, $"probabilities sum to {top.Sum(Math.Exp)}");

            // Greedy decoding (temperature 0 by default) picks the likeliest token.
            Assert.Equal(top[0], logprob, 9);
            Assert.Equal(Bytes(token["top_logprobs"]![0]!), Bytes(token));
        }
    }

    [Fact]
    public async Task ChatCompletions_LogprobsUnderAForcedCall_TheForcedBytesHaveProbabilityOne()
    {
        // The call's opening text is fixed by the tool grammar: one allowed token per position, so log p = 0.
        var request = Asked(5);
        request["max_tokens"] = 96;
        request["tools"] = JsonNode.Parse("""[{"type": "function", "function": {"name": "ping", "parameters": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}}}]""");
        request["tool_choice"] = "required";

        var (status, body) = await fixture.ChatAsync(request);

        Assert.Equal(HttpStatusCode.OK, status);
        var first = Content(body["choices"]![0]!)[0];
        Assert.Equal("<", first["token"]!.GetValue<string>());
        Assert.Equal(0, first["logprob"]!.GetValue<double>(), 9);
        Assert.Single(first["top_logprobs"]!.AsArray());
    }

    [Fact]
    public async Task ChatCompletions_LogprobsStreamed_ChunksCarryTheSameTokensAsWithoutStreaming()
    {
        var (_, whole) = await fixture.ChatAsync(Asked(2));
        var request = Asked(2);
        request["model"] = "tiny";
        request["stream"] = true;
        request["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Tell me about tea." });

        using var response = await fixture.Http.PostAsync(fixture.Url("/v1/chat/completions"), JsonContent.Create(request));
        var chunks = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries)[..^1]
            .Select(e => JsonNode.Parse(e["data: ".Length..])!["choices"]![0]!).ToList();

        var streamed = chunks.Where(c => c["logprobs"] is not null).SelectMany(Content).Select(t => t.ToJsonString());
        Assert.Equal(Content(whole["choices"]![0]!).Select(t => t.ToJsonString()), streamed);
    }

    [Fact]
    public async Task ChatCompletions_WithoutLogprobs_LogprobsIsNull()
    {
        var (_, body) = await fixture.ChatAsync(new JsonObject());

        Assert.True(body["choices"]![0]!.AsObject().ContainsKey("logprobs"));
        Assert.Null(body["choices"]![0]!["logprobs"]);
    }
}
