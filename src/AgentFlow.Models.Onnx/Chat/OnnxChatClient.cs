using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntimeGenAI;

namespace AgentFlow.Models.Onnx.Chat;

/// <summary>
/// An <see cref="IChatClient"/> over an ONNX Runtime GenAI model folder run in-process. The model is loaded once; every
/// request gets its own <see cref="Generator"/> (its own KV cache, never shared between concurrent requests), and at
/// most <see cref="OnnxChatClientOptions.Concurrency"/> requests run at once. Temperature 0 (the default) decodes
/// greedily and is fully deterministic; otherwise sampling is seeded (<c>ChatOptions.Seed</c> or
/// <see cref="OnnxChatClientOptions.DefaultSeed"/>) so runs are reproducible. Prompts are formatted with the model's
/// own chat template (<c>tokenizer_config.json</c>).
/// </summary>
public sealed partial class OnnxChatClient : IChatClient, ITokenCounter
{
    private const string ProviderName = "onnxruntime-genai";

    private readonly Config _config;
    private readonly Model _model;
    private readonly Tokenizer _tokenizer;
    private readonly Lock _tokenizerLock = new();
    private readonly int[] _endTokens;
    private readonly OnnxChatClientOptions _options;
    private readonly SemaphoreSlim _gate;
    private readonly ChatClientMetadata _metadata;
    private readonly ILogger _logger;
    private int _disposed;

    private OnnxChatClient(Config config, Model model, Tokenizer tokenizer, OnnxChatClientOptions options, int contextSize, ILogger? logger)
    {
        _config = config;
        _model = model;
        _tokenizer = tokenizer;
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        _endTokens = tokenizer.GetEosTokenIds().ToArray();
        _gate = new SemaphoreSlim(options.Concurrency, options.Concurrency);
        _metadata = new ChatClientMetadata(ProviderName, providerUri: null, defaultModelId: options.ModelId);
        ContextSize = contextSize;
    }

    /// <summary>The model name this client reports.</summary>
    public string ModelId => _options.ModelId;

    /// <summary>Tokens per request (prompt plus output).</summary>
    public int ContextSize { get; }

    /// <summary>The model's type as GenAI reads it from <c>genai_config.json</c> (e.g. <c>llama</c>, <c>phi3</c>, <c>qwen2</c>).</summary>
    public string ModelType => _model.GetModelType();

