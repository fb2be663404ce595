using AgentFlow.Models.Llama.Builtin;
using AgentFlow.Models.Llama.Chat;

namespace AgentFlow.Models.Llama.Providers;

/// <summary>
/// Settings of a <c>provider: builtin</c> model (the tiny llama model AgentFlow writes itself), built from a
/// <see cref="ModelSpec"/>: <c>seed</c> (1), <c>layers</c> (2), <c>embedding</c> (64), <c>context</c> (2048),
/// <c>threads</c> (1: a model this small runs fastest on one thread), <c>concurrency</c> (4).
/// </summary>
public sealed record BuiltinModelOptions
{
    /// <summary>Default CPU threads: for a model this small, thread synchronisation costs more than it saves.</summary>
    public const int DefaultThreads = 1;

    /// <summary>The settings a <c>builtin</c> model accepts.</summary>
    public static IReadOnlyList<string> AllowedSettings { get; } = ["seed", "layers", "embedding", "context", "threads", "concurrency"];

    /// <summary>The model file's shape and seed.</summary>
    public TinyGgufOptions Model { get; init; } = new();

    /// <summary>CPU threads (default 1).</summary>
    public int Threads { get; init; } = DefaultThreads;

    /// <summary>
    /// Default requests served at once: a tiny model's context costs a few hundred KB, so parallel steps bound to
    /// the same built-in model really run side by side instead of queueing.
    /// </summary>
    public const int DefaultConcurrency = 4;

    /// <summary>Requests served at once (default <see cref="DefaultConcurrency"/>).</summary>
    public int Concurrency { get; init; } = DefaultConcurrency;

    /// <summary>Reads and validates the settings; returns null and fills <paramref name="problems"/> when they are unusable.</summary>
    public static BuiltinModelOptions? TryCreate(ModelSpec spec, out IReadOnlyList<string> problems)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var reader = new SettingsReader(spec, AllowedSettings);
        reader.CheckUnknownKeys();
        var defaults = new TinyGgufOptions();
        var seed = reader.Int("seed", (int)defaults.Seed, 0, int.MaxValue);
        var layers = reader.Int("layers", defaults.Layers, 1, TinyGgufOptions.MaxLayers);
        var embedding = reader.Int("embedding", defaults.Embedding, TinyGgufOptions.MinEmbedding, TinyGgufOptions.MaxEmbedding);
        if (embedding % 2 != 0)
        {
            reader.Add("embedding", $"setting 'embedding' must be even, got {embedding}; use e.g. {embedding + 1}");
        }

        var options = new BuiltinModelOptions
        {
            Model = new TinyGgufOptions
            {
                Seed = (ulong)seed,
                Layers = layers,
                Embedding = embedding,
                ContextLength = reader.Int("context", defaults.ContextLength, TinyGgufOptions.MinContextLength, TinyGgufOptions.MaxContextLength),
            },
            Threads = reader.Int("threads", DefaultThreads, 1, 1024),
            Concurrency = reader.Int("concurrency", DefaultConcurrency, 1, 64),
        };

        problems = reader.Problems;
        return problems.Count == 0 ? options : null;
    }

    /// <summary>Reads and validates the settings of <paramref name="spec"/>.</summary>
    /// <exception cref="ModelConfigurationException">A setting is unknown or invalid; the message lists them all.</exception>
    public static BuiltinModelOptions Create(ModelSpec spec) =>
        TryCreate(spec, out var problems) ?? throw new ModelConfigurationException(string.Join(Environment.NewLine, problems));

    /// <summary>The engine options for a client serving the model named <paramref name="modelId"/>.</summary>
    public LlamaChatClientOptions ToClientOptions(string modelId) => new()
    {
        ModelId = modelId,
        ContextSize = Model.ContextLength,
        Threads = Threads,
        Concurrency = Concurrency,
    };
}
