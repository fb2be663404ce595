using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using AgentFlow.Models.Constraints;
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
    private readonly string _folder;
    private readonly Model _model;
    private readonly Tokenizer _tokenizer;
    private readonly Lock _tokenizerLock = new();
    private readonly int[] _endTokens;
    private readonly OnnxChatClientOptions _options;
    private readonly SemaphoreSlim _gate;
    private readonly ChatClientMetadata _metadata;
    private readonly ILogger _logger;
    private readonly Lazy<TokenVocabulary> _vocabulary;
    private int _disposed;

    private OnnxChatClient(string folder, Config config, Model model, Tokenizer tokenizer, OnnxChatClientOptions options, int contextSize, ILogger? logger)
    {
        _folder = folder;
        _config = config;
        _model = model;
        _tokenizer = tokenizer;
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        _endTokens = tokenizer.GetEosTokenIds().ToArray();
        _gate = new SemaphoreSlim(options.Concurrency, options.Concurrency);
        _metadata = new ChatClientMetadata(ProviderName, providerUri: null, defaultModelId: options.ModelId);
        ContextSize = contextSize;
        _vocabulary = new Lazy<TokenVocabulary>(ReadVocabulary, LazyThreadSafetyMode.ExecutionAndPublication);
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
        var turn = LocalChatTurn.Create(messages, options);
        return result.ToResponseAsync(GenerateAsync(turn, options, result, cancellationToken), _options.ModelId, turn);
    }

    /// <inheritdoc />
    public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var result = new LocalGeneration("onnx");
        var turn = LocalChatTurn.Create(messages, options);
        return result.ToUpdatesAsync(GenerateAsync(turn, options, result, cancellationToken), _options.ModelId, turn, cancellationToken);
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
            return new OnnxChatClient(folder, config, model, tokenizer, options, context, logger);
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
        LocalChatTurn turn,
        ChatOptions? options,
        LocalGeneration result,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var maxOutput = options?.MaxOutputTokens ?? _options.DefaultMaxOutputTokens;
        if (maxOutput < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), maxOutput, "MaxOutputTokens must be at least 1");
        }

        var promptTokens = Encode(FormatPrompt(turn));
        if (promptTokens.Length + 1 > ContextSize)
        {
            throw new PromptTooLongException(_options.ModelId, promptTokens.Length, ContextSize);
        }

        result.PromptTokens = promptTokens.Length;
        maxOutput = Math.Min(maxOutput, ContextSize - promptTokens.Length);
        var constraint = turn.IsConstrained ? turn.CreateConstraint(_vocabulary.Value, maxOutput) : null;
        var picker = constraint is null ? null : new LogitsSampler(options?.Temperature ?? _options.DefaultTemperature, options?.TopK, options?.TopP, ToSeed(options?.Seed));

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            using var parameters = CreateParameters(options, promptTokens.Length + maxOutput);
            using var generator = new Generator(_model, parameters);
            using var stream = CreateStream();
            var stops = new StopSequenceFilter(turn.StopSequences);
            var clock = Stopwatch.StartNew();

            // The prompt is evaluated by the first GenerateNextToken after the tokens are appended.
            var token = await Task.Run(() => Next(generator, promptTokens, constraint, picker), cancellationToken).ConfigureAwait(false);
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

                if (stops.Stopped || constraint?.IsComplete == true)
                {
                    result.FinishReason = ChatFinishReason.Stop;
                    break;
                }

                if (result.OutputTokens >= maxOutput)
                {
                    break;
                }

                var previous = current;
                token = await Task.Run(() => Next(generator, constraint is null ? null : [previous], constraint, picker), cancellationToken).ConfigureAwait(false);
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
    // Under a constraint GenAI does not sample: GenAI 0.18 cannot be handed masked logits, so each token is picked here
    // from the model's logits after masking and appended (which evaluates it), the previous token on later calls.
    private int? Next(Generator generator, int[]? append, TokenConstraint? constraint, LogitsSampler? picker)
    {
        try
        {
            if (append is not null)
            {
                generator.AppendTokens(append);
            }

            if (generator.IsDone())
            {
                return null;
            }

            if (constraint is not null && picker is not null)
            {
                var logits = LastLogits(generator);
                constraint.Mask(logits);
                var picked = picker.Pick(logits);
                constraint.Accept(picked);
                return picked;
            }

            generator.GenerateNextToken();
            return generator.GetNextTokens()[0];
        }
        catch (OnnxRuntimeGenAIException ex)
        {
            throw new AgentFlowException($"model '{_options.ModelId}': ONNX Runtime GenAI failed to generate ({ex.Message.Trim()})", ex);
        }
    }

    // The logits of the last evaluated position: GenAI's 'logits' output is [batch, positions, vocabulary].
    private float[] LastLogits(Generator generator)
    {
        using var tensor = generator.GetOutput("logits");
        if (tensor.Type() != ElementType.float32)
        {
            throw new AgentFlowException($"model '{_options.ModelId}': constrained decoding (tools, JSON output) needs float32 logits; this model's are {tensor.Type()}");
        }

        var shape = tensor.Shape();
        var vocabulary = (int)shape[^1];
        var data = tensor.GetData<float>();
        return data[^vocabulary..].ToArray();
    }

    // The text each token writes, decoded alone the way the client's streaming decoder writes it; tokens that are
    // not whole characters on their own write nothing here (so they are never chosen under a constraint).
    private TokenVocabulary ReadVocabulary()
    {
        var size = ReadVocabularySize();
        var texts = new byte[size][];
        lock (_tokenizerLock)
        {
            for (var id = 0; id < size; id++)
            {
                using var stream = _tokenizer.CreateStream();
                var text = stream.Decode(id);
                texts[id] = text.Contains('\uFFFD', StringComparison.Ordinal) ? [] : Encoding.UTF8.GetBytes(text);
            }
        }

        return new TokenVocabulary(texts, _endTokens);
    }

    private int ReadVocabularySize()
    {
        using var stream = File.OpenRead(Path.Combine(_folder, "genai_config.json"));
        using var document = JsonDocument.Parse(stream, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        return document.RootElement.TryGetProperty("model", out var model)
            && model.TryGetProperty("vocab_size", out var size)
            && size.TryGetInt32(out var value) && value > 0
                ? value
                : throw new AgentFlowException($"model '{_options.ModelId}': genai_config.json has no model.vocab_size, which constrained decoding (tools, JSON output) needs");
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

    private string FormatPrompt(LocalChatTurn turn)
    {
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            foreach (var (role, content) in turn.Messages)
            {
                WriteMessage(json, role, content);
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
