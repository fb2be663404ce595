using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace AgentFlow.Models.Llama.Builtin;

/// <summary>
/// Writes the built-in tiny llama-architecture model as a GGUF v3 file: a byte-level SentencePiece vocabulary
/// (<c>&lt;unk&gt;</c>, <c>&lt;s&gt;</c>, <c>&lt;/s&gt;</c>, the 256 byte tokens, <c>▁</c>, <c>&lt;|im_start|&gt;</c>,
/// <c>&lt;|im_end|&gt;</c>), a ChatML chat template and seeded random weights. The text it generates is meaningless,
/// but tokenization, templating, sampling, token counts and streaming through llama.cpp are all real.
/// The output depends only on the options: the same options always give the same bytes.
/// </summary>
public static class TinyGgufWriter
{
    /// <summary>Version of the file layout this writer produces; part of <see cref="TinyGgufOptions.Hash8"/>.</summary>
    public const int FormatVersion = 1;

    /// <summary>GGUF data alignment (the format's default; not written as metadata).</summary>
    public const int Alignment = 32;

    /// <summary>Number of tokens in the vocabulary.</summary>
    public const int VocabularySize = 262;

    /// <summary>Token ids of the special tokens.</summary>
    public const int UnknownTokenId = 0, BosTokenId = 1, EosTokenId = 2, FirstByteTokenId = 3, SpaceTokenId = 259, ImStartTokenId = 260, ImEndTokenId = 261;

    /// <summary>The ChatML chat template (recognised by llama.cpp's template detection).</summary>
    public const string ChatTemplate =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
        + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    private const uint GgufMagic = 0x46554747; // "GGUF" little-endian
    private const uint GgufVersion = 3;

    // GGUF metadata value types.
    private const uint TypeUInt32 = 4, TypeInt32 = 5, TypeFloat32 = 6, TypeBool = 7, TypeString = 8, TypeArray = 9;

    // SentencePiece token types.
    private const int TokenNormal = 1, TokenUnknown = 2, TokenControl = 3, TokenByte = 6;

    /// <summary>Writes the model to <paramref name="stream"/> (left open).</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static void Write(Stream stream, TinyGgufOptions options)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();

        var tensors = DescribeTensors(options);
        using var counted = new CountingStream(stream);
        using var w = new BinaryWriter(counted, Encoding.UTF8, leaveOpen: true);

        var metadata = BuildMetadata(options);
        w.Write(GgufMagic);
        w.Write(GgufVersion);
        w.Write((ulong)tensors.Count);
        w.Write((ulong)metadata.Count);
        foreach (var (key, writeValue) in metadata)
        {
            WriteString(w, key);
            writeValue(w);
        }

        ulong offset = 0;
        foreach (var t in tensors)
        {
            WriteString(w, t.Name);
            w.Write((uint)t.Dims.Length);
            foreach (var d in t.Dims)
            {
                w.Write((ulong)d);
            }

            w.Write((uint)t.Type);
            w.Write(offset);
            offset += (ulong)Pad(t.ByteSize);
        }

        w.Flush();
        var headerPadding = Pad(counted.Length) - counted.Length;
        for (var i = 0; i < headerPadding; i++)
        {
            w.Write((byte)0);
        }

        var rng = new SplitMix64(options.Seed);
        foreach (var t in tensors)
        {
            var values = new float[t.ElementCount];
            t.Fill(ref rng, values);
            w.Write(Encode(values, t.Type));
            var padding = Pad(t.ByteSize) - t.ByteSize;
            for (var i = 0; i < padding; i++)
            {
                w.Write((byte)0);
            }
        }

