using System.Globalization;
using AgentFlow.Models.Llama.Builtin;
using AgentFlow.Models.Llama.Hosting;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Models.Llama.Providers;

/// <summary>
/// <c>provider: builtin</c>: the tiny llama model AgentFlow writes itself (seeded random weights, meaningless but
/// real text through llama.cpp), so workflows run with no download. Settings: see <see cref="BuiltinModelOptions"/>.
/// </summary>
public sealed class BuiltinModelProvider : IModelProvider
{
    private readonly BuiltinModelStore _store;
    private readonly FileHashCache _hashCache;
    private readonly ILogger? _logger;

    /// <summary>Creates the provider.</summary>
    /// <param name="store">Where model files are written (default: <see cref="BuiltinModelStore.DefaultDirectory"/>).</param>
    /// <param name="hashCache">Where file hashes are remembered (default: in memory; the files are small).</param>
    /// <param name="loggerFactory">Logging for requests and for llama.cpp's own log (at Debug); null drops both.</param>
    public BuiltinModelProvider(BuiltinModelStore? store = null, FileHashCache? hashCache = null, ILoggerFactory? loggerFactory = null)
    {
        _store = store ?? new BuiltinModelStore();
        _hashCache = hashCache ?? new FileHashCache(null);
        _logger = loggerFactory?.CreateLogger("AgentFlow.Models.Llama");
        if (loggerFactory is not null)
        {
            LlamaRuntime.UseLogger(loggerFactory.CreateLogger("llama.cpp"));
        }
    }

    /// <inheritdoc />
    public string Name => "builtin";

    /// <summary>The store the model files are written to.</summary>
    public BuiltinModelStore Store => _store;

    /// <inheritdoc />
    public IReadOnlyList<string> Check(ModelSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        _ = BuiltinModelOptions.TryCreate(spec, out var problems);
        return problems;
    }

    /// <inheritdoc />
    public async Task<LoadedModel> LoadAsync(ModelSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var options = BuiltinModelOptions.Create(spec);
        string path;
        try
        {
            path = _store.Ensure(options.Model);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ModelConfigurationException(
                $"{spec.Location}: model '{spec.Name}': cannot write the built-in model to '{_store.Directory}' ({ex.Message}); "
                + $"make the folder writable or set {DataDirectories.HomeVariable} to a writable folder",
                ex);
        }

        var (client, sha256) = await LlamaModelLoader.LoadAsync(spec, path, options.ToClientOptions(spec.Name), _hashCache, _logger, cancellationToken)
            .ConfigureAwait(false);
        var m = options.Model;
        var description = string.Create(CultureInfo.InvariantCulture, $"built-in tiny llama (format {TinyGgufWriter.FormatVersion}, seed {m.Seed}, {m.Layers}x{m.Embedding}) at {path}");
        return new LoadedModel(spec, client, description, sha256);
    }
}
