using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using AgentFlow.Models.Onnx.Chat;
using AgentFlow.Models.Onnx.Tiny;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntimeGenAI;

namespace AgentFlow.Models.Onnx.Providers;

/// <summary>
/// <c>provider: onnx</c>: an ONNX Runtime GenAI model folder (Phi, Llama, Qwen, Mistral, … exported with GenAI's
/// model builder) run in-process, or with <c>builtin: true</c> the tiny ONNX decoder AgentFlow writes itself (seeded
/// random weights: meaningless but real text through the GenAI runtime). Settings: see <see cref="OnnxModelOptions"/>.
/// </summary>
public sealed partial class OnnxModelProvider : IModelProvider
{
    /// <summary>The file that makes a folder a GenAI model folder.</summary>
    public const string ConfigFileName = "genai_config.json";

    private readonly TinyOnnxStore _store;
    private readonly ILogger? _logger;

    /// <summary>Creates the provider.</summary>
    /// <param name="store">Where built-in model folders are written (default: <see cref="TinyOnnxStore.DefaultDirectory"/>).</param>
    /// <param name="loggerFactory">Logging for loads and requests; null drops it.</param>
    public OnnxModelProvider(TinyOnnxStore? store = null, ILoggerFactory? loggerFactory = null)
    {
        _store = store ?? new TinyOnnxStore();
        _logger = loggerFactory?.CreateLogger("AgentFlow.Models.Onnx");
    }

    /// <inheritdoc />
    public string Name => "onnx";

    /// <summary>The store built-in model folders are written to.</summary>
    public TinyOnnxStore Store => _store;

    /// <inheritdoc />
    public IReadOnlyList<string> Check(ModelSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var options = OnnxModelOptions.TryCreate(spec, out var problems);
        var all = new List<string>(problems);
        var path = options?.Path ?? (spec.GetString("path") is { Length: > 0 } raw ? spec.ResolvePath(raw) : null);
        var builtin = options?.Builtin is not null || spec.GetString("builtin")?.Trim().ToLowerInvariant() is "true" or "yes" or "on";
        if (!builtin && !string.IsNullOrEmpty(path) && CheckFolder(spec, path) is { } folderProblem)
        {
            all.Add(folderProblem);
        }

        return all;
    }

    /// <inheritdoc />
    public async Task<LoadedModel> LoadAsync(ModelSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var options = OnnxModelOptions.Create(spec);
        string folder;
        if (options.Builtin is { } tiny)
        {
            try
            {
                folder = _store.Ensure(tiny);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new ModelConfigurationException(
                    $"{spec.Location}: model '{spec.Name}': cannot write the built-in ONNX model to '{_store.Directory}' ({ex.Message}); "
                    + $"make the folder writable or set {DataDirectories.HomeVariable} to a writable folder",
                    ex);
            }
        }
        else
        {
            folder = options.Path;
            if (CheckFolder(spec, folder) is { } problem)
            {
                throw new ModelConfigurationException(problem);
            }
        }

        var decoder = DecoderFile(folder);
        var hashTask = decoder is null ? Task.FromResult<string?>(null) : HashAsync(decoder, cancellationToken);
        OnnxChatClient client;
        try
        {
            client = await OnnxChatClient.LoadAsync(folder, options.ToClientOptions(spec.Name), options.ExecutionProvider, options.ProviderOptions(), _logger, cancellationToken)
                .ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OnnxRuntimeGenAIException or IOException or UnauthorizedAccessException or JsonException)
        {
            await ObserveAsync(hashTask).ConfigureAwait(false);
            throw new ModelConfigurationException(LoadFailure(spec, options, folder, ex), ex);
        }

        string? sha256;
        try
        {
            sha256 = await hashTask.ConfigureAwait(false);
        }
        catch
        {
            client.Dispose();
            throw;
        }

        if (_logger is not null)
        {
            LogLoaded(_logger, spec.Name, folder, options.ExecutionProvider);
        }

        var description = options.Builtin is { } t
            ? string.Create(CultureInfo.InvariantCulture, $"built-in tiny ONNX decoder (format {Tiny.TinyOnnxWriter.FormatVersion}, seed {t.Seed}, 1x{t.Embedding}) via ONNX Runtime GenAI ({options.ExecutionProvider}) at {folder}")
            : string.Create(CultureInfo.InvariantCulture, $"ONNX Runtime GenAI {client.ModelType} (context {client.ContextSize}, {options.ExecutionProvider}) at {folder}");
        return new LoadedModel(spec, client, description, sha256);
    }

