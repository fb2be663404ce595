using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace AgentFlow.Models.Llama.Builtin;

/// <summary>How the matrices of the built-in tiny model are stored.</summary>
public enum TinyGgufMatrixType
{
    /// <summary>32-bit floats (GGML type 0).</summary>
    F32 = 0,

    /// <summary>16-bit floats (GGML type 1). Norm vectors stay F32: llama.cpp requires it.</summary>
    F16 = 1,
}

/// <summary>
/// The shape of the built-in tiny llama model. Two equal option sets always give byte-identical files.
/// </summary>
public sealed record TinyGgufOptions
{
    /// <summary>Smallest and largest accepted embedding width.</summary>
    public const int MinEmbedding = 8, MaxEmbedding = 1024;

    /// <summary>Largest accepted layer count.</summary>
    public const int MaxLayers = 32;

    /// <summary>Smallest and largest accepted context length (tokens).</summary>
    public const int MinContextLength = 64, MaxContextLength = 131072;

    /// <summary>Seed of the random weights (default 1).</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>Number of transformer blocks (default 2).</summary>
    public int Layers { get; init; } = 2;

    /// <summary>Embedding width; even, between 8 and 1024 (default 64).</summary>
    public int Embedding { get; init; } = 64;

    /// <summary>Training context length written to the file, in tokens (default 2048).</summary>
    public int ContextLength { get; init; } = 2048;

    /// <summary>Storage type of the matrices (default F32).</summary>
    public TinyGgufMatrixType MatrixType { get; init; } = TinyGgufMatrixType.F32;

    /// <summary>Width of one attention head: the largest of 32, 16, 8, 4, 2 that divides the embedding into at least two heads.</summary>
    public int HeadDimension
    {
        get
        {
            foreach (var candidate in (ReadOnlySpan<int>)[32, 16, 8, 4, 2])
            {
                if (Embedding % candidate == 0 && Embedding / candidate >= 2)
                {
                    return candidate;
                }
            }

            return 2;
        }
    }

    /// <summary>Number of attention heads.</summary>
    public int HeadCount => Embedding / HeadDimension;

    /// <summary>
    /// Feed-forward width: the usual ~8/3 of the embedding, made odd so that F16 tensor sizes are not all
    /// multiples of the 32-byte alignment (which keeps the padding path exercised).
    /// </summary>
    public int FeedForward => (8 * Embedding / 3) | 1;

    /// <summary>Throws when a value is out of range; the message names the option and the accepted range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public void Validate()
    {
        if (Layers is < 1 or > MaxLayers)
        {
            throw new ArgumentOutOfRangeException(nameof(Layers), Layers, $"layers must be between 1 and {MaxLayers}");
        }

        if (Embedding is < MinEmbedding or > MaxEmbedding || Embedding % 2 != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(Embedding), Embedding, $"embedding must be an even number between {MinEmbedding} and {MaxEmbedding}");
        }

        if (ContextLength is < MinContextLength or > MaxContextLength)
        {
            throw new ArgumentOutOfRangeException(nameof(ContextLength), ContextLength, $"context must be between {MinContextLength} and {MaxContextLength}");
        }

        if (!Enum.IsDefined(MatrixType))
        {
            throw new ArgumentOutOfRangeException(nameof(MatrixType), MatrixType, "matrix type must be F32 or F16");
        }
    }

    /// <summary>
    /// The first 8 hex digits of the SHA-256 of these options and the writer's format version: changes whenever
    /// the file's bytes would change, so it can name the cached file.
    /// </summary>
    public string Hash8()
    {
        var canonical = string.Create(
            CultureInfo.InvariantCulture,
            $"agentflow-tiny-gguf/{TinyGgufWriter.FormatVersion};seed={Seed};layers={Layers};embedding={Embedding};context={ContextLength};type={MatrixType}");
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(canonical));
        return Convert.ToHexStringLower(hash.AsSpan(0, 4));
    }

    /// <summary>The cache file name, e.g. <c>tiny-s1-l2-e64-1a2b3c4d.gguf</c>.</summary>
    public string FileName() => string.Create(
        CultureInfo.InvariantCulture,
        $"tiny-s{Seed}-l{Layers}-e{Embedding}{(MatrixType == TinyGgufMatrixType.F16 ? "-f16" : "")}-{Hash8()}.gguf");
}
