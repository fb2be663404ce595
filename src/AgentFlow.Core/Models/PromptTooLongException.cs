namespace AgentFlow.Models;

/// <summary>The prompt, as the model tokenizes it, does not fit in the model's context window.</summary>
public sealed class PromptTooLongException : AgentFlowException
{
    /// <summary>Creates the exception.</summary>
    public PromptTooLongException(string modelId, int promptTokens, int contextSize)
        : base($"model '{modelId}': the prompt is {promptTokens} tokens but the context holds {contextSize} (and needs room for at least one output token); "
            + "shorten the prompt or raise the model's 'context' setting")
    {
        ModelId = modelId;
        PromptTokens = promptTokens;
        ContextSize = contextSize;
    }

    /// <summary>The model's name.</summary>
    public string ModelId { get; }

    /// <summary>Prompt length in tokens, as the model tokenized it.</summary>
    public int PromptTokens { get; }

    /// <summary>The context window in tokens.</summary>
    public int ContextSize { get; }
}
