namespace AgentFlow.Models.OpenAI;

/// <summary>
/// Which request field carries a step's <c>max_tokens</c> (setting <c>max_tokens_field</c>). OpenAI's own API wants
/// <c>max_completion_tokens</c> (its reasoning models reject <c>max_tokens</c>), while several OpenAI-compatible
/// servers (Ollama, llama-cpp-python, older vLLM and llama.cpp builds) only honour <c>max_tokens</c> and silently
/// ignore the newer field, which leaves generation unbounded.
/// </summary>
public enum MaxTokensField
{
    /// <summary>Send <c>max_tokens</c> (the default for every endpoint except OpenAI's and Azure OpenAI's).</summary>
    MaxTokens,

    /// <summary>Send <c>max_completion_tokens</c> (the default for <c>api.openai.com</c> and <c>*.openai.azure.com</c>).</summary>
    MaxCompletionTokens,
}
