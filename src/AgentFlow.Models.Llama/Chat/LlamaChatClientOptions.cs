namespace AgentFlow.Models.Llama.Chat;

/// <summary>Engine settings of a <see cref="LlamaChatClient"/>. Defaults are stated on each property.</summary>
public sealed class LlamaChatClientOptions
{
    /// <summary>The model name reported as <c>ModelId</c> and used in error messages (default <c>llama</c>).</summary>
    public string ModelId { get; set; } = "llama";

    /// <summary>
    /// Context window per request, in tokens (default 4096). Prompt plus output must fit. llama.cpp rounds it up to a
    /// multiple of 256; <see cref="LlamaChatClient.ContextSize"/> reports the size in effect.
    /// </summary>
    public int ContextSize { get; set; } = 4096;

    /// <summary>CPU threads per request (default <see cref="Environment.ProcessorCount"/>).</summary>
    public int Threads { get; set; } = Environment.ProcessorCount;

    /// <summary>Layers offloaded to a GPU when the native backend has one (default 0: CPU only). Used when loading.</summary>
    public int GpuLayers { get; set; }

    /// <summary>Prompt tokens evaluated per native call (default 512).</summary>
    public int BatchSize { get; set; } = 512;

    /// <summary>
    /// Requests served at once (default 1). Each running request has its own llama context (its own KV cache);
    /// further requests wait their turn.
    /// </summary>
    public int Concurrency { get; set; } = 1;

    /// <summary>Output token limit when <c>ChatOptions.MaxOutputTokens</c> is not given (default 256).</summary>
    public int DefaultMaxOutputTokens { get; set; } = 256;

    /// <summary>Temperature when <c>ChatOptions.Temperature</c> is not given (default 0: greedy, deterministic).</summary>
    public float DefaultTemperature { get; set; }

    /// <summary>Sampling seed when <c>ChatOptions.Seed</c> is not given (default 42), so sampled runs are reproducible.</summary>
    public uint DefaultSeed { get; set; } = 42;

    /// <summary>
    /// Chat template override: a llama.cpp built-in template name (<c>chatml</c>, <c>llama3</c>, <c>gemma</c>, …) or
    /// template text llama.cpp recognises. Null (default) uses the model's own template, or ChatML when it has none.
    /// </summary>
    public string? ChatTemplate { get; set; }

    /// <summary>A copy of these options.</summary>
    public LlamaChatClientOptions Clone() => (LlamaChatClientOptions)MemberwiseClone();

    /// <summary>Throws when a value is out of range.</summary>
    /// <exception cref="ArgumentException">A value is out of range.</exception>
    public void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(ModelId);
        ArgumentOutOfRangeException.ThrowIfLessThan(ContextSize, 16);
        ArgumentOutOfRangeException.ThrowIfLessThan(Threads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(GpuLayers, -1);
        ArgumentOutOfRangeException.ThrowIfLessThan(BatchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(Concurrency, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(DefaultMaxOutputTokens, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(DefaultTemperature);
    }
}
