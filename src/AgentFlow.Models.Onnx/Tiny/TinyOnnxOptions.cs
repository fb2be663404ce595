using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace AgentFlow.Models.Onnx.Tiny;

/// <summary>The shape of the built-in tiny ONNX decoder. Two equal option sets always give byte-identical files.</summary>
public sealed record TinyOnnxOptions
{
    /// <summary>Smallest and largest accepted embedding width.</summary>
    public const int MinEmbedding = 8, MaxEmbedding = 512;

    /// <summary>Attention heads the key/value cache is split into; the embedding must be a multiple of it.</summary>
    public const int HeadCount = 4;

    /// <summary>Smallest and largest accepted context length (tokens).</summary>
    public const int MinContextLength = 64, MaxContextLength = 131072;

    /// <summary>Seed of the random weights (default 1).</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>Embedding width; a multiple of <see cref="HeadCount"/> between 8 and 512 (default 64).</summary>
    public int Embedding { get; init; } = 64;

    /// <summary>Context length written to <c>genai_config.json</c> (prompt plus output), in tokens (default 2048).</summary>
    public int ContextLength { get; init; } = 2048;

    /// <summary>Width of one key/value head.</summary>
    public int HeadSize => Embedding / HeadCount;

    /// <summary>Throws when a value is out of range; the message names the option and the accepted range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public void Validate()
    {
        if (Embedding is < MinEmbedding or > MaxEmbedding || Embedding % HeadCount != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(Embedding), Embedding, $"embedding must be a multiple of {HeadCount} between {MinEmbedding} and {MaxEmbedding}");
        }

        if (ContextLength is < MinContextLength or > MaxContextLength)
        {
            throw new ArgumentOutOfRangeException(nameof(ContextLength), ContextLength, $"context must be between {MinContextLength} and {MaxContextLength}");
        }
    }

    /// <summary>
    /// The first 8 hex digits of the SHA-256 of these options and the writer's format version: changes whenever the
    /// files' bytes would change, so it can name the cached folder.
    /// </summary>
    public string Hash8()
    {
        var canonical = string.Create(
            CultureInfo.InvariantCulture,
            $"agentflow-tiny-onnx/{TinyOnnxWriter.FormatVersion};seed={Seed};embedding={Embedding};context={ContextLength}");
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)).AsSpan(0, 4));
    }

    /// <summary>The cache folder name, e.g. <c>tiny-onnx-s1-e64-1a2b3c4d</c>.</summary>
    public string FolderName() => string.Create(CultureInfo.InvariantCulture, $"tiny-onnx-s{Seed}-e{Embedding}-{Hash8()}");
}
