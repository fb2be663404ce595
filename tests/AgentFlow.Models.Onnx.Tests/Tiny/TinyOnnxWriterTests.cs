using AgentFlow.Models.Onnx.Chat;
using AgentFlow.Models.Onnx.Tests.Support;
using AgentFlow.Models.Onnx.Tiny;
using Microsoft.Extensions.AI;
using Microsoft.ML.OnnxRuntimeGenAI;

namespace AgentFlow.Models.Onnx.Tests.Tiny;

public sealed class TinyOnnxWriterTests(TinyOnnxFixture fixture) : IClassFixture<TinyOnnxFixture>
{
    [Fact]
    public void Write_SameOptionsTwice_ByteIdenticalFiles()
    {
        var a = fixture.NewFolder();
        var b = fixture.NewFolder();

        TinyOnnxWriter.Write(a, new TinyOnnxOptions { Seed = 7, Embedding = 32 });
        TinyOnnxWriter.Write(b, new TinyOnnxOptions { Seed = 7, Embedding = 32 });

        string[] files = [TinyOnnxWriter.ModelFile, TinyOnnxWriter.ConfigFile, TinyOnnxWriter.TokenizerFile, TinyOnnxWriter.TokenizerConfigFile];
        Assert.Equal(files.Order(StringComparer.Ordinal), Directory.GetFiles(a).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (var file in files)
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(a, file)), File.ReadAllBytes(Path.Combine(b, file)));
        }
    }

    [Fact]
    public void BuildModel_DifferentSeeds_DifferentWeightsSameSize()
    {
        var one = TinyOnnxWriter.BuildModel(new TinyOnnxOptions { Seed = 1 });
        var two = TinyOnnxWriter.BuildModel(new TinyOnnxOptions { Seed = 2 });

        Assert.Equal(one.Length, two.Length);
        Assert.NotEqual(one, two);
        Assert.NotEqual(new TinyOnnxOptions { Seed = 1 }.FolderName(), new TinyOnnxOptions { Seed = 2 }.FolderName());
    }

    [Theory]
    [InlineData(6)]
    [InlineData(4)]
    [InlineData(1024)]
    public void Validate_BadEmbedding_ThrowsNamingTheRange(int embedding)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new TinyOnnxOptions { Embedding = embedding }.Validate());

        Assert.Contains("multiple of 4 between 8 and 512", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Write_OtherShape_LoadsInGenAIAndGenerates()
    {
        var folder = fixture.NewFolder();
        TinyOnnxWriter.Write(folder, new TinyOnnxOptions { Seed = 3, Embedding = 16, ContextLength = 128 });

        using var client = await OnnxChatClient.LoadAsync(folder);
        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "hi")], new ChatOptions { MaxOutputTokens = 8 });

        Assert.Equal("llama", client.ModelType);
        Assert.Equal(128, client.ContextSize);
        Assert.Equal(8, response.Usage!.OutputTokenCount);
        Assert.NotEmpty(response.Text);
    }

    [Fact]
    public void Tokenizer_Text_RoundTripsThroughGenAIWithMergesAndSpecialTokens()
    {
        using var model = new Model(fixture.Folder);
        using var tokenizer = new Tokenizer(model);
        const string text = "<|im_start|>user\nthe cat and the hat, café ☕<|im_end|>";

        using var sequences = tokenizer.Encode(text);
        var ids = sequences[0].ToArray();

        Assert.Equal(TinyOnnxWriter.ImStartId, ids[0]);
        Assert.Equal(TinyOnnxWriter.ImEndId, ids[^1]);
        Assert.True(ids.Length < System.Text.Encoding.UTF8.GetByteCount(text) - 20, "the merges shorten the text");
        Assert.Contains(ids, id => id > 255 && id < TinyOnnxWriter.EndOfTextId);
        Assert.Equal("user\nthe cat and the hat, café ☕", tokenizer.Decode(ids));
        Assert.Equal([TinyOnnxWriter.ImEndId, TinyOnnxWriter.EndOfTextId], tokenizer.GetEosTokenIds().ToArray());
    }

    [Fact]
    public void Ensure_Twice_WritesOnceAndReturnsSameFolder()
    {
        var store = new TinyOnnxStore(fixture.NewFolder());
        var options = new TinyOnnxOptions { Seed = 9, Embedding = 8 };

        var first = store.Ensure(options);
        var stamp = File.GetLastWriteTimeUtc(Path.Combine(first, TinyOnnxWriter.ModelFile));
        var second = store.Ensure(options);

        Assert.Equal(first, second);
        Assert.Equal(Path.Combine(store.Directory, options.FolderName()), first);
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(Path.Combine(second, TinyOnnxWriter.ModelFile)));
        Assert.Single(Directory.GetDirectories(store.Directory));
    }
}
