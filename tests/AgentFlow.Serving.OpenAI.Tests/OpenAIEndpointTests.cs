using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using AgentFlow.Models.OpenAI;
using Microsoft.Extensions.AI;

namespace AgentFlow.Serving.OpenAI.Tests;

/// <summary>A real tiny llama model behind the OpenAI-compatible endpoint, driven by AgentFlow's own openai provider over real HTTP.</summary>
[Collection(TinyEndpointTests.Name)]
public sealed class OpenAIEndpointTests(TinyEndpointFixture fixture)
{
    private async Task<IChatClient> RemoteAsync() => (await new OpenAIModelProvider().LoadAsync(fixture.RemoteSpec("remote-tiny", "tiny"), CancellationToken.None)).Client;

    private static List<ChatMessage> Prompt() => [new(ChatRole.System, "Be brief."), new(ChatRole.User, "Tell me about tea.")];

    private static ChatOptions Greedy() => new() { Temperature = 0, MaxOutputTokens = 12 };

    [Fact]
    public async Task OpenAIProvider_AgainstTheEndpoint_GetsTheSameAnswerAndUsageAsADirectCall()
    {
        var direct = await fixture.Tiny.Client.GetResponseAsync(Prompt(), Greedy());

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
    public async Task ChatCompletions_Stream_IsServerSentEventsEndingWithDone()
    {
        var response = await fixture.Http.PostAsJsonAsync(fixture.Url("/v1/chat/completions"), new
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

    [Fact]
    public async Task ChatCompletions_Stream_FirstChunkCarriesTheRoleAndOthersUsageNull()
    {
        var events = await StreamAsync(new { model = "tiny", stream = true, stream_options = new { include_usage = true }, max_tokens = 6, messages = new[] { new { role = "user", content = "hi" } } });

        var chunks = events[..^1].Select(e => JsonNode.Parse(e["data: ".Length..])!.AsObject()).ToList();
        Assert.Equal("assistant", chunks[0]["choices"]![0]!["delta"]!["role"]!.GetValue<string>());
        Assert.All(chunks[1..], c => Assert.Null(c["choices"]!.AsArray().FirstOrDefault()?["delta"]?["role"]));
        Assert.All(chunks[..^1], c => Assert.True(c.ContainsKey("usage") && c["usage"] is null, "usage: null on every chunk but the last"));
        Assert.Empty(chunks[^1]["choices"]!.AsArray());
        Assert.Equal("length", chunks[^2]["choices"]![0]!["finish_reason"]!.GetValue<string>());
        Assert.Equal(6, chunks[^1]["usage"]!["completion_tokens"]!.GetValue<int>());
    }

    [Fact]
    public async Task ChatCompletions_StreamWithoutUsage_HasNoUsageField()
    {
        var events = await StreamAsync(new { model = "tiny", stream = true, max_tokens = 4, messages = new[] { new { role = "user", content = "hi" } } });

        Assert.All(events[..^1], e => Assert.False(JsonNode.Parse(e["data: ".Length..])!.AsObject().ContainsKey("usage")));
        Assert.Equal("assistant", JsonNode.Parse(events[0]["data: ".Length..])!["choices"]![0]!["delta"]!["role"]!.GetValue<string>());
    }

    [Fact]
    public async Task ChatCompletions_StreamWithTwoChoices_EachHasItsRoleTextAndFinish()
    {
        var events = await StreamAsync(new { model = "tiny", stream = true, n = 2, temperature = 1.5, seed = 9, max_tokens = 5, messages = new[] { new { role = "user", content = "hi" } } });
        using var plain = await fixture.Http.PostAsJsonAsync(fixture.Url("/v1/chat/completions"), new { model = "tiny", n = 2, temperature = 1.5, seed = 9, max_tokens = 5, messages = new[] { new { role = "user", content = "hi" } } });
        var whole = JsonNode.Parse(await plain.Content.ReadAsStringAsync())!["choices"]!.AsArray();

        var choices = events[..^1].Select(e => JsonNode.Parse(e["data: ".Length..])!["choices"]![0]!).GroupBy(c => c["index"]!.GetValue<int>()).ToList();
        Assert.Equal([0, 1], choices.Select(g => g.Key));
        foreach (var choice in choices)
        {
            Assert.Equal("assistant", choice.First()["delta"]!["role"]!.GetValue<string>());
            Assert.Equal(whole[choice.Key]!["finish_reason"]!.GetValue<string>(), choice.Last()["finish_reason"]!.GetValue<string>());
            Assert.Equal(whole[choice.Key]!["message"]!["content"]!.GetValue<string>(), string.Concat(choice.Select(c => c["delta"]!["content"]?.GetValue<string>())));
        }
    }

    private async Task<string[]> StreamAsync(object request)
    {
        using var response = await fixture.Http.PostAsJsonAsync(fixture.Url("/v1/chat/completions"), request);
        var events = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("data: [DONE]", events[^1]);
        return events;
    }
}
