using System.Globalization;
using Microsoft.Extensions.AI;

namespace AgentFlow.Models.OpenAI;

/// <summary>
/// <c>provider: openai</c> under <c>embedders:</c>: any OpenAI-compatible <c>/v1/embeddings</c> endpoint (OpenAI,
/// vLLM, Ollama, llama.cpp server, text-embeddings-inference). Settings as for chat models (<c>endpoint</c>,
/// <c>model</c>, <c>api_key_env</c>, <c>timeout</c>, <c>organization</c>), plus <c>dimensions</c>: the vector length,
/// which is also sent to models that can shorten their vectors.
/// </summary>
public sealed class OpenAIEmbeddingProvider : IEmbeddingProvider
{
    private readonly OpenAIModelProvider _chat;

    /// <summary>Creates the provider reading keys from the process environment.</summary>
    public OpenAIEmbeddingProvider()
        : this(null)
    {
    }

    /// <summary>Creates the provider.</summary>
    /// <param name="environment">Reads an environment variable (null: the process environment).</param>
    /// <param name="httpClient">The HTTP client requests are sent with (null: the OpenAI library's). Not disposed by the provider.</param>
    public OpenAIEmbeddingProvider(Func<string, string?>? environment, HttpClient? httpClient = null) =>
        _chat = new OpenAIModelProvider(environment, httpClient);

    /// <inheritdoc />
    public string Name => "openai";

    /// <inheritdoc />
    public IReadOnlyList<string> Check(ModelSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var problems = new List<string>();
        _ = ReadDimensions(spec, problems);
        problems.AddRange(_chat.Check(WithoutDimensions(spec)));
        return problems;
    }

    /// <inheritdoc />
    public Task<LoadedEmbedder> LoadAsync(ModelSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        cancellationToken.ThrowIfCancellationRequested();
        if (Check(spec) is [var problem, ..])
        {
            throw new ModelConfigurationException(problem);
        }

        var chatSpec = WithoutDimensions(spec);
        var options = OpenAIModelOptions.Create(chatSpec);
        var key = _chat.ReadKeyOf(chatSpec, options, out _);
        var dimensions = ReadDimensions(spec, []);
        IEmbeddingGenerator<string, Embedding<float>> generator = _chat.OpenClient(options, key)
            .GetEmbeddingClient(options.Model)
            .AsIEmbeddingGenerator(dimensions);
        return Task.FromResult(new LoadedEmbedder(spec, generator, dimensions, Tokens: null, $"openai-compatible {options.Model} at {options.DisplayEndpoint}/embeddings"));
    }

    private static int? ReadDimensions(ModelSpec spec, List<string> problems)
    {
        if (spec.GetString("dimensions") is not { } text)
        {
            return null;
        }

        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value is >= 1 and <= 65_536)
        {
            return value;
        }

        problems.Add($"{spec.LocationOf("dimensions")}: embedder '{spec.Name}': 'dimensions' must be a whole number from 1 to 65536, got '{text}'");
        return null;
    }

    // The chat options reject settings they do not know; 'dimensions' is the embedder's own.
    private static ModelSpec WithoutDimensions(ModelSpec spec) =>
        spec with { Settings = spec.Settings.Where(s => s.Key != "dimensions").ToDictionary(s => s.Key, s => s.Value, StringComparer.Ordinal) };
}