    /// <summary>The problem with the folder at <paramref name="path"/>, or null when it looks like a GenAI model folder.</summary>
    private static string? CheckFolder(ModelSpec spec, string path)
    {
        var prefix = $"{spec.LocationOf("path")}: model '{spec.Name}': '{path}' (setting 'path')";
        if (File.Exists(path))
        {
            var parent = System.IO.Path.GetDirectoryName(path);
            return $"{prefix} is a file; set 'path' to the folder holding {ConfigFileName}"
                + (parent is not null && File.Exists(System.IO.Path.Combine(parent, ConfigFileName)) ? $", here '{parent}'" : string.Empty);
        }

        if (!Directory.Exists(path))
        {
            return $"{prefix} does not exist; download an ONNX Runtime GenAI model folder there or fix the path";
        }

        var config = System.IO.Path.Combine(path, ConfigFileName);
        if (!File.Exists(config))
        {
            return $"{prefix} has no {ConfigFileName}; point 'path' at the folder of an ONNX Runtime GenAI model (exported with its model builder), not at a plain ONNX model";
        }

        try
        {
            using var stream = File.OpenRead(config);
            using var document = JsonDocument.Parse(stream, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
            if (document.RootElement.ValueKind != JsonValueKind.Object || !document.RootElement.TryGetProperty("model", out _))
            {
                return $"{prefix}: {ConfigFileName} has no 'model' section; it is not an ONNX Runtime GenAI configuration";
            }
        }
        catch (JsonException ex)
        {
            return $"{prefix}: {ConfigFileName} is not valid JSON ({ex.Message})";
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return $"{prefix}: {ConfigFileName} cannot be read ({ex.Message}); check its permissions";
        }

        return null;
    }

    private static string LoadFailure(ModelSpec spec, OnnxModelOptions options, string folder, Exception ex)
    {
        var message = $"{spec.LocationOf("path")}: model '{spec.Name}': ONNX Runtime GenAI could not load '{folder}' ({ex.Message.Trim()}); ";
        return options.ExecutionProvider == OnnxModelOptions.DefaultExecutionProvider
            ? message + "check that the folder holds a complete model (genai_config.json, the ONNX decoder it names, tokenizer.json and tokenizer_config.json)"
            : message + $"execution provider '{options.ExecutionProvider}' (setting 'execution_provider' at {spec.LocationOf("execution_provider")}) needs a GenAI build "
                + "and drivers that have it (AgentFlow ships the CPU build); use execution_provider: cpu or install the GPU build";
    }

    // The decoder graph genai_config.json names (its weights may sit in an external .data file next to it).
    private static string? DecoderFile(string folder)
    {
        try
        {
            using var stream = File.OpenRead(System.IO.Path.Combine(folder, ConfigFileName));
            using var document = JsonDocument.Parse(stream, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
            return document.RootElement.TryGetProperty("model", out var model)
                && model.TryGetProperty("decoder", out var decoder)
                && decoder.TryGetProperty("filename", out var name)
                && name.GetString() is { Length: > 0 } file
                && File.Exists(System.IO.Path.Combine(folder, file))
                    ? System.IO.Path.Combine(folder, file)
                    : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException or InvalidOperationException)
        {
            return null;
        }
    }

    private static async Task<string?> HashAsync(string path, CancellationToken cancellationToken)
    {
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        await using (stream.ConfigureAwait(false))
        {
            return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false));
        }
    }

    private static async Task ObserveAsync(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or OperationCanceledException)
        {
            // The load error is the one worth reporting.
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Debug, Message = "model '{Model}': loaded ONNX Runtime GenAI folder {Folder} on {ExecutionProvider}")]
    private static partial void LogLoaded(ILogger logger, string model, string folder, string executionProvider);
}
