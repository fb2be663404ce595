using System.ClientModel;
using System.ClientModel.Primitives;
using Microsoft.Extensions.AI;
using OpenAI;

namespace AgentFlow.Models.OpenAI;

/// <summary>
/// <c>provider: openai</c>: a model behind an OpenAI-compatible chat completions endpoint (OpenAI itself, or a
/// local vLLM, TensorRT-LLM, Ollama or llama.cpp server), served through Microsoft.Extensions.AI's OpenAI client.
/// Settings: see <see cref="OpenAIModelOptions"/>.
/// </summary>
/// <remarks>
/// The API key is read from the environment variable named by <c>api_key_env</c> when the model is loaded. It is
/// never part of a message, description or log: problems name the variable, not its value.
/// </remarks>
public sealed class OpenAIModelProvider : IModelProvider
{
    /// <summary>Stands in for the key the client library insists on; never sent (see <see cref="RemoveAuthorizationPolicy"/>).</summary>
    private const string NoKeyPlaceholder = "no-key";

    private readonly Func<string, string?> _environment;
    private readonly HttpClient? _httpClient;

    /// <summary>Creates the provider reading keys from the process environment and sending with the library's HTTP client.</summary>
    public OpenAIModelProvider()
        : this(null)
    {
    }

    /// <summary>Creates the provider.</summary>
    /// <param name="environment">Reads an environment variable (null: <see cref="Environment.GetEnvironmentVariable(string)"/>).</param>
    /// <param name="httpClient">The HTTP client requests are sent with (null: the OpenAI library's shared one). Not disposed by the provider.</param>
    public OpenAIModelProvider(Func<string, string?>? environment, HttpClient? httpClient = null)
    {
        _environment = environment ?? Environment.GetEnvironmentVariable;
        _httpClient = httpClient;
    }

    /// <inheritdoc />
    public string Name => "openai";

    /// <inheritdoc />
    public IReadOnlyList<string> Check(ModelSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var options = OpenAIModelOptions.TryCreate(spec, out var problems);
        if (options is null)
        {
            return problems;
        }

        _ = ReadKey(spec, options, out var keyProblem);
        return keyProblem is null ? [] : [keyProblem];
    }

    /// <inheritdoc />
    public Task<LoadedModel> LoadAsync(ModelSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        cancellationToken.ThrowIfCancellationRequested();
        var options = OpenAIModelOptions.Create(spec);
        var key = ReadKey(spec, options, out var keyProblem);
        if (keyProblem is not null)
        {
            throw new ModelConfigurationException(keyProblem);
        }

        var client = OpenClient(options, key)
            .GetChatClient(options.Model)
            .AsIChatClient();
        var description = $"openai-compatible {options.Model} at {options.DisplayEndpoint}";
        return Task.FromResult(new LoadedModel(spec, client, description));
    }

    /// <summary>An OpenAI client for <paramref name="options"/>' endpoint; with no key, no credential header is sent.</summary>
    internal OpenAIClient OpenClient(OpenAIModelOptions options, string? key)
    {
        var clientOptions = new OpenAIClientOptions
        {
            Endpoint = options.Endpoint,
            NetworkTimeout = options.Timeout,
            OrganizationId = options.Organization,
        };
        if (_httpClient is not null)
        {
            clientOptions.Transport = new HttpClientPipelineTransport(_httpClient);
        }

        if (options.MaxTokensField == MaxTokensField.MaxTokens)
        {
            clientOptions.AddPolicy(new MaxTokensFieldPolicy(), PipelinePosition.PerCall);
        }

        if (key is null)
        {
            // The client requires a credential; for servers without authentication its header is removed again.
            clientOptions.AddPolicy(new RemoveAuthorizationPolicy(), PipelinePosition.BeforeTransport);
        }

        return new OpenAIClient(new ApiKeyCredential(key ?? NoKeyPlaceholder), clientOptions);
    }

    /// <summary>The key of <paramref name="spec"/>, or null when none is needed; <paramref name="problem"/> says when it is missing.</summary>
    internal string? ReadKeyOf(ModelSpec spec, OpenAIModelOptions options, out string? problem) => ReadKey(spec, options, out problem);

    /// <summary>
    /// The key, or null when none is needed or it is missing; <paramref name="problem"/> is set when it is missing
    /// (it names the variable, never a value).
    /// </summary>
    private string? ReadKey(ModelSpec spec, OpenAIModelOptions options, out string? problem)
    {
        problem = null;
        if (options.ApiKeyVariable is null)
        {
            return null;
        }

        var key = _environment(options.ApiKeyVariable);
        if (string.IsNullOrWhiteSpace(key))
        {
            problem = $"{spec.LocationOf("api_key_env")}: model '{spec.Name}': environment variable {options.ApiKeyVariable} "
                + "(setting 'api_key_env') is not set; export it or set api_key_env";
            return null;
        }

        return key.Trim();
    }

    /// <summary>Sends no credentials: for servers without authentication (<c>api_key_env: none</c>).</summary>
    private sealed class RemoveAuthorizationPolicy : PipelinePolicy
    {
        public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
        {
            message.Request.Headers.Remove("Authorization");
            ProcessNext(message, pipeline, currentIndex);
        }

        public override ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
        {
            message.Request.Headers.Remove("Authorization");
            return ProcessNextAsync(message, pipeline, currentIndex);
        }
    }
}
