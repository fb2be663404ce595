using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace AgentFlow.Models.Onnx.Tiny;

/// <summary>
/// Writes the built-in tiny ONNX Runtime GenAI model folder: <c>model.onnx</c> (a one-layer decoder with seeded random
/// weights and a real key/value cache), <c>genai_config.json</c>, and a Hugging Face-style byte-level BPE tokenizer
/// (<c>tokenizer.json</c>, <c>tokenizer_config.json</c> with a ChatML chat template). The text it generates is
/// meaningless, but tokenization, templating, the KV cache, sampling, token counts and streaming through ONNX Runtime
/// GenAI are all real. The files depend only on the options: the same options always give the same bytes.
/// </summary>
/// <remarks>
/// The decoder computes, for each position t, <c>logits = tanh(E[x_t] + mean(K[x_0..x_t])) · W + b</c>: a bigram
/// term plus the mean of the cached keys, so the whole prompt (through the cache) shapes every next token.
/// Inputs and outputs use GenAI's default names: <c>input_ids</c>, <c>attention_mask</c>,
/// <c>past_key_values.0.key/value</c> → <c>logits</c>, <c>present.0.key/value</c>.
/// </remarks>
public static class TinyOnnxWriter
{
    /// <summary>Version of the files this writer produces; part of <see cref="TinyOnnxOptions.Hash8"/>.</summary>
    public const int FormatVersion = 1;

    /// <summary>File names inside the model folder.</summary>
    public const string ModelFile = "model.onnx", ConfigFile = "genai_config.json", TokenizerFile = "tokenizer.json", TokenizerConfigFile = "tokenizer_config.json";

    /// <summary>Special tokens.</summary>
    public const string EndOfTextToken = "<|endoftext|>", ImStartToken = "<|im_start|>", ImEndToken = "<|im_end|>";

    /// <summary>The ChatML chat template written to <c>tokenizer_config.json</c>.</summary>
    public const string ChatTemplate =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
        + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    // A few GPT-2-style merges of common English pairs, so the tokenizer really merges (byte tokens otherwise).
    private static readonly (string Left, string Right)[] Merges =
    [
        (" ", "t"), ("h", "e"), ("i", "n"), ("e", "r"), ("a", "n"), ("o", "n"), (" ", "a"), ("r", "e"),
        ("e", "n"), ("o", "u"), (" ", "s"), (" ", "w"), ("e", "s"), ("a", "t"), ("o", "r"), ("i", "s"),
        (" ", "o"), (" ", "c"), ("i", "t"), ("n", "d"), (" t", "he"), (" a", "n"), (" an", "d"), ("in", "g"),
    ];

    // ONNX TensorProto data types and AttributeProto types.
    private const int FloatType = 1, Int64Type = 7, AttributeInt = 2, AttributeInts = 7;
    private const int OpsetVersion = 17, IrVersion = 8;

    /// <summary>Token id of <c>&lt;|endoftext|&gt;</c> (BOS and padding).</summary>
    public static int EndOfTextId => 256 + Merges.Length;

    /// <summary>Token id of <c>&lt;|im_start|&gt;</c>.</summary>
    public static int ImStartId => EndOfTextId + 1;

    /// <summary>Token id of <c>&lt;|im_end|&gt;</c> (end of a turn: generation stops there).</summary>
    public static int ImEndId => EndOfTextId + 2;

    /// <summary>Number of tokens: 256 bytes, the merges, and the three special tokens.</summary>
    public static int VocabularySize => EndOfTextId + 3;

