using System.Globalization;
using AgentFlow.Models.Llama.Hosting;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Models.Llama.Providers;

/// <summary>
/// <c>provider: llama</c>: a GGUF model file (Qwen, Llama, Gemma, Phi, Mistral, …) run in-process by llama.cpp.
/// Settings: see <see cref="LlamaModelOptions"/>.
/// </summary>
public sealed class LlamaModelProvider : IModelProvider
{
    private readonly FileHashCache _hashCache;
    private readonly ILogger? _logger;

    /// <summary>Creates the provider.</summary>
    /// <param name="hashCache">Where model file hashes are remembered (default: under the user's data folder).</param>
    /// <param name="loggerFactory">Logging for requests and for llama.cpp's own log (at Debug); null drops both.</param>
    public LlamaModelProvider(FileHashCache? hashCache = null, ILoggerFactory? loggerFactory = null)
    {
        _hashCache = hashCache ?? FileHashCache.CreateDefault();
        _logger = loggerFactory?.CreateLogger("AgentFlow.Models.Llama");
        if (loggerFactory is not null)
        {
            LlamaRuntime.UseLogger(loggerFactory.CreateLogger("llama.cpp"));
        }
    }

    /// <inheritdoc />
    public string Name => "llama";

    /// <inheritdoc />
    public IReadOnlyList<string> Check(ModelSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var options = LlamaModelOptions.TryCreate(spec, out var problems);
        var all = new List<string>(problems);
        var path = options?.Path ?? (spec.GetString("path") is { Length: > 0 } raw ? spec.ResolvePath(raw) : null);
        if (path is not null && CheckFile(spec, path) is { } fileProblem)
        {
            all.Add(fileProblem);
        }

        return all;
    }

    /// <inheritdoc />
    public async Task<LoadedModel> LoadAsync(ModelSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var options = LlamaModelOptions.Create(spec);
        if (CheckFile(spec, options.Path) is { } problem)
        {
            throw new ModelConfigurationException(problem);
        }

        var (client, sha256) = await LlamaModelLoader.LoadAsync(spec, options.Path, options.ToClientOptions(spec.Name), _hashCache, _logger, cancellationToken)
            .ConfigureAwait(false);
        return new LoadedModel(spec, client, Describe(client, options), sha256);
    }

    /// <summary>The problem with the file at <paramref name="path"/>, or null when it looks like a GGUF file.</summary>
    private static string? CheckFile(ModelSpec spec, string path)
    {
        var prefix = $"{spec.LocationOf("path")}: model '{spec.Name}': file '{path}' (setting 'path')";
        if (Directory.Exists(path))
        {
            return $"{prefix} is a folder; set 'path' to the .gguf file inside it";
        }

        if (!File.Exists(path))
        {
            return $"{prefix} does not exist; download a GGUF file there or fix the path";
        }

        try
        {
            Span<byte> magic = stackalloc byte[4];
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
            return stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4 && magic.SequenceEqual("GGUF"u8)
                ? null
                : $"{prefix} is not a GGUF file; llama.cpp needs a .gguf model (convert or download one in GGUF format)";
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return $"{prefix} cannot be read ({ex.Message}); check its permissions";
        }
    }

    private static string Describe(Chat.LlamaChatClient client, LlamaModelOptions options)
    {
        var metadata = client.Weights.Metadata;
        var architecture = metadata.TryGetValue("general.architecture", out var a) ? a : "unknown architecture";
        var parameters = client.Weights.ParameterCount;
        var size = parameters >= 1_000_000_000
            ? string.Create(CultureInfo.InvariantCulture, $"{parameters / 1e9:0.#}B")
            : string.Create(CultureInfo.InvariantCulture, $"{parameters / 1e6:0.#}M");
        return string.Create(CultureInfo.InvariantCulture, $"llama.cpp {architecture} ({size} parameters, context {client.ContextSize}) at {options.Path}");
    }
}
