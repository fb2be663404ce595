using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using AgentFlow.Models;
using Microsoft.Extensions.AI;

namespace AgentFlow.Serving.OpenAI.Tests.Chat;

/// <summary>Sampling fields are honoured by the tiny llama model or refused with a 400, never ignored.</summary>
[Collection(TinyEndpointTests.Name)]
public sealed class SamplingTests(TinyEndpointFixture fixture)
{
    private static string Text(JsonObject body, int choice = 0) => body["choices"]![choice]!["message"]!["content"]!.GetValue<string>();

    private async Task<string> TextAsync(JsonObject fields)
    {
        var (status, body) = await fixture.ChatAsync(fields);
        Assert.True(status == HttpStatusCode.OK, body.ToJsonString());
        return Text(body);
    }

    [Fact]
    public async Task ChatCompletions_SameSeed_SamplesTheSameText()
    {
        var first = await TextAsync(new JsonObject { ["temperature"] = 1.5, ["seed"] = 7, ["max_tokens"] = 16 });
        var second = await TextAsync(new JsonObject { ["temperature"] = 1.5, ["seed"] = 7, ["max_tokens"] = 16 });

        Assert.Equal(first, second);
    }

    [Fact]
    public async Task ChatCompletions_Unseeded_SamplesDifferentTexts()
    {
        var texts = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < 4; i++)
        {
            texts.Add(await TextAsync(new JsonObject { ["temperature"] = 1.5, ["max_tokens"] = 16 }));
        }

        Assert.True(texts.Count > 1, "four unseeded sampled answers were all the same: " + texts.First());
    }

    [Fact]
    public async Task ChatCompletions_N_GeneratesThatManyChoicesWithUsageSummed()
    {
        var (status, body) = await fixture.ChatAsync(new JsonObject { ["n"] = 3, ["temperature"] = 1.5, ["seed"] = 3, ["max_tokens"] = 5 });
        var (_, single) = await fixture.ChatAsync(new JsonObject { ["temperature"] = 1.5, ["seed"] = 3, ["max_tokens"] = 5 });

        Assert.Equal(HttpStatusCode.OK, status);
        var choices = body["choices"]!.AsArray();
        Assert.Equal([0, 1, 2], choices.Select(c => c!["index"]!.GetValue<int>()));
        Assert.Equal(Text(single), Text(body, 0));
        Assert.Equal(15, body["usage"]!["completion_tokens"]!.GetValue<int>());
        Assert.Equal(single["usage"]!["prompt_tokens"]!.GetValue<int>(), body["usage"]!["prompt_tokens"]!.GetValue<int>());
    }

    [Fact]
    public async Task ChatCompletions_LogitBias_ForcesTheToken()
    {
        var token = fixture.TinyClient.Weights.Tokenize("tea", add_bos: false, special: false, Encoding.UTF8)[0];
        var bias = new JsonObject { [((int)token).ToString(System.Globalization.CultureInfo.InvariantCulture)] = 100 };

        var one = await TextAsync(new JsonObject { ["logit_bias"] = bias.DeepClone(), ["max_tokens"] = 1 });
        var four = await TextAsync(new JsonObject { ["logit_bias"] = bias.DeepClone(), ["max_tokens"] = 4 });
        var unbiased = await TextAsync(new JsonObject { ["max_tokens"] = 4 });

        Assert.NotEmpty(one);
        Assert.Equal(string.Concat(Enumerable.Repeat(one, 4)), four);
        Assert.NotEqual(four, unbiased);
    }

    [Fact]
    public async Task ChatCompletions_LogitBiasBeyondTheVocabulary_Is400()
    {
        var (status, body) = await fixture.ChatAsync(new JsonObject { ["logit_bias"] = new JsonObject { ["99999999"] = 5 } });

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("logit bias", ChatCompletionRequestTests.AssertOpenAIError(body)["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("frequency_penalty")]
    [InlineData("presence_penalty")]
    public async Task ChatCompletions_Penalty_ChangesTheGreedyAnswerAsADirectCallDoes(string penalty)
    {
        var plain = await TextAsync(new JsonObject { ["max_tokens"] = 32 });
        var penalised = await TextAsync(new JsonObject { [penalty] = 2, ["max_tokens"] = 32 });
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 32 };
        if (penalty == "frequency_penalty")
        {
            options.FrequencyPenalty = 2;
        }
        else
        {
            options.PresencePenalty = 2;
        }

        var direct = await fixture.Tiny.Client.GetResponseAsync([new ChatMessage(ChatRole.User, "Tell me about tea.")], options);

        Assert.NotEqual(plain, penalised);
        Assert.Equal(direct.Text, penalised);
    }

    [Theory]
    [InlineData("""{"frequency_penalty": 1}""", "frequency_penalty")]
    [InlineData("""{"presence_penalty": -1}""", "presence_penalty")]
    [InlineData("""{"logit_bias": {"5": 10}}""", "logit_bias")]
    [InlineData("""{"logprobs": true}""", "logprobs")]
    public async Task ChatCompletions_SamplingTheModelCannotHonour_Is400NamingIt(string fields, string param)
    {
        var (status, body) = await fixture.ChatAsync(JsonNode.Parse(fields)!.AsObject().Also("model", "relay"), fixture.RelayEndpoint);
        var (plainStatus, _) = await fixture.ChatAsync(new JsonObject { ["model"] = "relay", ["frequency_penalty"] = 0 }, fixture.RelayEndpoint);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = ChatCompletionRequestTests.AssertOpenAIError(body);
        Assert.Equal(param, error["param"]!.GetValue<string>());
        Assert.Equal("unsupported_parameter", error["code"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, plainStatus);
    }

    [Fact]
    public void SamplingSupport_OfTheLlamaClient_HasPenaltiesLogitBiasAndLogProbabilities()
    {
        var support = SamplingSupport.Of(fixture.Tiny.Client);

        Assert.NotNull(support);
        Assert.True(support.Penalties);
        Assert.True(support.LogitBias);
        Assert.True(support.LogProbabilities);
    }
}

internal static class JsonObjectExtensions
{
    public static JsonObject Also(this JsonObject value, string name, JsonNode? field)
    {
        value[name] = field;
        return value;
    }
}