    /// <summary>Writes the four files into <paramref name="directory"/> (created when missing).</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    /// <exception cref="IOException">The folder cannot be written.</exception>
    public static void Write(string directory, TinyOnnxOptions options)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Directory.CreateDirectory(directory);
        File.WriteAllBytes(Path.Combine(directory, ModelFile), BuildModel(options));
        File.WriteAllBytes(Path.Combine(directory, ConfigFile), BuildGenAIConfig(options));
        File.WriteAllBytes(Path.Combine(directory, TokenizerFile), BuildTokenizer());
        File.WriteAllBytes(Path.Combine(directory, TokenizerConfigFile), BuildTokenizerConfig(options));
    }

    /// <summary>The ONNX model bytes (a <c>ModelProto</c>).</summary>
    public static byte[] BuildModel(TinyOnnxOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var vocab = VocabularySize;
        var d = options.Embedding;
        var random = new SplitMix64(options.Seed);
        var embed = Weights(ref random, vocab * d, 1f);
        var keys = Weights(ref random, vocab * d, 1f);
        var output = Weights(ref random, d * vocab, 3f / MathF.Sqrt(d));
        var bias = new float[vocab];
        var tokens = TokenTexts();
        for (var id = 0; id < vocab; id++)
        {
            // Random weights emit arbitrary bytes; pushing unprintable ones (control bytes, UTF-8 fragments, the
            // BOS and turn-start markers) far down keeps greedy output readable ASCII. <|im_end|> stays reachable.
            bias[id] = id == ImEndId || tokens[id].All(b => b is >= 0x20 and < 0x7F) ? 0f : -8f;
        }

        var model = new ProtoWriter();
        model.Int64(1, IrVersion);
        model.String(2, "agentflow");
        model.String(3, FormatVersion.ToString(System.Globalization.CultureInfo.InvariantCulture));
        model.Message(7, graph =>
        {
            Node(graph, "Gather", ["embed", "input_ids"], ["token_embedding"], g => IntAttribute(g, "axis", 0));
            Node(graph, "Gather", ["key_embed", "input_ids"], ["token_keys"], g => IntAttribute(g, "axis", 0));
            Node(graph, "Reshape", ["token_keys", "heads_shape"], ["token_keys_heads"]);
            Node(graph, "Transpose", ["token_keys_heads"], ["new_keys"], g => IntsAttribute(g, "perm", [0, 2, 1, 3]));
            Node(graph, "Concat", ["past_key_values.0.key", "new_keys"], ["present.0.key"], g => IntAttribute(g, "axis", 2));
            Node(graph, "Concat", ["past_key_values.0.value", "new_keys"], ["present.0.value"], g => IntAttribute(g, "axis", 2));
            Node(graph, "ReduceMean", ["present.0.key"], ["context_heads"], g =>
            {
                IntsAttribute(g, "axes", [2]);
                IntAttribute(g, "keepdims", 1);
            });
            Node(graph, "Transpose", ["context_heads"], ["context_heads_t"], g => IntsAttribute(g, "perm", [0, 2, 1, 3]));
            Node(graph, "Reshape", ["context_heads_t", "hidden_shape"], ["context"]);
            Node(graph, "Add", ["token_embedding", "context"], ["hidden"]);
            Node(graph, "Tanh", ["hidden"], ["activated"]);
            Node(graph, "MatMul", ["activated", "output"], ["scores"]);
            Node(graph, "Add", ["scores", "bias"], ["logits"]);
            graph.String(2, "agentflow_tiny_decoder");
            FloatTensor(graph, "embed", [vocab, d], embed);
            FloatTensor(graph, "key_embed", [vocab, d], keys);
            FloatTensor(graph, "output", [d, vocab], output);
            FloatTensor(graph, "bias", [vocab], bias);
            Int64Tensor(graph, "heads_shape", [0, 0, TinyOnnxOptions.HeadCount, options.HeadSize]);
            Int64Tensor(graph, "hidden_shape", [0, 0, d]);
            ValueInfo(graph, 11, "input_ids", Int64Type, ["batch_size", "sequence_length"]);
            ValueInfo(graph, 11, "attention_mask", Int64Type, ["batch_size", "total_sequence_length"]);
            object[] past = ["batch_size", TinyOnnxOptions.HeadCount, "past_sequence_length", options.HeadSize];
            object[] present = ["batch_size", TinyOnnxOptions.HeadCount, "total_sequence_length", options.HeadSize];
            ValueInfo(graph, 11, "past_key_values.0.key", FloatType, past);
            ValueInfo(graph, 11, "past_key_values.0.value", FloatType, past);
            ValueInfo(graph, 12, "logits", FloatType, ["batch_size", "sequence_length", vocab]);
            ValueInfo(graph, 12, "present.0.key", FloatType, present);
            ValueInfo(graph, 12, "present.0.value", FloatType, present);
        });
        model.Message(8, opset =>
        {
            opset.String(1, string.Empty);
            opset.Int64(2, OpsetVersion);
        });
        return model.ToArray();
    }

    /// <summary>The <c>genai_config.json</c> bytes.</summary>
    public static byte[] BuildGenAIConfig(TinyOnnxOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return Json(w =>
        {
            w.WriteStartObject("model");
            w.WriteString("type", "llama");
            w.WriteNumber("bos_token_id", EndOfTextId);
            w.WriteStartArray("eos_token_id");
            w.WriteNumberValue(ImEndId);
            w.WriteNumberValue(EndOfTextId);
            w.WriteEndArray();
            w.WriteNumber("pad_token_id", EndOfTextId);
            w.WriteNumber("vocab_size", VocabularySize);
            w.WriteNumber("context_length", options.ContextLength);
            w.WriteStartObject("decoder");
            w.WriteStartObject("session_options");
            w.WriteString("log_id", "onnxruntime-genai");
            w.WriteStartArray("provider_options");
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteString("filename", ModelFile);
            w.WriteNumber("head_size", options.HeadSize);
            w.WriteNumber("hidden_size", options.Embedding);
            w.WriteNumber("num_attention_heads", TinyOnnxOptions.HeadCount);
            w.WriteNumber("num_key_value_heads", TinyOnnxOptions.HeadCount);
            w.WriteNumber("num_hidden_layers", 1);
            w.WriteStartObject("inputs");
            w.WriteString("input_ids", "input_ids");
            w.WriteString("attention_mask", "attention_mask");
            w.WriteString("past_key_names", "past_key_values.%d.key");
            w.WriteString("past_value_names", "past_key_values.%d.value");
            w.WriteEndObject();
            w.WriteStartObject("outputs");
            w.WriteString("logits", "logits");
            w.WriteString("present_key_names", "present.%d.key");
            w.WriteString("present_value_names", "present.%d.value");
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteStartObject("search");
            w.WriteBoolean("do_sample", false);
            w.WriteNumber("max_length", options.ContextLength);
            w.WriteNumber("min_length", 0);
            w.WriteNumber("num_beams", 1);
            w.WriteNumber("num_return_sequences", 1);
            w.WriteBoolean("past_present_share_buffer", false);
            w.WriteNumber("repetition_penalty", 1.0);
            w.WriteNumber("temperature", 1.0);
            w.WriteNumber("top_k", 50);
            w.WriteNumber("top_p", 1.0);
            w.WriteEndObject();
        });
    }

    /// <summary>The <c>tokenizer.json</c> bytes: GPT-2-style byte-level BPE.</summary>
    public static byte[] BuildTokenizer() => Json(w =>
    {
        w.WriteString("version", "1.0");
        w.WriteNull("truncation");
        w.WriteNull("padding");
        w.WriteStartArray("added_tokens");
        foreach (var (id, content) in SpecialTokens())
        {
            w.WriteStartObject();
            w.WriteNumber("id", id);
            w.WriteString("content", content);
            w.WriteBoolean("single_word", false);
            w.WriteBoolean("lstrip", false);
            w.WriteBoolean("rstrip", false);
            w.WriteBoolean("normalized", false);
            w.WriteBoolean("special", true);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteNull("normalizer");
        w.WriteStartObject("pre_tokenizer");
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", true);
        w.WriteBoolean("use_regex", true);
        w.WriteEndObject();
        w.WriteNull("post_processor");
        w.WriteStartObject("decoder");
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", true);
        w.WriteBoolean("trim_offsets", true);
        w.WriteBoolean("use_regex", true);
        w.WriteEndObject();
        w.WriteStartObject("model");
        w.WriteString("type", "BPE");
        w.WriteNull("dropout");
        w.WriteNull("unk_token");
        w.WriteNull("continuing_subword_prefix");
        w.WriteNull("end_of_word_suffix");
        w.WriteBoolean("fuse_unk", false);
        w.WriteBoolean("byte_fallback", false);
        w.WriteStartObject("vocab");
        var texts = TokenStrings();
        for (var id = 0; id < EndOfTextId; id++)
        {
            w.WriteNumber(texts[id], id);
        }

        foreach (var (id, content) in SpecialTokens())
        {
            w.WriteNumber(content, id);
        }

        w.WriteEndObject();
        w.WriteStartArray("merges");
        foreach (var (left, right) in Merges)
        {
            w.WriteStringValue(ByteLevel(left) + " " + ByteLevel(right));
        }

        w.WriteEndArray();
        w.WriteEndObject();
    });

    /// <summary>The <c>tokenizer_config.json</c> bytes (tokenizer class, special tokens, ChatML chat template).</summary>
    public static byte[] BuildTokenizerConfig(TinyOnnxOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return Json(w =>
        {
            w.WriteBoolean("add_bos_token", false);
            w.WriteBoolean("add_eos_token", false);
            w.WriteBoolean("add_prefix_space", false);
            w.WriteStartObject("added_tokens_decoder");
            foreach (var (id, content) in SpecialTokens())
            {
                w.WriteStartObject(id.ToString(System.Globalization.CultureInfo.InvariantCulture));
                w.WriteString("content", content);
                w.WriteBoolean("lstrip", false);
                w.WriteBoolean("normalized", false);
                w.WriteBoolean("rstrip", false);
                w.WriteBoolean("single_word", false);
                w.WriteBoolean("special", true);
                w.WriteEndObject();
            }

            w.WriteEndObject();
            w.WriteString("bos_token", EndOfTextToken);
            w.WriteString("chat_template", ChatTemplate);
            w.WriteBoolean("clean_up_tokenization_spaces", false);
            w.WriteString("eos_token", ImEndToken);
            w.WriteNumber("model_max_length", options.ContextLength);
            w.WriteString("pad_token", EndOfTextToken);
            w.WriteString("tokenizer_class", "GPT2Tokenizer");
            w.WriteString("unk_token", EndOfTextToken);
        });
    }

    /// <summary>The bytes each non-special token stands for, by id (special tokens: their text).</summary>
    internal static byte[][] TokenTexts()
    {
        var texts = new byte[VocabularySize][];
        for (var b = 0; b < 256; b++)
        {
            texts[b] = [(byte)b];
        }

        for (var i = 0; i < Merges.Length; i++)
        {
            texts[256 + i] = Encoding.ASCII.GetBytes(Merges[i].Left + Merges[i].Right);
        }

        foreach (var (id, content) in SpecialTokens())
        {
            texts[id] = Encoding.UTF8.GetBytes(content);
        }

        return texts;
    }

    private static (int Id, string Content)[] SpecialTokens() =>
        [(EndOfTextId, EndOfTextToken), (ImStartId, ImStartToken), (ImEndId, ImEndToken)];

    // Byte-level BPE token strings (GPT-2's byte-to-character table) of the bytes and the merges.
    private static string[] TokenStrings()
    {
        var strings = new string[EndOfTextId];
        for (var b = 0; b < 256; b++)
        {
            strings[b] = ByteToChar[b].ToString();
        }

        for (var i = 0; i < Merges.Length; i++)
        {
            strings[256 + i] = ByteLevel(Merges[i].Left + Merges[i].Right);
        }

        return strings;
    }

    private static string ByteLevel(string ascii) => string.Concat(ascii.Select(c => ByteToChar[c]));

    // GPT-2's bytes_to_unicode: printable bytes map to themselves, the others to U+0100 onwards in byte order.
    private static readonly char[] ByteToChar = BuildByteToChar();

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)next++;
        }

        return map;
    }

    private static float[] Weights(ref SplitMix64 random, int count, float scale)
    {
        var values = new float[count];
        for (var i = 0; i < count; i++)
        {
            values[i] = random.NextSignedUnit() * scale;
        }

        return values;
    }

    private static void Node(ProtoWriter graph, string op, string[] inputs, string[] outputs, Action<ProtoWriter>? attributes = null) =>
        graph.Message(1, node =>
        {
            foreach (var input in inputs)
            {
                node.String(1, input);
            }

            foreach (var output in outputs)
            {
                node.String(2, output);
            }

            node.String(3, outputs[0] + "_" + op);
            node.String(4, op);
            attributes?.Invoke(node);
        });

    private static void IntAttribute(ProtoWriter node, string name, long value) => node.Message(5, a =>
    {
        a.String(1, name);
        a.Int64(3, value);
        a.Int64(20, AttributeInt);
    });

    private static void IntsAttribute(ProtoWriter node, string name, long[] values) => node.Message(5, a =>
    {
        a.String(1, name);
        foreach (var value in values)
        {
            a.Int64(8, value);
        }

        a.Int64(20, AttributeInts);
    });

    private static void FloatTensor(ProtoWriter graph, string name, long[] dims, float[] values) => graph.Message(5, t =>
    {
        t.PackedInt64(1, dims);
        t.Int64(2, FloatType);
        t.String(8, name);
        var raw = new byte[values.Length * 4];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(raw.AsSpan(i * 4), values[i]);
        }

        t.Bytes(9, raw);
    });

    private static void Int64Tensor(ProtoWriter graph, string name, long[] values) => graph.Message(5, t =>
    {
        t.PackedInt64(1, [values.Length]);
        t.Int64(2, Int64Type);
        t.String(8, name);
        var raw = new byte[values.Length * 8];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(raw.AsSpan(i * 8), values[i]);
        }

        t.Bytes(9, raw);
    });

    // Dimensions are numbers (fixed) or strings (symbolic).
    private static void ValueInfo(ProtoWriter graph, int field, string name, int elementType, object[] dims) => graph.Message(field, v =>
    {
        v.String(1, name);
        v.Message(2, type => type.Message(1, tensor =>
        {
            tensor.Int64(1, elementType);
            tensor.Message(2, shape =>
            {
                foreach (var dim in dims)
                {
                    shape.Message(1, x =>
                    {
                        if (dim is string symbol)
                        {
                            x.String(2, symbol);
                        }
                        else
                        {
                            x.Int64(1, Convert.ToInt64(dim, System.Globalization.CultureInfo.InvariantCulture));
                        }
                    });
                }
            });
        }));
    });

    private static byte[] Json(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            write(w);
            w.WriteEndObject();
        }

        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }
}
