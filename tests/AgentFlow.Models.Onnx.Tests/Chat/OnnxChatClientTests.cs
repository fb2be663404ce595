using AgentFlow.Models.Onnx.Chat;
using AgentFlow.Models.Onnx.Tests.Support;
using AgentFlow.Models.Onnx.Tiny;
using Microsoft.Extensions.AI;

namespace AgentFlow.Models.Onnx.Tests.Chat;

public sealed class OnnxChatClientTests(TinyOnnxFixture fixture) : IClassFixture<TinyOnnxFixture>
{
    private static readonly ChatMessage[] Prompt = [new(ChatRole.User, "Write about tea")];

    private static ChatOptions Greedy(int maxTokens = 24) => new() { MaxOutputTokens = maxTokens, Temperature = 0 };

    [Fact]
    public async Task GetResponseAsync_SamePromptTwice_IdenticalText()
    {
        var a = await fixture.Client.GetResponseAsync(Prompt, Greedy());
        var b = await fixture.Client.GetResponseAsync(Prompt, Greedy());

        Assert.False(string.IsNullOrWhiteSpace(a.Text));
        Assert.Equal(a.Text, b.Text);
        Assert.Equal("tiny-onnx", a.ModelId);
    }

    [Fact]
    public async Task GetResponseAsync_DifferentPrompts_DifferentText()
    {
        var tea = await fixture.Client.GetResponseAsync(Prompt, Greedy());
        var other = await fixture.Client.GetResponseAsync([new ChatMessage(ChatRole.User, "Something else entirely")], Greedy());

        Assert.NotEqual(tea.Text, other.Text);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_Prompt_StreamsSameTextThenUsage()
    {
        var whole = await fixture.Client.GetResponseAsync(Prompt, Greedy());

        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in fixture.Client.GetStreamingResponseAsync(Prompt, Greedy()))
        {
            updates.Add(update);
        }

        var textUpdates = updates.Where(u => u.Text.Length > 0).ToList();
        Assert.True(textUpdates.Count > 5, $"expected many chunks, got {textUpdates.Count}");
        Assert.Equal(whole.Text, string.Concat(textUpdates.Select(u => u.Text)));
        var usage = Assert.Single(updates[^1].Contents.OfType<UsageContent>()).Details;
        Assert.Equal(whole.Usage!.InputTokenCount, usage.InputTokenCount);
        Assert.Equal(whole.Usage.OutputTokenCount, usage.OutputTokenCount);
        Assert.Equal(whole.FinishReason, updates[^1].FinishReason);
        Assert.All(updates, u => Assert.Equal(updates[0].ResponseId, u.ResponseId));
    }

    [Fact]
    public async Task GetResponseAsync_MaxOutputTokens_StopsThereWithLengthAndCountsTokens()
    {
        var response = await fixture.Client.GetResponseAsync(Prompt, Greedy(10));

        var usage = response.Usage!;
        Assert.Equal(10, usage.OutputTokenCount);
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
        // The prompt is the ChatML-formatted conversation, counted with the model's own tokenizer.
        var formatted = "<|im_start|>user\nWrite about tea<|im_end|>\n<|im_start|>assistant\n";
        Assert.Equal(fixture.Client.CountTokens(formatted), usage.InputTokenCount);
        Assert.Equal(usage.InputTokenCount + 10, usage.TotalTokenCount);
        Assert.True(response.AdditionalProperties!.ContainsKey("onnx.generation_ms"));
    }

    [Fact]
    public async Task GetResponseAsync_Instructions_SentAsSystemTurn()
    {
        var plain = await fixture.Client.GetResponseAsync(Prompt, Greedy());
        var instructed = await fixture.Client.GetResponseAsync(Prompt, new ChatOptions { MaxOutputTokens = 24, Instructions = "Be brief." });

        Assert.Equal(
            plain.Usage!.InputTokenCount + fixture.Client.CountTokens("<|im_start|>system\nBe brief.<|im_end|>\n"),
            instructed.Usage!.InputTokenCount);
    }

