using System.Collections.ObjectModel;
using AgentFlow.Diagnostics;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace AgentFlow.Models;

/// <summary>
/// The models a run can bind aliases to: the built-in models, then the registry file
/// (<c>agentflow.yaml</c>: <c>--config</c>, else <c>AGENTFLOW_CONFIG</c>, else the current folder), then environment
/// overrides <c>AGENTFLOW_MODELS__NAME__SETTING=value</c> (highest precedence).
/// </summary>
public sealed partial class ModelRegistry
{
    /// <summary>Default registry file name looked up in the current folder.</summary>
    public const string DefaultFileName = "agentflow.yaml";

    /// <summary>Environment variable naming the registry file.</summary>
    public const string ConfigVariable = "AGENTFLOW_CONFIG";

    /// <summary>Prefix of per-setting environment overrides.</summary>
    public const string OverridePrefix = "AGENTFLOW_MODELS__";

    private static readonly string[] TopLevelKeys = ["models", "transport", "rabbitmq", "memory", "embedders", "collections"];
    private static readonly string[] CollectionKeys = ["store", "embedder", "dimensions", .. CollectionSpec.StoreSettings];
    private static readonly string[] MemoryKeys = ["store", "connection"];

    private ModelRegistry(IReadOnlyDictionary<string, ModelSpec> models, string? sourcePath, IReadOnlyDictionary<string, string> settings, Retrieval retrieval)
    {
        Models = models;
        Embedders = new ReadOnlyDictionary<string, ModelSpec>(retrieval.Embedders);
        Collections = new ReadOnlyDictionary<string, CollectionSpec>(retrieval.Collections);
        SourcePath = sourcePath;
        Transport = settings.GetValueOrDefault("transport");
        RabbitMqUri = settings.GetValueOrDefault("rabbitmq");
        MemoryStore = settings.GetValueOrDefault("memory.store");
        MemoryConnection = settings.GetValueOrDefault("memory.connection");
    }

    /// <summary><c>memory: { store: … }</c>: <c>local</c> (default, on disk) or <c>redis</c>; null when unset.</summary>
    public string? MemoryStore { get; }

    /// <summary><c>memory: { connection: … }</c>: the Redis connection (<c>AGENTFLOW_REDIS</c> takes precedence); null when unset.</summary>
    public string? MemoryConnection { get; }

    /// <summary><c>transport:</c> from the file: <c>inmemory</c> (default, one process) or <c>rabbitmq</c>; null when unset.</summary>
    public string? Transport { get; }

    /// <summary><c>rabbitmq:</c> broker URI from the file (<c>AGENTFLOW_RABBITMQ</c> takes precedence); null when unset.</summary>
    public string? RabbitMqUri { get; }

    /// <summary>Every embedding model by name (<c>embedders:</c>), the built-in <c>minilm</c> first.</summary>
    public IReadOnlyDictionary<string, ModelSpec> Embedders { get; }

    /// <summary>The collections the registry names (<c>collections:</c>); others are created on the embedded store by <c>agentflow index</c>.</summary>
    public IReadOnlyDictionary<string, CollectionSpec> Collections { get; }

    /// <summary>
    /// The built-in embedding model: all-MiniLM-L6-v2 (ONNX, 384 dimensions, CPU), shipped inside a NuGet package.
    /// </summary>
    public static ModelSpec BuiltinEmbedder { get; } =
        new(CollectionSpec.DefaultEmbedder, "minilm", new Dictionary<string, ModelSetting>(StringComparer.Ordinal), new SourceLocation("<built-in>", 1, 1));

    /// <summary>The collection named <paramref name="name"/>: the registry's, else an implicit one on the embedded store with the built-in embedder.</summary>
    public CollectionSpec CollectionOrImplicit(string name) =>
        Collections.TryGetValue(name, out var spec) ? spec : CollectionSpec.Implicit(name);

    /// <summary>Every model by name, in declaration order (built-ins first).</summary>
    public IReadOnlyDictionary<string, ModelSpec> Models { get; }

    /// <summary>The registry file read, or null when only built-ins and environment overrides apply.</summary>
    public string? SourcePath { get; }