        w.Flush();
    }

    /// <summary>The model as a byte array.</summary>
    public static byte[] WriteToArray(TinyGgufOptions options)
    {
        using var ms = new MemoryStream();
        Write(ms, options);
        return ms.ToArray();
    }

    /// <summary>Writes the model to <paramref name="path"/>, replacing any file there (not atomically; see <see cref="BuiltinModelStore"/>).</summary>
    public static void WriteFile(string path, TinyGgufOptions options)
    {
        using var fs = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        Write(fs, options);
    }

    /// <summary>Whether a token's bytes are printable ASCII (or newline); only these can win a greedy pick.</summary>
    internal static bool IsPrintable(int tokenId)
    {
        if (tokenId == SpaceTokenId)
        {
            return true;
        }

        var b = tokenId - FirstByteTokenId;
        return b is (>= 0x21 and <= 0x7E) or 0x0A;
    }

    /// <summary>Little-endian bytes of the values as F32 or F16.</summary>
    private static byte[] Encode(float[] values, TinyGgufMatrixType type)
    {
        if (type == TinyGgufMatrixType.F32)
        {
            var bytes = new byte[values.Length * 4];
            for (var i = 0; i < values.Length; i++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
            }

            return bytes;
        }

        var halves = new byte[values.Length * 2];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteHalfLittleEndian(halves.AsSpan(i * 2), (Half)values[i]);
        }

        return halves;
    }

    private static long Pad(long size) => (size + Alignment - 1) / Alignment * Alignment;

    private static List<(string Key, Action<BinaryWriter> Write)> BuildMetadata(TinyGgufOptions o)
    {
        var tokens = new string[VocabularySize];
        var types = new int[VocabularySize];
        tokens[UnknownTokenId] = "<unk>";
        types[UnknownTokenId] = TokenUnknown;
        tokens[BosTokenId] = "<s>";
        types[BosTokenId] = TokenControl;
        tokens[EosTokenId] = "</s>";
        types[EosTokenId] = TokenControl;
        for (var b = 0; b < 256; b++)
        {
            tokens[FirstByteTokenId + b] = string.Create(CultureInfo.InvariantCulture, $"<0x{b:X2}>");
            types[FirstByteTokenId + b] = TokenByte;
        }

        tokens[SpaceTokenId] = "\u2581";
        types[SpaceTokenId] = TokenNormal;
        tokens[ImStartTokenId] = "<|im_start|>";
        types[ImStartTokenId] = TokenControl;
        tokens[ImEndTokenId] = "<|im_end|>";
        types[ImEndTokenId] = TokenControl;

        var name = string.Create(CultureInfo.InvariantCulture, $"agentflow-tiny-s{o.Seed}-l{o.Layers}-e{o.Embedding}");
        return
        [
            ("general.architecture", w => Str(w, "llama")),
            ("general.name", w => Str(w, name)),
            ("general.file_type", w => U32(w, (uint)o.MatrixType)),
            ("llama.vocab_size", w => U32(w, VocabularySize)),
            ("llama.context_length", w => U32(w, (uint)o.ContextLength)),
            ("llama.embedding_length", w => U32(w, (uint)o.Embedding)),
            ("llama.block_count", w => U32(w, (uint)o.Layers)),
            ("llama.feed_forward_length", w => U32(w, (uint)o.FeedForward)),
            ("llama.attention.head_count", w => U32(w, (uint)o.HeadCount)),
            ("llama.attention.head_count_kv", w => U32(w, (uint)o.HeadCount)),
            ("llama.rope.dimension_count", w => U32(w, (uint)o.HeadDimension)),
            ("llama.rope.freq_base", w => F32(w, 10000f)),
            ("llama.attention.layer_norm_rms_epsilon", w => F32(w, 1e-5f)),
            ("tokenizer.ggml.model", w => Str(w, "llama")),
            ("tokenizer.ggml.tokens", w =>
            {
                ArrayHeader(w, TypeString, tokens.Length);
                foreach (var t in tokens)
                {
                    WriteString(w, t);
                }
            }),
            ("tokenizer.ggml.scores", w =>
            {
                ArrayHeader(w, TypeFloat32, VocabularySize);
                for (var i = 0; i < VocabularySize; i++)
                {
                    w.Write(0f);
                }
            }),
            ("tokenizer.ggml.token_type", w =>
            {
                ArrayHeader(w, TypeInt32, types.Length);
                foreach (var t in types)
                {
                    w.Write(t);
                }
            }),
            ("tokenizer.ggml.bos_token_id", w => U32(w, BosTokenId)),
            ("tokenizer.ggml.eos_token_id", w => U32(w, EosTokenId)),
            ("tokenizer.ggml.unknown_token_id", w => U32(w, UnknownTokenId)),
            ("tokenizer.ggml.add_bos_token", w => Bool(w, false)),
            ("tokenizer.ggml.add_eos_token", w => Bool(w, false)),
            ("tokenizer.ggml.add_space_prefix", w => Bool(w, false)),
            ("tokenizer.chat_template", w => Str(w, ChatTemplate)),
        ];

        static void Str(BinaryWriter w, string s)
        {
            w.Write(TypeString);
            WriteString(w, s);
        }

        static void U32(BinaryWriter w, uint v)
        {
            w.Write(TypeUInt32);
            w.Write(v);
        }

        static void F32(BinaryWriter w, float v)
        {
            w.Write(TypeFloat32);
            w.Write(v);
        }

        static void Bool(BinaryWriter w, bool v)
        {
            w.Write(TypeBool);
            w.Write(v ? (byte)1 : (byte)0);
        }

        static void ArrayHeader(BinaryWriter w, uint elementType, int count)
        {
            w.Write(TypeArray);
            w.Write(elementType);
            w.Write((ulong)count);
        }
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static List<TensorSpec> DescribeTensors(TinyGgufOptions o)
    {
        int e = o.Embedding, ff = o.FeedForward, kv = o.HeadDimension * o.HeadCount;
        var m = o.MatrixType;
        var list = new List<TensorSpec>
        {
            // Embedding rows near unit scale; RMS norm makes the absolute scale irrelevant anyway.
            new("token_embd.weight", [e, VocabularySize], m, Uniform(1f)),
        };

        for (var layer = 0; layer < o.Layers; layer++)
        {
            var p = string.Create(CultureInfo.InvariantCulture, $"blk.{layer}.");
            list.Add(new(p + "attn_norm.weight", [e], TinyGgufMatrixType.F32, Ones));
            // Sharp attention (large q/k) and strong residual updates make the output depend on more than the
            // last token, so greedy text wanders instead of looping over a few characters.
            list.Add(new(p + "attn_q.weight", [e, e], m, Uniform(2f / MathF.Sqrt(e))));
            list.Add(new(p + "attn_k.weight", [e, kv], m, Uniform(2f / MathF.Sqrt(e))));
            list.Add(new(p + "attn_v.weight", [e, kv], m, Uniform(1.5f / MathF.Sqrt(e))));
            list.Add(new(p + "attn_output.weight", [e, e], m, Uniform(1.5f / MathF.Sqrt(e))));
            list.Add(new(p + "ffn_norm.weight", [e], TinyGgufMatrixType.F32, Ones));
            list.Add(new(p + "ffn_gate.weight", [e, ff], m, Uniform(1.5f / MathF.Sqrt(e))));
            list.Add(new(p + "ffn_up.weight", [e, ff], m, Uniform(1.5f / MathF.Sqrt(e))));
            list.Add(new(p + "ffn_down.weight", [ff, e], m, Uniform(1.5f / MathF.Sqrt(ff))));
        }

        list.Add(new("output_norm.weight", [e], TinyGgufMatrixType.F32, Ones));
        list.Add(new("output.weight", [e, VocabularySize], m, OutputRows(e)));
        return list;
    }

    private static TensorFill Uniform(float scale) => (ref SplitMix64 rng, float[] dest) =>
    {
        for (var i = 0; i < dest.Length; i++)
        {
            dest[i] = rng.NextSignedUnit() * scale;
        }
    };

    private static void Ones(ref SplitMix64 rng, float[] dest) => Array.Fill(dest, 1f);

    private static TensorFill OutputRows(int embedding) => (ref SplitMix64 rng, float[] dest) =>
    {
        // One row of `embedding` values per token. Rows of tokens that are not printable stay zero (logit 0),
        // so greedy decoding always picks a printable token: the maximum of ~96 random logits is positive.
        var scale = 3f / MathF.Sqrt(embedding);
        for (var token = 0; token < VocabularySize; token++)
        {
            var printable = IsPrintable(token);
            for (var i = 0; i < embedding; i++)
            {
                var v = rng.NextSignedUnit() * scale;
                dest[(token * embedding) + i] = printable ? v : 0f;
            }
        }
    };

    private delegate void TensorFill(ref SplitMix64 rng, float[] dest);

    private sealed class TensorSpec(string name, long[] dims, TinyGgufMatrixType type, TensorFill fill)
    {
        public string Name { get; } = name;

        public long[] Dims { get; } = dims;

        public TinyGgufMatrixType Type { get; } = type;

        public long ElementCount => Dims.Aggregate(1L, (a, b) => a * b);

        public long ByteSize => ElementCount * (Type == TinyGgufMatrixType.F32 ? 4 : 2);

        public void Fill(ref SplitMix64 rng, float[] dest) => fill(ref rng, dest);
    }

    /// <summary>Forwards writes to the target stream and counts the bytes, so padding works on non-seekable streams.</summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        private long _length;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => _length;

        public override long Position { get => _length; set => throw new NotSupportedException(); }

        public override void Flush() => inner.Flush();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
            inner.Write(buffer, offset, count);
            _length += count;
        }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            inner.Write(buffer);
            _length += buffer.Length;
        }

        public override void WriteByte(byte value)
        {
            inner.WriteByte(value);
            _length++;
        }
    }
}
