using AgentFlow.Models.Onnx.Chat;
using AgentFlow.Models.Onnx.Tiny;

namespace AgentFlow.Models.Onnx.Providers;

/// <summary>
/// Settings of a <c>provider: onnx</c> model (an ONNX Runtime GenAI model folder), built from a <see cref="ModelSpec"/>:
/// <c>path</c> (the folder holding <c>genai_config.json</c>; required unless <c>builtin: true</c>),
/// <c>builtin</c> (false; true = the tiny ONNX model AgentFlow writes itself, shaped by <c>seed</c> (1) and
/// <c>embedding</c> (64)), <c>execution_provider</c> (<c>cpu</c>), <c>device_id</c> (GPU providers only; the
/// provider's default device), <c>context</c> (the folder's <c>context_length</c>; 2048 for the built-in model) and
/// <c>concurrency</c> (1; 4 for the built-in model).
/// </summary>
public sealed record OnnxModelOptions
{
    /// <summary>Default execution provider.</summary>
    public const string DefaultExecutionProvider = "cpu";

    /// <summary>Default requests served at once by the built-in model (its KV cache is a few KB per request).</summary>
    public const int DefaultBuiltinConcurrency = 4;

    /// <summary>The settings an <c>onnx</c> model accepts.</summary>
    public static IReadOnlyList<string> AllowedSettings { get; } = ["path", "builtin", "seed", "embedding", "execution_provider", "device_id", "context", "concurrency"];

    /// <summary>
    /// Execution providers accepted in <c>execution_provider</c> (lower case, as ONNX Runtime GenAI normalises them).
    /// Only <c>cpu</c> is in the package AgentFlow ships; the others need a GenAI build with that provider
    /// (e.g. the Microsoft.ML.OnnxRuntimeGenAI.Cuda or .DirectML package) and its drivers.
    /// </summary>
    public static IReadOnlyList<string> ExecutionProviders { get; } = ["cpu", "cuda", "dml", "webgpu", "openvino", "qnn", "nvtensorrtrtx", "vitisai"];

    /// <summary>Full path of the model folder (<c>~</c> expanded; relative to the config file's folder). Empty for the built-in model until written.</summary>
    public string Path { get; init; } = string.Empty;

    /// <summary>The built-in tiny model's shape when <c>builtin: true</c>; null for a model folder.</summary>
    public TinyOnnxOptions? Builtin { get; init; }

    /// <summary>Execution provider (default <c>cpu</c>).</summary>
    public string ExecutionProvider { get; init; } = DefaultExecutionProvider;

    /// <summary>GPU device index passed as the provider's <c>device_id</c> option; null (default) leaves the provider's default.</summary>
    public int? DeviceId { get; init; }

    /// <summary>Context window override in tokens; null (default) takes the folder's <c>context_length</c>.</summary>
    public int? ContextSize { get; init; }

    /// <summary>Requests served at once (default 1; 4 for the built-in model).</summary>
    public int Concurrency { get; init; } = 1;