    /// <summary>
    /// Models that exist without any configuration: the tiny llama models AgentFlow writes itself (<c>tiny</c>,
    /// <c>tiny2</c>, run by llama.cpp) and its tiny ONNX decoder (<c>tiny-onnx</c>, run by ONNX Runtime GenAI).
    /// </summary>
    public static IReadOnlyList<ModelSpec> BuiltinModels { get; } =
    [
        Builtin("tiny", seed: 1),
        Builtin("tiny2", seed: 2),
        Builtin("tiny-onnx", seed: 1, provider: "onnx"),
    ];

    /// <summary>Looks a model up by name.</summary>
    public bool TryGet(string name, out ModelSpec spec) => Models.TryGetValue(name, out spec!);

    /// <summary>
    /// Loads the registry. <paramref name="configPath"/> is the <c>--config</c> value (must exist when given);
    /// otherwise <c>AGENTFLOW_CONFIG</c>, otherwise <c>agentflow.yaml</c> in <paramref name="workingDirectory"/> if present.
    /// </summary>
    /// <exception cref="DefinitionException">The file is missing (when named) or invalid; every problem is listed.</exception>
    public static ModelRegistry Load(string? configPath, IReadOnlyDictionary<string, string> environment, string workingDirectory)
    {
        ArgumentNullException.ThrowIfNull(environment);
        var models = new Dictionary<string, ModelSpec>(StringComparer.Ordinal);
        foreach (var builtin in BuiltinModels)
        {
            models[builtin.Name] = builtin;
        }

        var diagnostics = new List<Diagnostic>();
        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        var retrieval = new Retrieval();
        var path = configPath;
        var named = path is not null;
        if (path is null && environment.TryGetValue(ConfigVariable, out var fromEnv) && !string.IsNullOrWhiteSpace(fromEnv))
        {
            path = fromEnv;
            named = true;
        }

        path ??= File.Exists(Path.Combine(workingDirectory, DefaultFileName)) ? DefaultFileName : null;
        string? sourcePath = null;
        if (path is not null)
        {
            var full = Path.GetFullPath(path, workingDirectory);
            if (!File.Exists(full))
            {
                diagnostics.Add(new Diagnostic(
                    SourceLocation.StartOf(path),
                    "AF0901",
                    named ? $"model registry '{path}' does not exist" : $"cannot read '{path}'",
                    $"pass an existing file with --config or {ConfigVariable}, or remove the setting to use the built-in models"));
            }
            else
            {
                sourcePath = path;
                ReadFile(path, File.ReadAllText(full), models, settings, diagnostics, retrieval);
            }
        }

        ApplyOverrides(environment, models, diagnostics);
        ExtractPrices(models, diagnostics);
        retrieval.CheckCollections(diagnostics);
        if (diagnostics.Count > 0)
        {
            throw new DefinitionException(diagnostics);
        }

        return new ModelRegistry(new ReadOnlyDictionary<string, ModelSpec>(models), sourcePath, settings, retrieval);
    }

    /// <summary>Parses registry text (for tests and tools); same rules as <see cref="Load"/>.</summary>
    /// <exception cref="DefinitionException">The text is invalid.</exception>
    public static ModelRegistry Parse(string text, string path)
    {
        var models = BuiltinModels.ToDictionary(m => m.Name, StringComparer.Ordinal);
        var diagnostics = new List<Diagnostic>();
        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        var retrieval = new Retrieval();
        ReadFile(path, text, models, settings, diagnostics, retrieval);
        ExtractPrices(models, diagnostics);
        retrieval.CheckCollections(diagnostics);
        if (diagnostics.Count > 0)
        {
            throw new DefinitionException(diagnostics);
        }

        return new ModelRegistry(new ReadOnlyDictionary<string, ModelSpec>(models), path, settings, retrieval);
    }

    private static ModelSpec Builtin(string name, int seed, string provider = "builtin")
    {
        var location = new SourceLocation("<built-in>", 1, 1);
        var settings = new Dictionary<string, ModelSetting>(StringComparer.Ordinal)
        {
            ["seed"] = new(seed.ToString(System.Globalization.CultureInfo.InvariantCulture), location),
        };
        if (provider != "builtin")
        {
            // provider: onnx, builtin: true — the provider writes its own tiny model instead of loading a folder.
            settings["builtin"] = new("true", location);
        }

        return new ModelSpec(name, provider, settings, location);
    }

