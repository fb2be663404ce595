using System.Text;
using AgentFlow.Models.Llama.Chat;
using AgentFlow.Models.Llama.Tests.Support;
using LLama;
using Microsoft.Extensions.AI;

namespace AgentFlow.Models.Llama.Tests.Chat;

public sealed class LlamaChatClientTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    private static readonly ChatMessage[] Prompt =
    [
        new(ChatRole.System, "You are a helpful assistant."),
        new(ChatRole.User, "Write two sentences about the sea."),
    ];

    private LlamaChatClient Client => fixture.Client;

    [Fact]
    public async Task GetResponseAsync_Greedy_TextUsageAndMetadata()
    {
        var response = await Client.GetResponseAsync(Prompt, new ChatOptions { MaxOutputTokens = 32 });

        Assert.False(string.IsNullOrWhiteSpace(response.Text));
        Assert.Equal("tiny", response.ModelId);
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
        var usage = response.Usage!;
        Assert.Equal(Client.CountTokens(ChatMl(Prompt)), usage.InputTokenCount);
        Assert.Equal(32, usage.OutputTokenCount);
        Assert.Equal(usage.InputTokenCount + usage.OutputTokenCount, usage.TotalTokenCount);
        Assert.All(response.Text, c => Assert.True(c == '\n' || c is >= ' ' and <= '~', $"U+{(int)c:X4}"));
    }

    [Fact]
    public async Task GetResponseAsync_GreedyTwoSeparateLoads_IdenticalText()
    {
        using var other = await LlamaChatClient.LoadAsync(fixture.ModelPath, TinyModelFixture.ClientOptions());

        var a = await Client.GetResponseAsync(Prompt, new ChatOptions { MaxOutputTokens = 64, Temperature = 0 });
        var b = await other.GetResponseAsync(Prompt, new ChatOptions { MaxOutputTokens = 64, Temperature = 0 });

        Assert.Equal(a.Text, b.Text);
    }

    [Fact]
    public async Task GetResponseAsync_RandomWeights_TextIsVaried()
    {
        var response = await Client.GetResponseAsync(Prompt, new ChatOptions { MaxOutputTokens = 100 });

        Assert.True(response.Text.Distinct().Count() >= 10, response.Text);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_Concatenated_EqualsNonStreamingAndEndsWithUsage()
    {
        var options = new ChatOptions { MaxOutputTokens = 48 };
        var whole = await Client.GetResponseAsync(Prompt, options);
        var updates = new List<ChatResponseUpdate>();

        await foreach (var update in Client.GetStreamingResponseAsync(Prompt, options))
        {
            updates.Add(update);
        }

        Assert.True(updates.Count > 2);
        Assert.Equal(whole.Text, string.Concat(updates.Select(u => u.Text)));
        var last = updates[^1];
        Assert.Equal(ChatFinishReason.Length, last.FinishReason);
        var usage = Assert.IsType<UsageContent>(Assert.Single(last.Contents)).Details;
        Assert.Equal(whole.Usage!.InputTokenCount, usage.InputTokenCount);
        Assert.Equal(48, usage.OutputTokenCount);
        Assert.All(updates, u => Assert.Equal("tiny", u.ModelId));
    }

    [Fact]
    public async Task GetResponseAsync_MaxOutputTokens_Honored()
    {
        var response = await Client.GetResponseAsync(Prompt, new ChatOptions { MaxOutputTokens = 5 });

        Assert.InRange(response.Usage!.OutputTokenCount!.Value, 1, 5);
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
    }

    [Fact]
    public async Task GetResponseAsync_NoMaxOutputTokens_DefaultLimit()
    {
        var response = await Client.GetResponseAsync(Prompt);

        Assert.Equal(256, response.Usage!.OutputTokenCount);
    }

    [Fact]
    public async Task GetResponseAsync_StopSequence_TextEndsBeforeIt()
    {
        var full = (await Client.GetResponseAsync(Prompt, new ChatOptions { MaxOutputTokens = 80 })).Text;
        var stop = full.Substring(30, 3);
        var expected = full[..full.IndexOf(stop, StringComparison.Ordinal)];

        var stopped = await Client.GetResponseAsync(Prompt, new ChatOptions { MaxOutputTokens = 80, StopSequences = [stop] });
        var streamed = new StringBuilder();
        await foreach (var update in Client.GetStreamingResponseAsync(Prompt, new ChatOptions { MaxOutputTokens = 80, StopSequences = [stop] }))
        {
            streamed.Append(update.Text);
        }

        Assert.Equal(expected, stopped.Text);
        Assert.Equal(ChatFinishReason.Stop, stopped.FinishReason);
        Assert.True(stopped.Usage!.OutputTokenCount < 80);
        Assert.Equal(expected, streamed.ToString());
    }

    [Fact]
    public async Task GetStreamingResponseAsync_Cancelled_ThrowsPromptlyAndClientStillWorks()
    {
        using var cts = new CancellationTokenSource();
        var chunks = 0;

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var update in Client.GetStreamingResponseAsync(Prompt, new ChatOptions { MaxOutputTokens = 1900 }, cts.Token))
            {
                chunks++;
                await cts.CancelAsync();
            }
        });

        Assert.Equal(1, chunks);
        var after = await Client.GetResponseAsync(Prompt, new ChatOptions { MaxOutputTokens = 4 });
        Assert.Equal(4, after.Usage!.OutputTokenCount);
    }

    [Fact]
    public async Task GetResponseAsync_AlreadyCancelled_Throws()
    {
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            Client.GetResponseAsync(Prompt, new ChatOptions { MaxOutputTokens = 4 }, new CancellationToken(canceled: true)));
    }

    [Fact]
    public async Task GetResponseAsync_FourConcurrentRequests_AllSucceedWithSameText()
    {
        var options = new ChatOptions { MaxOutputTokens = 40 };

        var responses = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Client.GetResponseAsync(Prompt, options)));

        Assert.All(responses, r => Assert.Equal(40, r.Usage!.OutputTokenCount));
        Assert.Single(responses.Select(r => r.Text).Distinct());
    }

    [Fact]
    public async Task GetResponseAsync_SampledSameSeed_SameTextDifferentSeed_DifferentText()
    {
        ChatOptions Options(long seed) => new() { MaxOutputTokens = 40, Temperature = 1.0f, TopP = 0.95f, Seed = seed };

        var a = await Client.GetResponseAsync(Prompt, Options(11));
        var b = await Client.GetResponseAsync(Prompt, Options(11));
        var c = await Client.GetResponseAsync(Prompt, Options(12));

        Assert.Equal(a.Text, b.Text);
        Assert.NotEqual(a.Text, c.Text);
    }

    [Fact]
    public async Task GetResponseAsync_PromptLongerThanContext_ClearError()
    {
        using var small = await LlamaChatClient.LoadAsync(fixture.ModelPath, TinyModelFixture.ClientOptions(context: 256));
        var longText = string.Concat(Enumerable.Repeat("lorem ipsum ", 100));

        var ex = await Assert.ThrowsAsync<PromptTooLongException>(() => small.GetResponseAsync([new ChatMessage(ChatRole.User, longText)]));

        Assert.Equal(small.ContextSize, ex.ContextSize);
        Assert.True(ex.PromptTokens > ex.ContextSize);
        Assert.Contains("model 'tiny'", ex.Message, StringComparison.Ordinal);
        Assert.Contains($"the prompt is {ex.PromptTokens} tokens but the context holds {small.ContextSize}", ex.Message, StringComparison.Ordinal);
        Assert.Contains("'context' setting", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetResponseAsync_PromptNearContext_OutputCappedByContext()
    {
        using var small = await LlamaChatClient.LoadAsync(fixture.ModelPath, TinyModelFixture.ClientOptions(context: 256));
        var messages = new[] { new ChatMessage(ChatRole.User, new string('x', 200)) };
        var promptTokens = small.CountTokens(ChatMl(messages));

        var response = await small.GetResponseAsync(messages, new ChatOptions { MaxOutputTokens = 500 });

        Assert.Equal(small.ContextSize - promptTokens, response.Usage!.OutputTokenCount);
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
    }

    [Fact]
    public async Task GetResponseAsync_Instructions_AddedAsSystemMessage()
    {
        var user = new[] { new ChatMessage(ChatRole.User, "hi") };

        var withInstructions = await Client.GetResponseAsync(user, new ChatOptions { MaxOutputTokens = 1, Instructions = "Be brief." });
        var withSystem = await Client.GetResponseAsync([new ChatMessage(ChatRole.System, "Be brief."), .. user], new ChatOptions { MaxOutputTokens = 1 });

        Assert.Equal(withSystem.Usage!.InputTokenCount, withInstructions.Usage!.InputTokenCount);
    }

    [Fact]
    public async Task GetResponseAsync_LogitBias_ForcesTheBiasedToken()
    {
        var token = (int)Client.Weights.Tokenize("sea", add_bos: false, special: false, Encoding.UTF8)[0];
        var one = new ChatOptions { MaxOutputTokens = 1 };
        one.SetLogitBias(new Dictionary<int, float> { [token] = 100 });
        var three = new ChatOptions { MaxOutputTokens = 3 };
        three.SetLogitBias(new Dictionary<int, float> { [token] = 100 });

        var piece = (await Client.GetResponseAsync(Prompt, one)).Text;
        var biased = (await Client.GetResponseAsync(Prompt, three)).Text;
        var plain = (await Client.GetResponseAsync(Prompt, new ChatOptions { MaxOutputTokens = 3 })).Text;

        Assert.NotEmpty(piece);
        Assert.Equal(piece + piece + piece, biased);
        Assert.NotEqual(plain, biased);
    }

    [Fact]
    public async Task GetResponseAsync_LogitBiasTokenOutsideTheVocabulary_ArgumentException()
    {
        var options = new ChatOptions();
        options.SetLogitBias(new Dictionary<int, float> { [Client.Weights.Vocab.Count] = 1 });

        var ex = await Assert.ThrowsAsync<ArgumentException>(() => Client.GetResponseAsync(Prompt, options));

        Assert.Contains("logit bias", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GetService_SamplingSupport_PenaltiesAndLogitBias()
    {
        var support = Assert.IsType<SamplingSupport>(Client.GetService(typeof(SamplingSupport)));

        Assert.True(support.Penalties);
        Assert.True(support.LogitBias);
    }

    [Fact]
    public void GetService_ChatClientMetadata_NamesProviderAndModel()
    {
        var metadata = Client.GetService<ChatClientMetadata>();

        Assert.NotNull(metadata);
        Assert.Equal("llama.cpp", metadata.ProviderName);
        Assert.Equal("tiny", metadata.DefaultModelId);
        Assert.Same(Client, Client.GetService<LlamaChatClient>());
    }

    [Fact]
    public void StreamingTokenDecoder_MultiByteCharacterSplitAcrossTokens_DecodedWhole()
    {
        // The byte-level vocabulary puts each UTF-8 byte of "é" (C3 A9) in its own token.
        var decoder = new StreamingTokenDecoder(Encoding.UTF8, Client.Weights);

        decoder.Add(3 + 0xC3);
        var first = decoder.Read();
        decoder.Add(3 + 0xA9);
        var second = decoder.Read();

        Assert.Equal("", first);
        Assert.Equal("é", second);
    }

    [Fact]
    public async Task Dispose_ThenRequest_ThrowsObjectDisposed()
    {
        var client = await LlamaChatClient.LoadAsync(fixture.ModelPath, TinyModelFixture.ClientOptions());
        client.Dispose();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => client.GetResponseAsync(Prompt));
    }

    [Fact]
    public async Task GetResponseAsync_ChatTemplateOverride_UsesNamedTemplate()
    {
        var options = TinyModelFixture.ClientOptions();
        options.ChatTemplate = "llama3";
        using var llama3 = await LlamaChatClient.LoadAsync(fixture.ModelPath, options);
        var user = new[] { new ChatMessage(ChatRole.User, "hi") };

        var response = await llama3.GetResponseAsync(user, new ChatOptions { MaxOutputTokens = 1 });

        var expected = "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
        Assert.Equal(llama3.CountTokens(expected), response.Usage!.InputTokenCount);
    }

    [Fact]
    public async Task GetResponseAsync_UnknownChatTemplate_ErrorSaysWhatToSet()
    {
        var options = TinyModelFixture.ClientOptions();
        options.ChatTemplate = "no-such-template";
        using var client = await LlamaChatClient.LoadAsync(fixture.ModelPath, options);

        var ex = await Assert.ThrowsAsync<AgentFlowException>(() => client.GetResponseAsync(Prompt));

        Assert.Contains("model 'tiny'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("'chat_template'", ex.Message, StringComparison.Ordinal);
    }

    private static string ChatMl(IEnumerable<ChatMessage> messages) =>
        string.Concat(messages.Select(m => $"<|im_start|>{m.Role.Value}\n{m.Text}<|im_end|>\n")) + "<|im_start|>assistant\n";
}
