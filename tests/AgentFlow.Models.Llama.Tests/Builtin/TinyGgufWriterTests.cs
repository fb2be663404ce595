using System.Security.Cryptography;
using AgentFlow.Models.Llama.Builtin;
using AgentFlow.Models.Llama.Chat;
using AgentFlow.Models.Llama.Tests.Support;
using Microsoft.Extensions.AI;

namespace AgentFlow.Models.Llama.Tests.Builtin;

public sealed class TinyGgufWriterTests
{
    [Fact]
    public void WriteToArray_SameSeed_IdenticalBytes()
    {
        var a = TinyGgufWriter.WriteToArray(new TinyGgufOptions { Seed = 7 });
        var b = TinyGgufWriter.WriteToArray(new TinyGgufOptions { Seed = 7 });

        Assert.Equal(SHA256.HashData(a), SHA256.HashData(b));
        Assert.Equal(a, b);
    }

    [Fact]
    public void WriteToArray_DifferentSeed_DifferentBytesSameLength()
    {
        var a = TinyGgufWriter.WriteToArray(new TinyGgufOptions { Seed = 1 });
        var b = TinyGgufWriter.WriteToArray(new TinyGgufOptions { Seed = 2 });

        Assert.Equal(a.Length, b.Length);
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void Write_NonSeekableStream_SameBytesAsArray()
    {
        var options = new TinyGgufOptions { Embedding = 72, MatrixType = TinyGgufMatrixType.F16 };
        using var sink = new ForwardOnlyStream();

        TinyGgufWriter.Write(sink, options);

        Assert.Equal(TinyGgufWriter.WriteToArray(options), sink.ToArray());
    }

    [Theory]
    [InlineData(2, 64, TinyGgufMatrixType.F32)]
    [InlineData(3, 72, TinyGgufMatrixType.F16)]
    public void WriteToArray_Parsed_HeaderMetadataAndAlignedTensors(int layers, int embedding, TinyGgufMatrixType type)
    {
        var options = new TinyGgufOptions { Layers = layers, Embedding = embedding, MatrixType = type, ContextLength = 1024 };

        var file = GgufFile.Parse(TinyGgufWriter.WriteToArray(options));

        Assert.Equal(3u, file.Version);
        Assert.Equal("llama", file.Metadata["general.architecture"]);
        Assert.Equal((uint)type, file.Metadata["general.file_type"]);
        Assert.Equal(1024u, file.Metadata["llama.context_length"]);
        Assert.Equal((uint)embedding, file.Metadata["llama.embedding_length"]);
        Assert.Equal((uint)layers, file.Metadata["llama.block_count"]);
        Assert.Equal(1e-5f, file.Metadata["llama.attention.layer_norm_rms_epsilon"]);
        Assert.Equal(false, file.Metadata["tokenizer.ggml.add_space_prefix"]);
        Assert.Contains("<|im_start|>", (string)file.Metadata["tokenizer.chat_template"], StringComparison.Ordinal);
        var tokens = ((object[])file.Metadata["tokenizer.ggml.tokens"]).Cast<string>().ToArray();
        Assert.Equal(262, tokens.Length);
        Assert.Equal(["<unk>", "<s>", "</s>", "<0x00>"], tokens[..4]);
        Assert.Equal(["<0xFF>", "\u2581", "<|im_start|>", "<|im_end|>"], tokens[^4..]);
        Assert.Equal(262, ((object[])file.Metadata["tokenizer.ggml.scores"]).Length);
        Assert.Equal(262, ((object[])file.Metadata["tokenizer.ggml.token_type"]).Length);

        Assert.Equal(3 + (9 * layers), file.Tensors.Count);
        Assert.Equal(0, file.DataStart % 32);
        long expectedOffset = 0;
        foreach (var tensor in file.Tensors)
        {
            Assert.True(tensor.Offset % 32 == 0, $"{tensor.Name} offset {tensor.Offset} is not a multiple of 32");
            Assert.Equal(expectedOffset, tensor.Offset);
            expectedOffset += (tensor.ByteSize + 31) / 32 * 32;
            var expectedType = tensor.Dims.Length == 1 ? 0u : (uint)type;
            Assert.True(expectedType == tensor.Type, $"{tensor.Name} has type {tensor.Type}");
        }

        Assert.Equal(file.DataStart + expectedOffset, file.Length);
        Assert.Equal([embedding, 262L], file.Tensor("token_embd.weight").Dims);
        Assert.Equal([(long)embedding, options.FeedForward], file.Tensor("blk.0.ffn_gate.weight").Dims);
        Assert.Equal([options.FeedForward, (long)embedding], file.Tensor("blk.0.ffn_down.weight").Dims);
    }

    [Fact]
    public void WriteToArray_OddEmbeddingF16_SomeTensorNeedsPadding()
    {
        var file = GgufFile.Parse(TinyGgufWriter.WriteToArray(new TinyGgufOptions { Embedding = 72, MatrixType = TinyGgufMatrixType.F16 }));

        Assert.Contains(file.Tensors, t => t.ByteSize % 32 != 0);
    }

    [Fact]
    public void WriteToArray_OutputRows_ZeroForNonPrintableTokens()
    {
        var options = new TinyGgufOptions();
        var file = GgufFile.Parse(TinyGgufWriter.WriteToArray(options));
        var output = file.ReadF32(file.Tensor("output.weight"));

        for (var token = 0; token < 262; token++)
        {
            var row = output.AsSpan(token * options.Embedding, options.Embedding);
            var printable = token == TinyGgufWriter.SpaceTokenId || (token - 3) is 0x0A or (>= 0x21 and <= 0x7E);
            Assert.True(printable == row.ContainsAnyExcept(0f), $"token {token}");
        }
    }

    [Fact]
    public void Validate_OddEmbedding_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => TinyGgufWriter.WriteToArray(new TinyGgufOptions { Embedding = 63 }));
    }

    [Fact]
    public void FileName_DefaultOptions_NamesSeedShapeAndHash()
    {
        var name = new TinyGgufOptions().FileName();

        Assert.Matches("^tiny-s1-l2-e64-[0-9a-f]{8}\\.gguf$", name);
        Assert.NotEqual(name, new TinyGgufOptions { ContextLength = 4096 }.FileName());
    }

    [Fact]
    public async Task LoadAndGenerate_OddEmbeddingF16_PrintableText()
    {
        using var directory = new TempDirectory();
        var path = directory.File("odd.gguf");
        TinyGgufWriter.WriteFile(path, new TinyGgufOptions { Embedding = 72, Layers = 3, MatrixType = TinyGgufMatrixType.F16, Seed = 3 });
        using var client = await LlamaChatClient.LoadAsync(path, TinyModelFixture.ClientOptions());

        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Say something.")], new ChatOptions { MaxOutputTokens = 40 });

        Assert.Equal(40, response.Usage!.OutputTokenCount);
        Assert.False(string.IsNullOrEmpty(response.Text));
        Assert.All(response.Text, c => Assert.True(c == '\n' || c is >= ' ' and <= '~', $"U+{(int)c:X4}"));
    }

    private sealed class ForwardOnlyStream : Stream
    {
        private readonly MemoryStream _inner = new();

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public byte[] ToArray() => _inner.ToArray();

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => _inner.Write(buffer, offset, count);

        protected override void Dispose(bool disposing)
        {
            _inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
