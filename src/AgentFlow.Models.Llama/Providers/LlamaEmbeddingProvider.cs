using System.Globalization;
using AgentFlow.Models.Llama.Hosting;
using LLama;
using LLama.Common;
using LLama.Exceptions;
using LLama.Native;
using Microsoft.Extensions.AI;

namespace AgentFlow.Models.Llama.Providers;

/// <summary>
/// <c>provider: llama</c> under <c>embedders:</c>: embeddings from a GGUF file, computed by llama.cpp in this process
/// (LLamaSharp's <see cref="LLamaEmbedder"/>), mean-pooled over the tokens and L2-normalised so cosine search compares
/// directions. Settings: <c>path</c> (required; relative to the registry file), <c>context</c> (tokens per text, default
/// 512, 64–32768), <c>threads</c> (default: the machine's cores, 1–256).
/// </summary>
public sealed class LlamaEmbeddingProvider : IEmbeddingProvider
{
    private static readonly string[] Keys = ["path", "context", "threads"];

    /// <inheritdoc />
    public string Name => "llama";

    /// <inheritdoc />
    public IReadOnlyList<string> Check(ModelSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var problems = new List<string>();
        foreach (var key in spec.Settings.Keys.Where(k => !Keys.Contains(k, StringComparer.Ordinal)))
        {
            problems.Add($"{spec.LocationOf(key)}: embedder '{spec.Name}': unknown setting '{key}' for provider 'llama' (settings: {string.Join(", ", Keys)})");
        }

        if (spec.GetString("path") is not { Length: > 0 } raw)
        {
            problems.Add($"{spec.Location}: embedder '{spec.Name}': provider 'llama' needs 'path: FILE.gguf' (relative to this file)");
        }
        else if (!File.Exists(spec.ResolvePath(raw)))
        {
            problems.Add($"{spec.LocationOf("path")}: embedder '{spec.Name}': no file at '{spec.ResolvePath(raw)}'; check the path (it is relative to the registry file)");
        }

        CheckRange(spec, "context", 64, 32_768, problems);
        CheckRange(spec, "threads", 1, 256, problems);
        return problems;
    }

    /// <inheritdoc />
    public async Task<LoadedEmbedder> LoadAsync(ModelSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (Check(spec) is [var problem, ..])
        {
            throw new ModelConfigurationException(problem);
        }

        var path = spec.ResolvePath(spec.GetString("path")!);
        var context = (uint)spec.GetInt("context", 512);
        LlamaRuntime.EnsureInitialized();
        var parameters = new ModelParams(path)
        {
            ContextSize = context,
            BatchSize = context,
            UBatchSize = context,
            Embeddings = true,
            PoolingType = LLamaPoolingType.Mean,
            Threads = spec.GetInt("threads", Environment.ProcessorCount),
            GpuLayerCount = 0,
        };
        LLamaWeights weights;
        try
        {
            weights = await LLamaWeights.LoadFromFileAsync(parameters, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RuntimeError or IOException or UnauthorizedAccessException)
        {
            throw new ModelConfigurationException(
                $"{spec.LocationOf("path")}: embedder '{spec.Name}': llama.cpp could not load '{path}' ({ex.Message.Trim()}); check that it is a complete GGUF file",
                ex);
        }

        try
        {
            var generator = new LlamaEmbeddingGenerator(weights, parameters, Path.GetFileName(path));
            return new LoadedEmbedder(spec, generator, generator.Dimensions, null, $"{Path.GetFileName(path)} (GGUF, llama.cpp, mean pooling)");
        }
        catch (RuntimeError ex)
        {
            weights.Dispose();
            throw new ModelConfigurationException($"{spec.LocationOf("path")}: embedder '{spec.Name}': llama.cpp cannot embed with '{path}' ({ex.Message.Trim()})", ex);
        }
    }

    private static void CheckRange(ModelSpec spec, string key, int min, int max, List<string> problems)
    {
        if (spec.GetString(key) is not { } text)
        {
            return;
        }

        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"{spec.LocationOf(key)}: embedder '{spec.Name}': '{key}' must be a whole number from {min} to {max}, got '{text}'"));
        }
    }

    /// <summary>One llama.cpp embedding context; texts are embedded one at a time (a context is never shared).</summary>
    private sealed class LlamaEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
    {
        private readonly LLamaWeights _weights;
        private readonly LLamaEmbedder _embedder;
        private readonly SemaphoreSlim _gate = new(1, 1);
        private readonly EmbeddingGeneratorMetadata _metadata;

        public LlamaEmbeddingGenerator(LLamaWeights weights, ModelParams parameters, string modelId)
        {
            _weights = weights;
            _embedder = new LLamaEmbedder(weights, parameters);
            Dimensions = _embedder.EmbeddingSize;
            _metadata = new EmbeddingGeneratorMetadata("llama.cpp", null, modelId, Dimensions);
        }

        public int Dimensions { get; }

        public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(values);
            var result = new GeneratedEmbeddings<Embedding<float>>();
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                foreach (var value in values)
                {
                    var pooled = await _embedder.GetEmbeddings(value, cancellationToken).ConfigureAwait(false);
                    result.Add(new Embedding<float>(Normalize(pooled[0])) { ModelId = _metadata.DefaultModelId });
                }
            }
            finally
            {
                _gate.Release();
            }

            return result;
        }

        public object? GetService(Type serviceType, object? serviceKey = null) =>
            serviceKey is null && serviceType == typeof(EmbeddingGeneratorMetadata) ? _metadata
            : serviceKey is null && serviceType.IsInstanceOfType(this) ? this
            : null;

        public void Dispose()
        {
            _embedder.Dispose();
            _weights.Dispose();
            _gate.Dispose();
        }

        private static float[] Normalize(float[] vector)
        {
            var norm = Math.Sqrt(vector.Sum(v => (double)v * v));
            if (norm > 0)
            {
                for (var i = 0; i < vector.Length; i++)
                {
                    vector[i] = (float)(vector[i] / norm);
                }
            }

            return vector;
        }
    }
}