    [Fact]
    public async Task GetResponseAsync_StopSequence_CutsBeforeItWithStop()
    {
        var whole = (await fixture.Client.GetResponseAsync(Prompt, Greedy(40))).Text;
        var stop = whole.Substring(whole.Length / 2, 2);
        var expected = whole[..whole.IndexOf(stop, StringComparison.Ordinal)];

        var options = Greedy(40);
        options.StopSequences = [stop];
        var cut = await fixture.Client.GetResponseAsync(Prompt, options);

        Assert.Equal(expected, cut.Text);
        Assert.Equal(ChatFinishReason.Stop, cut.FinishReason);
        Assert.True(cut.Usage!.OutputTokenCount < 40);
    }

    [Fact]
    public async Task GetResponseAsync_TemperatureWithSeed_ReproducibleAndUnlikeGreedy()
    {
        ChatOptions Sampled(long seed) => new() { MaxOutputTokens = 24, Temperature = 1.5f, Seed = seed };

        var a = await fixture.Client.GetResponseAsync(Prompt, Sampled(5));
        var b = await fixture.Client.GetResponseAsync(Prompt, Sampled(5));
        var c = await fixture.Client.GetResponseAsync(Prompt, Sampled(6));
        var greedy = await fixture.Client.GetResponseAsync(Prompt, Greedy());

        Assert.Equal(a.Text, b.Text);
        Assert.NotEqual(a.Text, c.Text);
        Assert.NotEqual(greedy.Text, a.Text);
    }

    [Fact]
    public async Task GetResponseAsync_ConcurrentRequests_EachGetsItsOwnGenerator()
    {
        string[] topics = ["tea", "coffee", "rain", "trains", "tea", "coffee"];
        var sequential = new List<string>();
        foreach (var topic in topics)
        {
            sequential.Add((await fixture.Client.GetResponseAsync([new ChatMessage(ChatRole.User, topic)], Greedy(32))).Text);
        }

        var concurrent = await Task.WhenAll(topics.Select(t => fixture.Client.GetResponseAsync([new ChatMessage(ChatRole.User, t)], Greedy(32))));

        Assert.Equal(sequential, concurrent.Select(r => r.Text));
    }

    [Fact]
    public async Task GetResponseAsync_PromptLongerThanContext_ThrowsPromptTooLong()
    {
        var folder = fixture.NewFolder();
        TinyOnnxWriter.Write(folder, new TinyOnnxOptions { ContextLength = 64 });
        using var client = await OnnxChatClient.LoadAsync(folder, new OnnxChatClientOptions { ModelId = "small" });

        var ex = await Assert.ThrowsAsync<PromptTooLongException>(() => client.GetResponseAsync([new ChatMessage(ChatRole.User, new string('x', 200))]));

        Assert.Equal(64, ex.ContextSize);
        Assert.Contains("model 'small'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetResponseAsync_OutputNearContextEnd_ClampedToContext()
    {
        var folder = fixture.NewFolder();
        TinyOnnxWriter.Write(folder, new TinyOnnxOptions { ContextLength = 64 });
        using var client = await OnnxChatClient.LoadAsync(folder);

        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "hello")], Greedy(500));

        Assert.Equal(64, response.Usage!.TotalTokenCount);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_Cancelled_ThrowsAndClientStillServes()
    {
        using var cts = new CancellationTokenSource();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var update in fixture.Client.GetStreamingResponseAsync(Prompt, Greedy(200), cts.Token))
            {
                await cts.CancelAsync();
            }
        });

        var after = await fixture.Client.GetResponseAsync(Prompt, Greedy(4));
        Assert.Equal(4, after.Usage!.OutputTokenCount);
    }

    [Fact]
    public void GetService_Metadata_NamesGenAIAndModel()
    {
        var metadata = fixture.Client.GetService<ChatClientMetadata>();

        Assert.Equal("onnxruntime-genai", metadata!.ProviderName);
        Assert.Equal("tiny-onnx", metadata.DefaultModelId);
        Assert.Same(fixture.Client, fixture.Client.GetService<ITokenCounter>());
    }
}
