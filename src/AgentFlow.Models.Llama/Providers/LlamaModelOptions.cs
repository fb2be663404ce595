using AgentFlow.Models.Llama.Chat;
using AgentFlow.Models.Llama.Hosting;

namespace AgentFlow.Models.Llama.Providers;

/// <summary>
/// Settings of a <c>provider: llama</c> model (a GGUF file run by llama.cpp), built from a <see cref="ModelSpec"/>:
/// <c>path</c> (required), <c>context</c> (4096), <c>threads</c> (processor count), <c>gpu_layers</c> (0),
/// <c>batch</c> (512), <c>concurrency</c> (1), <c>chat_template</c> (the model's own).
/// </summary>
public sealed record LlamaModelOptions
{
    /// <summary>Default context window, in tokens.</summary>
    public const int DefaultContextSize = 4096;

    /// <summary>Default prompt batch size.</summary>
    public const int DefaultBatchSize = 512;

    /// <summary>The settings a <c>llama</c> model accepts.</summary>
    public static IReadOnlyList<string> AllowedSettings { get; } = ["path", "context", "threads", "gpu_layers", "batch", "concurrency", "chat_template"];

    /// <summary>Full path of the GGUF file (<c>~</c> expanded; relative paths are relative to the config file's folder).</summary>
    public required string Path { get; init; }

    /// <summary>Context window per request, in tokens (default 4096).</summary>
    public int ContextSize { get; init; } = DefaultContextSize;

    /// <summary>CPU threads (default <see cref="Environment.ProcessorCount"/>).</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>Layers offloaded to a GPU (default 0; only with a GPU backend, which this build does not ship).</summary>
    public int GpuLayers { get; init; }

    /// <summary>Prompt tokens evaluated per native call (default 512).</summary>
    public int BatchSize { get; init; } = DefaultBatchSize;

    /// <summary>Requests served at once, each with its own context (default 1).</summary>
    public int Concurrency { get; init; } = 1;

    /// <summary>llama.cpp chat template name or text overriding the model's own (default null: the model's).</summary>
    public string? ChatTemplate { get; init; }

    /// <summary>
    /// Reads and validates the settings of <paramref name="spec"/>. Returns null and fills <paramref name="problems"/>
    /// when they are unusable. Does not check that the file exists.
    /// </summary>
    public static LlamaModelOptions? TryCreate(ModelSpec spec, out IReadOnlyList<string> problems)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var reader = new SettingsReader(spec, AllowedSettings);
        reader.CheckUnknownKeys();
        var rawPath = reader.String("path");
        if (rawPath is null)
        {
            reader.Add("path", $"setting 'path' is required for provider 'llama'; set it to a GGUF file, e.g. path: ~/models/qwen2.5-0.5b-instruct-q4_k_m.gguf");
        }

        var options = new LlamaModelOptions
        {
            Path = rawPath is null ? string.Empty : spec.ResolvePath(rawPath),
            ContextSize = reader.Int("context", DefaultContextSize, 16, 1 << 20),
            Threads = reader.Int("threads", Environment.ProcessorCount, 1, 1024),
            GpuLayers = reader.Int("gpu_layers", 0, -1, 100_000),
            BatchSize = reader.Int("batch", DefaultBatchSize, 1, 1 << 16),
            Concurrency = reader.Int("concurrency", 1, 1, 64),
            ChatTemplate = reader.String("chat_template"),
        };

        problems = reader.Problems;
        return problems.Count == 0 ? options : null;
    }

    /// <summary>Reads and validates the settings of <paramref name="spec"/>.</summary>
    /// <exception cref="ModelConfigurationException">A setting is missing, unknown or invalid; the message lists them all.</exception>
    public static LlamaModelOptions Create(ModelSpec spec) =>
        TryCreate(spec, out var problems) ?? throw new ModelConfigurationException(string.Join(Environment.NewLine, problems));

    /// <summary>The engine options for a client serving the model named <paramref name="modelId"/>.</summary>
    public LlamaChatClientOptions ToClientOptions(string modelId) => new()
    {
        ModelId = modelId,
        ContextSize = ContextSize,
        Threads = Threads,
        GpuLayers = GpuLayers,
        BatchSize = BatchSize,
        Concurrency = Concurrency,
        ChatTemplate = ChatTemplate,
    };
}