    /// <summary>
    /// Reads and validates the settings of <paramref name="spec"/>. Returns null and fills <paramref name="problems"/>
    /// when they are unusable. Does not check that the folder exists.
    /// </summary>
    public static OnnxModelOptions? TryCreate(ModelSpec spec, out IReadOnlyList<string> problems)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var reader = new SettingsReader(spec, AllowedSettings);
        reader.CheckUnknownKeys();
        var before = reader.Problems.Count;
        var builtin = reader.Bool("builtin", false);
        var builtinValid = reader.Problems.Count == before;
        var rawPath = reader.String("path");
        TinyOnnxOptions? tiny = null;
        if (builtin)
        {
            if (rawPath is not null)
            {
                reader.Add("path", "settings 'path' and 'builtin: true' exclude each other; remove 'path' to use the built-in tiny model, or 'builtin' to load the folder");
            }

            var defaults = new TinyOnnxOptions();
            var embedding = reader.Int("embedding", defaults.Embedding, TinyOnnxOptions.MinEmbedding, TinyOnnxOptions.MaxEmbedding);
            if (embedding % TinyOnnxOptions.HeadCount != 0)
            {
                reader.Add("embedding", $"setting 'embedding' must be a multiple of {TinyOnnxOptions.HeadCount}, got {embedding}; use e.g. {embedding / TinyOnnxOptions.HeadCount * TinyOnnxOptions.HeadCount}");
            }

            tiny = new TinyOnnxOptions
            {
                Seed = (ulong)reader.Int("seed", (int)defaults.Seed, 0, int.MaxValue),
                Embedding = embedding,
                ContextLength = reader.Int("context", defaults.ContextLength, TinyOnnxOptions.MinContextLength, TinyOnnxOptions.MaxContextLength),
            };
        }
        else
        {
            if (rawPath is null && builtinValid)
            {
                reader.Add("path", "setting 'path' is required for provider 'onnx'; set it to an ONNX Runtime GenAI model folder (the one holding genai_config.json), "
                    + "e.g. path: ~/models/phi-3-mini-4k-instruct-onnx/cpu-int4-rtn-block-32, or set builtin: true for the built-in tiny model");
            }

            foreach (var key in (ReadOnlySpan<string>)["seed", "embedding"])
            {
                if (spec.Settings.ContainsKey(key))
                {
                    reader.Add(key, $"setting '{key}' only applies to the built-in tiny model (builtin: true); remove it");
                }
            }
        }

        var provider = reader.String("execution_provider")?.ToLowerInvariant() ?? DefaultExecutionProvider;
        if (!ExecutionProviders.Contains(provider, StringComparer.Ordinal))
        {
            var suggestion = AgentFlow.Diagnostics.NameSuggestion.Nearest(provider, ExecutionProviders);
            reader.Add("execution_provider", $"unknown execution provider '{spec.GetString("execution_provider")}'"
                + (suggestion is null ? "" : $" (did you mean '{suggestion}'?)")
                + $"; use one of {string.Join(", ", ExecutionProviders)} (default {DefaultExecutionProvider})");
            provider = DefaultExecutionProvider;
        }

        int? deviceId = spec.Settings.ContainsKey("device_id") ? reader.Int("device_id", 0, 0, 1024) : null;
        if (deviceId is not null && provider == DefaultExecutionProvider)
        {
            reader.Add("device_id", "setting 'device_id' selects a GPU and needs a GPU execution provider, e.g. execution_provider: cuda; remove it for cpu");
        }

        var options = new OnnxModelOptions
        {
            Path = rawPath is null ? string.Empty : spec.ResolvePath(rawPath),
            Builtin = tiny,
            ExecutionProvider = provider,
            DeviceId = deviceId,
            ContextSize = builtin ? tiny!.ContextLength : spec.Settings.ContainsKey("context") ? reader.Int("context", 4096, 16, 1 << 20) : null,
            Concurrency = reader.Int("concurrency", builtin ? DefaultBuiltinConcurrency : 1, 1, 64),
        };

        problems = reader.Problems;
        return problems.Count == 0 ? options : null;
    }

    /// <summary>Reads and validates the settings of <paramref name="spec"/>.</summary>
    /// <exception cref="ModelConfigurationException">A setting is missing, unknown or invalid; the message lists them all.</exception>
    public static OnnxModelOptions Create(ModelSpec spec) =>
        TryCreate(spec, out var problems) ?? throw new ModelConfigurationException(string.Join(Environment.NewLine, problems));

    /// <summary>The provider options passed to GenAI (<c>device_id</c> when set).</summary>
    public IReadOnlyDictionary<string, string> ProviderOptions() => DeviceId is { } id
        ? new Dictionary<string, string>(StringComparer.Ordinal) { ["device_id"] = id.ToString(System.Globalization.CultureInfo.InvariantCulture) }
        : new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>The engine options for a client serving the model named <paramref name="modelId"/>.</summary>
    public OnnxChatClientOptions ToClientOptions(string modelId) => new()
    {
        ModelId = modelId,
        Concurrency = Concurrency,
        ContextSize = ContextSize,
    };
}