    /// <summary>
    /// Loads the model folder (<c>genai_config.json</c>, the ONNX decoder and the tokenizer files) on the given
    /// execution provider and creates a client that owns it.
    /// </summary>
    /// <param name="folder">The model folder.</param>
    /// <param name="options">Engine settings (defaults when null).</param>
    /// <param name="executionProvider">
    /// GenAI execution provider: <c>cpu</c> (default: the folder's own providers are cleared) or a name passed to
    /// <c>Config.AppendProvider</c> (<c>cuda</c>, <c>dml</c>, …), which the installed GenAI build must support.
    /// </param>
    /// <param name="providerOptions">Options of that provider (e.g. <c>device_id</c>), passed to <c>Config.SetProviderOption</c>.</param>
    /// <param name="logger">Request logging (null drops it).</param>
    /// <param name="cancellationToken">Cancels before the (blocking) native load starts.</param>
    /// <exception cref="OnnxRuntimeGenAIException">GenAI could not load the folder.</exception>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    public static async Task<OnnxChatClient> LoadAsync(
        string folder,
        OnnxChatClientOptions? options = null,
        string executionProvider = "cpu",
        IReadOnlyDictionary<string, string>? providerOptions = null,
        ILogger? logger = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        ArgumentException.ThrowIfNullOrWhiteSpace(executionProvider);
        options = options?.Clone() ?? new OnnxChatClientOptions();
        options.Validate();
        if (!Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"model folder '{folder}' does not exist");
        }

        cancellationToken.ThrowIfCancellationRequested();
        return await Task.Run(() => Load(folder, options, executionProvider, providerOptions, logger), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The number of tokens <paramref name="text"/> has for this model (special tokens parsed).</summary>
    public int CountTokens(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return Encode(text).Length;
    }

    /// <inheritdoc />
    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var result = new LocalGeneration("onnx");
        return result.ToResponseAsync(GenerateAsync(messages, options, result, cancellationToken), _options.ModelId);
    }

    /// <inheritdoc />
    public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var result = new LocalGeneration("onnx");
        return result.ToUpdatesAsync(GenerateAsync(messages, options, result, cancellationToken), _options.ModelId, cancellationToken);
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null)
        {
            return null;
        }

        if (serviceType == typeof(ChatClientMetadata))
        {
            return _metadata;
        }

        if (serviceType == typeof(Model))
        {
            return _model;
        }

        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>
    /// Frees the model. Waits up to 30 s for running requests to finish; if they do not, the native memory is left
    /// alone rather than freed under a running request.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        var acquired = 0;
        var deadline = Stopwatch.StartNew();
        while (acquired < _options.Concurrency && _gate.Wait(TimeSpan.FromSeconds(Math.Max(0, 30 - deadline.Elapsed.TotalSeconds))))
        {
            acquired++;
        }

        if (acquired < _options.Concurrency)
        {
            LogDisposeTimedOut(_logger, _options.ModelId);
            return;
        }

        _tokenizer.Dispose();
        _model.Dispose();
        _config.Dispose();
        _gate.Dispose();
    }

    private static OnnxChatClient Load(string folder, OnnxChatClientOptions options, string executionProvider, IReadOnlyDictionary<string, string>? providerOptions, ILogger? logger)
    {
        var config = new Config(folder);
        Model? model = null;
        Tokenizer? tokenizer = null;
        try
        {
            config.ClearProviders();
            if (!string.Equals(executionProvider, "cpu", StringComparison.OrdinalIgnoreCase))
            {
                config.AppendProvider(executionProvider);
                foreach (var (name, value) in providerOptions ?? new Dictionary<string, string>())
                {
                    config.SetProviderOption(executionProvider, name, value);
                }
            }

            model = new Model(config);
            tokenizer = new Tokenizer(model);
            var context = options.ContextSize ?? ReadContextLength(folder);
            return new OnnxChatClient(config, model, tokenizer, options, context, logger);
        }
        catch
        {
            tokenizer?.Dispose();
            model?.Dispose();
            config.Dispose();
            throw;
        }
    }

    // GenAI does not expose the context length; read it from the same file it did.
    private static int ReadContextLength(string folder)
    {
        using var stream = File.OpenRead(Path.Combine(folder, "genai_config.json"));
        using var document = JsonDocument.Parse(stream, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        return document.RootElement.TryGetProperty("model", out var model)
            && model.TryGetProperty("context_length", out var length)
            && length.TryGetInt32(out var value) && value > 1
                ? value
                : 4096;
    }

    /// <summary>The generation loop shared by both entry points: yields text chunks and fills in <paramref name="result"/>.</summary>
    private async IAsyncEnumerable<string> GenerateAsync(
        IEnumerable<ChatMessage> messages,
        ChatOptions? options,
        LocalGeneration result,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var maxOutput = options?.MaxOutputTokens ?? _options.DefaultMaxOutputTokens;
        if (maxOutput < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), maxOutput, "MaxOutputTokens must be at least 1");
        }

        var promptTokens = Encode(FormatPrompt(messages, options));
        if (promptTokens.Length + 1 > ContextSize)
        {
            throw new PromptTooLongException(_options.ModelId, promptTokens.Length, ContextSize);
        }

        result.PromptTokens = promptTokens.Length;
        maxOutput = Math.Min(maxOutput, ContextSize - promptTokens.Length);

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            using var parameters = CreateParameters(options, promptTokens.Length + maxOutput);
            using var generator = new Generator(_model, parameters);
            using var stream = CreateStream();
            var stops = new StopSequenceFilter(options?.StopSequences);
            var clock = Stopwatch.StartNew();

            // The prompt is evaluated by the first GenerateNextToken after the tokens are appended.
            var token = await Task.Run(() => Next(generator, promptTokens), cancellationToken).ConfigureAwait(false);
            result.PromptMilliseconds = clock.Elapsed.TotalMilliseconds;
            clock.Restart();
            result.FinishReason = ChatFinishReason.Length;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (token is not { } current)
                {
                    break;
                }

                if (_endTokens.Contains(current))
                {
                    result.FinishReason = ChatFinishReason.Stop;
                    break;
                }

                result.OutputTokens++;
                var text = stops.Push(stream.Decode(current));
                if (text.Length > 0)
                {
                    yield return text;
                }

                if (stops.Stopped)
                {
                    result.FinishReason = ChatFinishReason.Stop;
                    break;
                }

                if (result.OutputTokens >= maxOutput)
                {
                    break;
                }

                token = await Task.Run(() => Next(generator, null), cancellationToken).ConfigureAwait(false);
            }

            var rest = stops.Flush();
            if (rest.Length > 0)
            {
                yield return rest;
            }

            result.GenerationMilliseconds = clock.Elapsed.TotalMilliseconds;
            LogGenerated(_logger, _options.ModelId, result.PromptTokens, result.OutputTokens, result.PromptMilliseconds, result.GenerationMilliseconds);
        }
        finally
        {
            _gate.Release();
        }
    }

    // Appends the prompt (first call) and generates one token; null when GenAI says the sequence is done (max length).
    private int? Next(Generator generator, int[]? prompt)
    {
        try
        {
            if (prompt is not null)
            {
                generator.AppendTokens(prompt);
            }

            if (generator.IsDone())
            {
                return null;
            }

            generator.GenerateNextToken();
            return generator.GetNextTokens()[0];
        }
        catch (OnnxRuntimeGenAIException ex)
        {
            throw new AgentFlowException($"model '{_options.ModelId}': ONNX Runtime GenAI failed to generate ({ex.Message.Trim()})", ex);
        }
    }

    private GeneratorParams CreateParameters(ChatOptions? options, int maxLength)
    {
        var parameters = new GeneratorParams(_model);
        try
        {
            parameters.SetSearchOption("max_length", maxLength);
            parameters.SetSearchOption("num_beams", 1);
            var temperature = options?.Temperature ?? _options.DefaultTemperature;
            if (temperature <= 0f)
            {
                parameters.SetSearchOption("do_sample", false);
                return parameters;
            }

            parameters.SetSearchOption("do_sample", true);
            parameters.SetSearchOption("temperature", temperature);
            parameters.SetSearchOption("top_k", options?.TopK is > 0 and var topK ? topK : 0);
            parameters.SetSearchOption("top_p", options?.TopP is > 0f and <= 1f and var topP ? topP : 1.0);
            parameters.SetSearchOption("random_seed", ToSeed(options?.Seed));
            return parameters;
        }
        catch
        {
            parameters.Dispose();
            throw;
        }
    }

    // GenAI treats -1 as "seed from the random device"; keep seeds non-negative so runs stay reproducible.
    private int ToSeed(long? seed) => seed is { } s ? (int)(unchecked((ulong)s) % int.MaxValue) : _options.DefaultSeed;

    private int[] Encode(string text)
    {
        lock (_tokenizerLock)
        {
            using var sequences = _tokenizer.Encode(text);
            return sequences[0].ToArray();
        }
    }

    private TokenizerStream CreateStream()
    {
        lock (_tokenizerLock)
        {
            return _tokenizer.CreateStream();
        }
    }

    private string FormatPrompt(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            if (!string.IsNullOrEmpty(options?.Instructions))
            {
                WriteMessage(json, "system", options.Instructions);
            }

            foreach (var message in messages)
            {
                WriteMessage(json, message.Role.Value, message.Text);
            }

            json.WriteEndArray();
        }

        var text = Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
        try
        {
            lock (_tokenizerLock)
            {
                // A null template takes the model's own (tokenizer_config.json's chat_template).
                return _tokenizer.ApplyChatTemplate(null!, text, null!, add_generation_prompt: true);
            }
        }
        catch (OnnxRuntimeGenAIException ex)
        {
            throw new AgentFlowException(
                $"model '{_options.ModelId}': ONNX Runtime GenAI could not apply the model's chat template ({ex.Message.Trim()}); "
                + "check that the folder's tokenizer_config.json has a 'chat_template'", ex);
        }
    }

    private static void WriteMessage(Utf8JsonWriter json, string role, string content)
    {
        json.WriteStartObject();
        json.WriteString("role", role);
        json.WriteString("content", content);
        json.WriteEndObject();
    }

    [LoggerMessage(EventId = 20, Level = LogLevel.Debug, Message = "model '{Model}': {PromptTokens} prompt tokens, {OutputTokens} output tokens; prompt {PromptMs:F1} ms, generation {GenerationMs:F1} ms")]
    private static partial void LogGenerated(ILogger logger, string model, int promptTokens, int outputTokens, double promptMs, double generationMs);

    [LoggerMessage(EventId = 21, Level = LogLevel.Warning, Message = "model '{Model}': requests still running after 30 s at dispose; native memory left allocated")]
    private static partial void LogDisposeTimedOut(ILogger logger, string model);
}
