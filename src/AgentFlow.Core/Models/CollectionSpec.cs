using AgentFlow.Diagnostics;

namespace AgentFlow.Models;

/// <summary>
/// A collection of embedded chunks as the registry names it (<c>collections: { kb: { store: embedded, embedder: minilm,
/// dimensions: 384 } }</c>), or as <c>agentflow index</c> creates it when the registry does not name it.
/// </summary>
/// <param name="Name">Collection name (letters, digits, '-', '_', '.'; up to 48 characters, starting and ending with a letter or digit).</param>
/// <param name="Store"><c>embedded</c> (default: a file under .agentflow/collections) or <c>chroma</c>.</param>
/// <param name="Embedder">The registry embedder its vectors come from.</param>
/// <param name="Dimensions">The vector length, when the registry states it (checked against the embedder before anything is written).</param>
/// <param name="Settings">Store settings (<c>url</c> for Chroma, <c>path</c> for the embedded store), each with its location.</param>
/// <param name="Location">Where it is declared (<c>&lt;implicit&gt;</c> when not in the registry).</param>
public sealed record CollectionSpec(
    string Name,
    string Store,
    string Embedder,
    int? Dimensions,
    IReadOnlyDictionary<string, ModelSetting> Settings,
    SourceLocation Location)
{
    /// <summary>The store used when a collection does not say.</summary>
    public const string EmbeddedStore = "embedded";

    /// <summary>The Chroma vector database (HTTP API v2).</summary>
    public const string ChromaStore = "chroma";

    /// <summary>The embedder used when a collection does not say.</summary>
    public const string DefaultEmbedder = "minilm";

    /// <summary>Stores a collection may name.</summary>
    public static IReadOnlyList<string> Stores { get; } = [EmbeddedStore, ChromaStore];

    /// <summary>Settings a collection may have besides store, embedder and dimensions.</summary>
    public static IReadOnlyList<string> StoreSettings { get; } = ["url", "path"];

    /// <summary>A collection the registry does not name: the embedded store and the built-in embedder.</summary>
    public static CollectionSpec Implicit(string name) =>
        new(name, EmbeddedStore, DefaultEmbedder, null, new Dictionary<string, ModelSetting>(StringComparer.Ordinal), new SourceLocation("<implicit>", 1, 1));

    /// <summary>Whether <paramref name="name"/> can name a collection in every store.</summary>
    public static bool IsValidName(string name) =>
        name.Length is >= 1 and <= 48
        && char.IsAsciiLetterOrDigit(name[0]) && char.IsAsciiLetterOrDigit(name[^1])
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    /// <summary>A store setting's text, or null when absent.</summary>
    public string? GetString(string key) => Settings.TryGetValue(key, out var s) ? s.Value : null;
}
