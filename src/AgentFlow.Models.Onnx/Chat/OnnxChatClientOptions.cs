namespace AgentFlow.Models.Onnx.Chat;

/// <summary>Engine settings of an <see cref="OnnxChatClient"/>. Defaults are stated on each property.</summary>
public sealed class OnnxChatClientOptions
{
    /// <summary>The model name reported as <c>ModelId</c> and used in error messages (default <c>onnx</c>).</summary>
    public string ModelId { get; set; } = "onnx";

    /// <summary>
    /// Requests served at once (default 1). Each running request has its own GenAI generator (its own KV cache); the
    /// weights are shared; further requests wait their turn.
    /// </summary>
    public int Concurrency { get; set; } = 1;

    /// <summary>Output token limit when <c>ChatOptions.MaxOutputTokens</c> is not given (default 256).</summary>
    public int DefaultMaxOutputTokens { get; set; } = 256;

    /// <summary>Temperature when <c>ChatOptions.Temperature</c> is not given (default 0: greedy, deterministic).</summary>
    public float DefaultTemperature { get; set; }

    /// <summary>Sampling seed when <c>ChatOptions.Seed</c> is not given (default 42), so sampled runs are reproducible.</summary>
    public int DefaultSeed { get; set; } = 42;

    /// <summary>
    /// Context window (prompt plus output) in tokens; null (default) takes <c>model.context_length</c> from the
    /// folder's <c>genai_config.json</c>.
    /// </summary>
    public int? ContextSize { get; set; }

    /// <summary>A copy of these options.</summary>
    public OnnxChatClientOptions Clone() => (OnnxChatClientOptions)MemberwiseClone();

    /// <summary>Throws when a value is out of range.</summary>
    /// <exception cref="ArgumentException">A value is out of range.</exception>
    public void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(ModelId);
        ArgumentOutOfRangeException.ThrowIfLessThan(Concurrency, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(DefaultMaxOutputTokens, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(DefaultTemperature);
        if (ContextSize is { } context)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(context, 2);
        }
    }
}
