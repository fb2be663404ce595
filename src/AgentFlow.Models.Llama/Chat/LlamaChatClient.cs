using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading.Channels;
using AgentFlow.Models.Constraints;
using AgentFlow.Models.Llama.Hosting;
using LLama;
using LLama.Common;
using LLama.Exceptions;
using LLama.Native;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentFlow.Models.Llama.Chat;

/// <summary>
/// An <see cref="IChatClient"/> over a GGUF model run in-process by llama.cpp (LLamaSharp). The weights are loaded
/// once; every request gets its own llama context from a small pool (never shared between concurrent requests), and
/// at most <see cref="LlamaChatClientOptions.Concurrency"/> requests run at once. Temperature 0 (the default) decodes
/// greedily and is fully deterministic; otherwise sampling is seeded (<c>ChatOptions.Seed</c> or
/// <see cref="LlamaChatClientOptions.DefaultSeed"/>) so runs are reproducible.
/// </summary>
public sealed partial class LlamaChatClient : IChatClient, AgentFlow.Models.ITokenCounter
{
    private const string ProviderName = "llama.cpp";

    private readonly LLamaWeights _weights;
    private readonly bool _ownsWeights;
    private readonly LlamaChatClientOptions _options;
    private readonly ModelParams _contextParams;
    private readonly SemaphoreSlim _gate;
    private readonly ConcurrentBag<LLamaContext> _idle = [];
    private readonly ChatClientMetadata _metadata;
    private readonly ILogger _logger;
    private readonly DecodeThreads _threads;
    private readonly Lazy<TokenVocabulary> _vocabulary;
    private int _disposed;

    /// <summary>Creates a client over weights the caller loaded and keeps owning (they are not disposed with this client).</summary>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public LlamaChatClient(LLamaWeights weights, LlamaChatClientOptions? options = null, ILogger? logger = null)
        : this(weights, ownsWeights: false, options, logger)
    {
    }

    private LlamaChatClient(LLamaWeights weights, bool ownsWeights, LlamaChatClientOptions? options, ILogger? logger)
    {
        ArgumentNullException.ThrowIfNull(weights);
        _options = options?.Clone() ?? new LlamaChatClientOptions();
        _options.Validate();
        LlamaRuntime.EnsureInitialized();
        _weights = weights;
        _ownsWeights = ownsWeights;
        _logger = logger ?? NullLogger.Instance;
        _gate = new SemaphoreSlim(_options.Concurrency, _options.Concurrency);
        _threads = new DecodeThreads(_options.ModelId);
        _contextParams = new ModelParams(string.Empty)
        {
            ContextSize = (uint)_options.ContextSize,
            Threads = _options.Threads,
            BatchThreads = _options.Threads,
            BatchSize = (uint)_options.BatchSize,
            UBatchSize = (uint)Math.Min(_options.BatchSize, 512),
            SeqMax = 1,
        };
        _metadata = new ChatClientMetadata(ProviderName, providerUri: null, defaultModelId: _options.ModelId);
        _vocabulary = new Lazy<TokenVocabulary>(ReadVocabulary, LazyThreadSafetyMode.ExecutionAndPublication);

        // Create the first context now: a context that cannot be allocated fails the load, not the first request,
        // and the real context size (llama.cpp may round it) is known up front.
        var first = _weights.CreateContext(_contextParams, _logger);
        ContextSize = (int)first.ContextSize;
        _idle.Add(first);
    }

    /// <summary>The model name this client reports.</summary>
    public string ModelId => _options.ModelId;

    /// <summary>Tokens per request context (prompt plus output).</summary>
    public int ContextSize { get; }

    /// <summary>The loaded weights.</summary>
    public LLamaWeights Weights => _weights;

    /// <summary>Loads a GGUF file and creates a client that owns the weights (disposed with it).</summary>
    /// <exception cref="LoadWeightsFailedException">llama.cpp could not load the file.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static async Task<LlamaChatClient> LoadAsync(string modelPath, LlamaChatClientOptions? options = null, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelPath);
        options = options?.Clone() ?? new LlamaChatClientOptions();
        options.Validate();
        if (!File.Exists(modelPath))
        {
            throw new FileNotFoundException($"model file '{modelPath}' does not exist", modelPath);
        }