    private static void ReadFile(string path, string text, Dictionary<string, ModelSpec> models, Dictionary<string, string> settings, List<Diagnostic> diagnostics, Retrieval retrieval)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException ex)
        {
            diagnostics.Add(new Diagnostic(At(path, ex.Start), "AF0902", $"YAML syntax error: {ex.Message}", "fix the YAML syntax"));
            return;
        }

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is YamlScalarNode { Value: null or "" })
        {
            return;
        }

        if (stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            diagnostics.Add(new Diagnostic(At(path, stream.Documents[0].RootNode.Start), "AF0903", "the registry must be a mapping with a 'models' key"));
            return;
        }

        foreach (var (keyNode, valueNode) in root.Children)
        {
            var key = ((YamlScalarNode)keyNode).Value ?? string.Empty;
            if (!TopLevelKeys.Contains(key, StringComparer.Ordinal))
            {
                diagnostics.Add(new Diagnostic(At(path, keyNode.Start), "AF0904", $"unknown key '{key}'{NameSuggestion.DidYouMean(key, TopLevelKeys)}", $"top-level keys: {string.Join(", ", TopLevelKeys)}"));
                continue;
            }

            if (key == "memory")
            {
                ReadMemory(path, valueNode, settings, diagnostics);
                continue;
            }

            if (key == "embedders")
            {
                retrieval.ReadEmbedders(path, valueNode, diagnostics);
                continue;
            }

            if (key == "collections")
            {
                retrieval.ReadCollections(path, valueNode, diagnostics);
                continue;
            }

            if (key != "models")
            {
                ReadSetting(path, key, valueNode, settings, diagnostics);
                continue;
            }

            if (valueNode is not YamlMappingNode modelsNode)
            {
                diagnostics.Add(new Diagnostic(At(path, valueNode.Start), "AF0905", "'models' must map model names to their settings"));
                continue;
            }

            foreach (var (nameNode, specNode) in modelsNode.Children)
            {
                ReadModel(path, (YamlScalarNode)nameNode, specNode, models, diagnostics);
            }
        }
    }

    private static void ReadMemory(string path, YamlNode node, Dictionary<string, string> settings, List<Diagnostic> diagnostics)
    {
        if (node is not YamlMappingNode map)
        {
            diagnostics.Add(new Diagnostic(At(path, node.Start), "AF0913", "'memory' must be a mapping", "memory: { store: redis, connection: 127.0.0.1:6379 }"));
            return;
        }

        foreach (var (keyNode, valueNode) in map.Children)
        {
            var key = ((YamlScalarNode)keyNode).Value ?? string.Empty;
            if (!MemoryKeys.Contains(key, StringComparer.Ordinal))
            {
                diagnostics.Add(new Diagnostic(At(path, keyNode.Start), "AF0913", $"unknown key '{key}' in memory{NameSuggestion.DidYouMean(key, MemoryKeys)}", "memory: { store: local|redis, connection: host:port }"));
            }
            else if ((valueNode as YamlScalarNode)?.Value is { } value)
            {
                settings["memory." + key] = value;
            }
        }
    }

    private static void ReadSetting(string path, string key, YamlNode valueNode, Dictionary<string, string> settings, List<Diagnostic> diagnostics)
    {
        var value = (valueNode as YamlScalarNode)?.Value;
        if (value is null)
        {
            diagnostics.Add(new Diagnostic(At(path, valueNode.Start), "AF0912", $"'{key}' must be a single value"));
        }
        else if (key == "transport" && value is not ("inmemory" or "rabbitmq"))
        {
            diagnostics.Add(new Diagnostic(At(path, valueNode.Start), "AF0912", $"unknown transport '{value}'", "use inmemory (one process, the default) or rabbitmq"));
        }
        else
        {
            settings[key] = value;
        }
    }

    private static void ReadModel(string path, YamlScalarNode nameNode, YamlNode specNode, Dictionary<string, ModelSpec> models, List<Diagnostic> diagnostics, string what = "model")
    {
        var name = nameNode.Value ?? string.Empty;
        var location = At(path, nameNode.Start);
        if (!IsValidName(name))
        {
            diagnostics.Add(new Diagnostic(location, "AF0906", $"invalid {what} name '{name}'", "use letters, digits, '-', '_' and '.'"));
            return;
        }

        if (specNode is not YamlMappingNode spec)
        {
            diagnostics.Add(new Diagnostic(At(path, specNode.Start), "AF0907", $"{what} '{name}' must be a mapping of settings", what == "model" ? "e.g. { provider: llama, path: model.gguf }" : "e.g. { provider: openai, endpoint: http://localhost:8000/v1, model: bge-small }"));
            return;
        }

        string? provider = null;
        var settings = new Dictionary<string, ModelSetting>(StringComparer.Ordinal);
        foreach (var (keyNode, valueNode) in spec.Children)
        {
            var key = ((YamlScalarNode)keyNode).Value ?? string.Empty;
            if (valueNode is not YamlScalarNode scalar)
            {
                diagnostics.Add(new Diagnostic(At(path, valueNode.Start), "AF0908", $"{what} '{name}': setting '{key}' must be a single value"));
                continue;
            }

            if (key == "provider")
            {
                provider = scalar.Value;
            }
            else
            {
                settings[key] = new ModelSetting(scalar.Value ?? string.Empty, At(path, scalar.Start));
            }
        }

        if (string.IsNullOrEmpty(provider))
        {
            diagnostics.Add(new Diagnostic(location, "AF0909", $"{what} '{name}' has no 'provider'", what == "model" ? "add provider: builtin, llama, onnx or openai" : "add provider: minilm, openai or llama"));
            return;
        }

        models[name] = new ModelSpec(name, provider, settings, location);
    }

    private static void ApplyOverrides(IReadOnlyDictionary<string, string> environment, Dictionary<string, ModelSpec> models, List<Diagnostic> diagnostics)
    {
        // Provider overrides first, so a model declared only through the environment can take settings too.
        var ordered = environment
            .Where(e => e.Key.StartsWith(OverridePrefix, StringComparison.Ordinal))
            .OrderBy(e => e.Key.EndsWith("__provider", StringComparison.OrdinalIgnoreCase) ? 0 : 1)
            .ThenBy(e => e.Key, StringComparer.Ordinal);
        foreach (var (variable, value) in ordered)
        {
            var parts = variable[OverridePrefix.Length..].Split("__");
            var location = new SourceLocation($"${variable}", 1, 1);
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
            {
                diagnostics.Add(new Diagnostic(location, "AF0910", $"environment override '{variable}' is malformed", $"use {OverridePrefix}<model>__<setting>=value"));
                continue;
            }

            var (name, key) = (parts[0], parts[1].ToLowerInvariant());
            models.TryGetValue(name, out var existing);
            if (key == "provider")
            {
                models[name] = existing is null
                    ? new ModelSpec(name, value, new Dictionary<string, ModelSetting>(StringComparer.Ordinal), location)
                    : existing with { Provider = value };
                continue;
            }

            if (existing is null)
            {
                diagnostics.Add(new Diagnostic(location, "AF0911", $"environment override '{variable}' names unknown model '{name}'", $"declare it in {DefaultFileName} or also set {OverridePrefix}{name}__provider"));
                continue;
            }

            var settings = new Dictionary<string, ModelSetting>(existing.Settings, StringComparer.Ordinal) { [key] = new(value, location) };
            models[name] = existing with { Settings = settings };
        }
    }

    // Prices are AgentFlow's, not the provider's: they are taken out of the settings every provider checks.
    private static void ExtractPrices(Dictionary<string, ModelSpec> models, List<Diagnostic> diagnostics)
    {
        foreach (var spec in models.Values.ToList())
        {
            if (!ModelPrice.SettingKeys.Any(spec.Settings.ContainsKey))
            {
                continue;
            }

            double Read(string key)
            {
                if (!spec.Settings.TryGetValue(key, out var setting))
                {
                    return 0;
                }

                if (double.TryParse(setting.Value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var value) && double.IsFinite(value) && value >= 0)
                {
                    return value;
                }

                diagnostics.Add(new Diagnostic(setting.Location, "AF0914", $"model '{spec.Name}': '{key}' must be a number of US dollars ≥ 0, got '{setting.Value}'"));
                return 0;
            }

            var price = new ModelPrice(Read("price_input_per_mtok"), Read("price_output_per_mtok"), Read("hourly_cost"));
            var rest = spec.Settings.Where(s => !ModelPrice.SettingKeys.Contains(s.Key, StringComparer.Ordinal)).ToDictionary(s => s.Key, s => s.Value, StringComparer.Ordinal);
            models[spec.Name] = spec with { Settings = rest, Price = price };
        }
    }

    private static bool IsValidName(string name) =>
        name.Length > 0 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    private static SourceLocation At(string path, Mark mark) => new(path, (int)Math.Max(1, mark.Line), (int)Math.Max(1, mark.Column));
}
