using AgentFlow.Models.Constraints;
using AgentFlow.Models.Llama.Chat;
using AgentFlow.Models.Llama.Tests.Support;
using Microsoft.Extensions.AI;

namespace AgentFlow.Models.Llama.Tests.Chat;

/// <summary>The log-softmax behind <c>logprobs</c>: exact on small logit vectors, and on the tiny model one per output token.</summary>
public sealed class LogProbabilityReaderTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    private static readonly TokenVocabulary Vocabulary = new([[(byte)'a'], [(byte)'b'], [(byte)'c'], [0xE2, 0x82]], [2]);

    [Fact]
    public void Read_Logits_AreTheLogSoftmaxWithTheLikeliestFirst()
    {
        var reader = new LogProbabilityReader(Vocabulary, top: 2);

        // Probabilities 1/7, 2/7, 4/7 and 0 (a token the constraint masked).
        reader.Read([0f, MathF.Log(2), MathF.Log(4), float.NegativeInfinity], token: 1);

        var read = reader.Last!;
        Assert.Equal("b", read.Token);
        Assert.Equal(Math.Log(2.0 / 7), read.LogProbability, 6);
        Assert.Equal(["c", "b"], read.Top.Select(t => t.Token));
        Assert.Equal(Math.Log(4.0 / 7), read.Top[0].LogProbability, 6);
        Assert.All(read.Top, t => Assert.Empty(t.Top));
    }

    [Fact]
    public void Read_OnlyOneTokenAllowed_ItsLogProbabilityIsZeroAndPartialCharactersKeepTheirBytes()
    {
        var reader = new LogProbabilityReader(Vocabulary, top: 3);

        reader.Read([float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity, 5f], token: 3);

        Assert.Equal(0, reader.Last!.LogProbability, 9);
        Assert.Equal(new byte[] { 0xE2, 0x82 }, reader.Last.Bytes);
        Assert.Single(reader.Last.Top);
    }

    [Fact]
    public async Task GetResponseAsync_LogProbabilitiesAsked_OnePerOutputTokenInTheResponseAndTheUpdates()
    {
        var options = new ChatOptions { MaxOutputTokens = 10 };
        TokenLogProbabilities.Request(options, 4);
        ChatMessage[] prompt = [new(ChatRole.User, "Tell me about tea.")];

        var response = await fixture.Client.GetResponseAsync(prompt, options);
        var streamed = new List<TokenLogProbability>();
        await foreach (var update in fixture.Client.GetStreamingResponseAsync(prompt, options))
        {
            streamed.AddRange(TokenLogProbabilities.Read(update.AdditionalProperties) ?? []);
        }

        var tokens = TokenLogProbabilities.Read(response.AdditionalProperties)!;
        Assert.Equal(response.Usage!.OutputTokenCount, tokens.Count);
        Assert.Equal(response.Text, System.Text.Encoding.UTF8.GetString([.. tokens.SelectMany(t => t.Bytes)]));
        Assert.All(tokens, t => Assert.Equal(4, t.Top.Count));
        Assert.Equal(tokens.Select(t => (t.Token, t.LogProbability)), streamed.Select(t => (t.Token, t.LogProbability)));
        Assert.Null(TokenLogProbabilities.Read((await fixture.Client.GetResponseAsync(prompt, new ChatOptions { MaxOutputTokens = 4 })).AdditionalProperties));
    }
}