        LlamaRuntime.EnsureInitialized();
        var modelParams = new ModelParams(modelPath)
        {
            ContextSize = (uint)options.ContextSize,
            GpuLayerCount = options.GpuLayers,
            Threads = options.Threads,
            BatchThreads = options.Threads,
            BatchSize = (uint)options.BatchSize,
        };
        var weights = await LLamaWeights.LoadFromFileAsync(modelParams, cancellationToken).ConfigureAwait(false);
        try
        {
            return new LlamaChatClient(weights, ownsWeights: true, options, logger);
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    /// <summary>The number of tokens <paramref name="text"/> has for this model (special tokens parsed, no BOS added).</summary>
    public int CountTokens(string text)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _weights.Tokenize(text, add_bos: false, special: true, Encoding.UTF8).Length;
    }

    /// <inheritdoc />
    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var result = new LocalGeneration("llama");
        var turn = LocalChatTurn.Create(messages, options);
        return result.ToResponseAsync(GenerateAsync(turn, options, result, cancellationToken), _options.ModelId, turn);
    }

    /// <inheritdoc />
    public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var result = new LocalGeneration("llama");
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

        if (serviceType == typeof(LLamaWeights))
        {
            return _weights;
        }

        if (serviceType == typeof(SamplingSupport))
        {
            return Supported;
        }

        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>
    /// Frees the contexts (and the weights when this client loaded them). Waits up to 30 s for running requests to
    /// finish; if they do not, the native memory is left alone rather than freed under a running request.
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

        while (_idle.TryTake(out var context))
        {
            context.Dispose();
        }

        if (_ownsWeights)
        {
            _weights.Dispose();
        }

        _threads.Dispose();
        _gate.Dispose();
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

        // Template and tokenize before taking a slot: both only read the weights.
        var prompt = FormatPrompt(turn);
        var promptTokens = _weights.Tokenize(prompt, add_bos: true, special: true, Encoding.UTF8);
        if (promptTokens.Length + 1 > ContextSize)
        {
            throw new PromptTooLongException(_options.ModelId, promptTokens.Length, ContextSize);
        }

        result.PromptTokens = promptTokens.Length;
        maxOutput = Math.Min(maxOutput, ContextSize - promptTokens.Length);
        var constraint = turn.IsConstrained ? turn.CreateConstraint(_vocabulary.Value, maxOutput) : null;
        var logProbabilities = TokenLogProbabilities.Requested(options) is { } top ? new LogProbabilityReader(_vocabulary.Value, top) : null;
        if (logProbabilities is not null)
        {
            result.LogProbabilities = new ConcurrentQueue<TokenLogProbability>();
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        LLamaContext? context = null;
        var reusable = false;
        try
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            context = _idle.TryTake(out var idle) ? idle : _weights.CreateContext(_contextParams, _logger);
            // The decode loop runs on a thread of the client's own (not a pool thread: see DecodeThreads) and hands
            // text over through a channel: it never waits for the caller (which may be sending each piece over a
            // bus), and the caller never waits on a per-token hop.
            var channel = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var decoding = _threads.Run(() => Decode(context, options, turn, constraint, logProbabilities, promptTokens, maxOutput, result, channel.Writer, stop.Token));
            try
            {
                await foreach (var text in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
                {
                    // Text already handed over is not passed on once the caller cancelled.
                    cancellationToken.ThrowIfCancellationRequested();
                    yield return text;
                }

                await decoding.ConfigureAwait(false);
            }
            finally
            {
                // Stopped early (cancelled, or the caller stopped reading): the loop must end before the context is reused.
                await stop.CancelAsync().ConfigureAwait(false);
                try
                {
                    await decoding.ConfigureAwait(false);
                }
                catch (Exception) when (!decoding.IsCompletedSuccessfully)
                {
                    // Already surfaced through the channel, or a cancellation the caller asked for.
                }
            }

            reusable = true;
            LogGenerated(_logger, _options.ModelId, result.PromptTokens, result.OutputTokens, result.PromptMilliseconds, result.GenerationMilliseconds);
        }
        finally
        {
            if (context is not null)
            {
                if (reusable)
                {
                    // Its memory is cleared by the next generation, on the decode thread, off this caller's path.
                    _idle.Add(context);
                }
                else
                {
                    // Cancelled, failed or abandoned mid-way: do not trust its state.
                    context.Dispose();
                }
            }

            _gate.Release();
        }
    }

    /// <summary>
    /// How often, at most, generated text is handed to the reader (25 ms: 40 updates a second, the rate a worker
    /// streams chunks at; handing over more often only woke the reader, on the decode threads' cores, for nothing).
    /// </summary>
    public static readonly TimeSpan HandOverInterval = TimeSpan.FromMilliseconds(25);

    // The whole generation, synchronously on one thread: prompt, then one token at a time until a stop, the end of
    // generation or the token limit. Text goes to 'output'; the writer completes with the failure, if any.
    private void Decode(
        LLamaContext context, ChatOptions? options, LocalChatTurn turn, TokenConstraint? constraint, LogProbabilityReader? logProbabilities,
        LLamaToken[] promptTokens, int maxOutput, LocalGeneration result, ChannelWriter<string> output, CancellationToken cancellationToken)
    {
        try
        {
            context.NativeHandle.MemoryClear();
            using var sampler = CreateSampler(options);
            var batch = new LLamaBatch();
            var decoder = new StreamingTokenDecoder(context);
            var stops = new StopSequenceFilter(turn.StopSequences);
            var clock = Stopwatch.StartNew();
            var token = EvaluatePrompt(context, batch, sampler, constraint, logProbabilities, promptTokens, cancellationToken);
            result.PromptMilliseconds = clock.Elapsed.TotalMilliseconds;
            clock.Restart();

            var position = promptTokens.Length;
            var pending = new StringBuilder();
            long? lastWrite = null;
            result.FinishReason = ChatFinishReason.Length;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (token.IsEndOfGeneration(_weights.Vocab))
                {
                    result.FinishReason = ChatFinishReason.Stop;
                    break;
                }

                result.OutputTokens++;

                // Before the token's text is handed over, so an update carries the log probabilities of its text.
                if (logProbabilities?.Last is { } logProbability)
                {
                    result.LogProbabilities!.Enqueue(logProbability);
                }

                decoder.Add(token);
                var text = stops.Push(decoder.Read());
                if (text.Length > 0)
                {
                    // At most one piece per HandOverInterval: every piece wakes the reader, and on a busy machine each
                    // wake-up takes time from the decode threads. A model slower than that still streams token by token.
                    pending.Append(text);
                    if (lastWrite is not { } last || Stopwatch.GetElapsedTime(last) >= HandOverInterval)
                    {
                        output.TryWrite(pending.ToString());
                        pending.Clear();
                        lastWrite = Stopwatch.GetTimestamp();
                    }
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

                token = EvaluateNext(context, batch, sampler, constraint, logProbabilities, token, position++);
            }

            pending.Append(stops.Flush());
            if (pending.Length > 0)
            {
                output.TryWrite(pending.ToString());
            }

            result.GenerationMilliseconds = clock.Elapsed.TotalMilliseconds;
            output.TryComplete();
        }
        catch (Exception ex)
        {
            output.TryComplete(ex);
            throw;
        }
    }

    private LLamaToken EvaluatePrompt(
        LLamaContext context, LLamaBatch batch, SafeLLamaSamplerChainHandle sampler, TokenConstraint? constraint, LogProbabilityReader? logProbabilities,
        LLamaToken[] tokens, CancellationToken cancellationToken)
    {
        var size = (int)context.BatchSize;
        for (var start = 0; start < tokens.Length; start += size)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var count = Math.Min(size, tokens.Length - start);
            batch.Clear();
            batch.AddRange(tokens.AsSpan(start, count), start, LLamaSeqId.Zero, logitsLast: start + count == tokens.Length);
            Check(context.Decode(batch));
        }

        return Sample(context, sampler, constraint, logProbabilities, batch.TokenCount - 1);
    }

    private LLamaToken EvaluateNext(
        LLamaContext context, LLamaBatch batch, SafeLLamaSamplerChainHandle sampler, TokenConstraint? constraint, LogProbabilityReader? logProbabilities, LLamaToken token, int position)
    {
        batch.Clear();
        batch.Add(token, position, LLamaSeqId.Zero, logits: true);
        Check(context.Decode(batch));
        return Sample(context, sampler, constraint, logProbabilities, 0);
    }

    // Under a constraint the disallowed tokens' logits are set to -inf in llama.cpp's own buffer before the sampler
    // chain reads it, so greedy, temperature and top-p sampling all pick among the allowed tokens only.
    // The sampler chain reads a copy of the logits, so the buffer still holds them (masked) for the log probabilities.
    private static LLamaToken Sample(LLamaContext context, SafeLLamaSamplerChainHandle sampler, TokenConstraint? constraint, LogProbabilityReader? logProbabilities, int index)
    {
        constraint?.Mask(context.NativeHandle.GetLogitsIth(index));
        var token = sampler.Sample(context.NativeHandle, index);
        constraint?.Accept((int)token);
        logProbabilities?.Read(context.NativeHandle.GetLogitsIth(index), (int)token);
        return token;
    }

    // The bytes each token writes to the output, as the streaming decoder writes them (control tokens write nothing).
    private TokenVocabulary ReadVocabulary()
    {
        var vocab = _weights.Vocab;
        var texts = new byte[vocab.Count][];
        var end = new List<int>();
        var buffer = new byte[256];
        for (var id = 0; id < texts.Length; id++)
        {
            var token = (LLamaToken)id;
            if (token.IsEndOfGeneration(vocab))
            {
                end.Add(id);
            }

            var length = (int)_weights.NativeHandle.TokenToSpan(token, buffer, 0, false);
            if (length > buffer.Length)
            {
                buffer = new byte[length];
                length = (int)_weights.NativeHandle.TokenToSpan(token, buffer, 0, false);
            }

            texts[id] = buffer.AsSpan(0, Math.Max(0, length)).ToArray();
        }

        return new TokenVocabulary(texts, end);
    }

    private void Check(DecodeResult result)
    {
        if (result != DecodeResult.Ok)
        {
            throw new AgentFlowException($"model '{_options.ModelId}': llama.cpp failed to evaluate the tokens ({result}); try a smaller 'context' or 'batch' setting");
        }
    }

    /// <summary>What <see cref="CreateSampler"/> honours beyond temperature, top-p, top-k and seed.</summary>
    private static readonly SamplingSupport Supported = new() { Penalties = true, LogitBias = true, LogProbabilities = true };

    // The one place the llama.cpp sampler chain is built from the request's options.
    private SafeLLamaSamplerChainHandle CreateSampler(ChatOptions? options)
    {
        var chain = SafeLLamaSamplerChainHandle.Create(LLamaSamplerChainParams.Default());
        try
        {
            // First, so that greedy decoding and the penalties see the biased logits (OpenAI's order).
            if (options.GetLogitBias() is { Count: > 0 } bias)
            {
                var vocabulary = _weights.Vocab.Count;
                var biases = bias.Where(b => b.Key >= 0 && b.Key < vocabulary)
                    .Select(b => new LLamaLogitBias { Token = b.Key, Bias = b.Value })
                    .ToArray();
                if (biases.Length < bias.Count)
                {
                    throw new ArgumentException($"model '{_options.ModelId}': logit bias token ids must be between 0 and {vocabulary - 1}", nameof(options));
                }

                chain.AddLogitBias(vocabulary, biases);
            }

            var frequency = options?.FrequencyPenalty ?? 0f;
            var presence = options?.PresencePenalty ?? 0f;
            if (frequency != 0f || presence != 0f)
            {
                chain.AddPenalties(64, 1f, frequency, presence);
            }

            var temperature = options?.Temperature ?? _options.DefaultTemperature;
            if (temperature <= 0f)
            {
                chain.AddGreedySampler();
                return chain;
            }

            if (options?.TopK is > 0 and var topK)
            {
                chain.AddTopK(topK);
            }

            if (options?.TopP is > 0f and < 1f and var topP)
            {
                chain.AddTopP(topP, 1);
            }

            chain.AddTemperature(temperature);
            chain.AddDistributionSampler(ToSeed(options?.Seed));
            return chain;
        }
        catch
        {
            chain.Dispose();
            throw;
        }
    }

    private uint ToSeed(long? seed)
    {
        // llama.cpp treats 0xFFFFFFFF as "pick a random seed"; never pass it, so runs stay reproducible.
        var value = seed is { } s ? unchecked((uint)(s ^ (s >> 32))) : _options.DefaultSeed;
        return value == uint.MaxValue ? uint.MaxValue - 1 : value;
    }

    private string FormatPrompt(LocalChatTurn turn)
    {
        var template = _options.ChatTemplate is null
            ? new LLamaTemplate(_weights, strict: false)
            : new LLamaTemplate(_options.ChatTemplate);
        template.AddAssistant = true;
        foreach (var (role, content) in turn.Messages)
        {
            template.Add(role, content);
        }

        try
        {
            return Encoding.UTF8.GetString(template.Apply());
        }
        catch (MissingTemplateException ex)
        {
            throw new AgentFlowException(
                $"model '{_options.ModelId}': llama.cpp does not recognise the model's chat template; set the model's 'chat_template' setting to a "
                + "llama.cpp template name such as chatml, llama3, gemma, phi3, mistral-v7 or deepseek3", ex);
        }
    }

    [LoggerMessage(EventId = 10, Level = LogLevel.Debug, Message = "model '{Model}': {PromptTokens} prompt tokens, {OutputTokens} output tokens; prompt {PromptMs:F1} ms, generation {GenerationMs:F1} ms")]
    private static partial void LogGenerated(ILogger logger, string model, int promptTokens, int outputTokens, double promptMs, double generationMs);

    [LoggerMessage(EventId = 11, Level = LogLevel.Warning, Message = "model '{Model}': requests still running after 30 s at dispose; native memory left allocated")]
    private static partial void LogDisposeTimedOut(ILogger logger, string model);
}
