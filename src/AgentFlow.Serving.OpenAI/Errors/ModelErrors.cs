using AgentFlow.Models;

namespace AgentFlow.Serving.OpenAI.Errors;

/// <summary>Which failures of a model call are the client's to fix (a 400), as opposed to the server's (a 500).</summary>
internal static class ModelErrors
{
    /// <summary>The 400 for a failure caused by the request, or null when the failure is the server's.</summary>
    public static OpenAIError? ToClientError(Exception exception) => exception switch
    {
        PromptTooLongException tooLong => OpenAIError.InvalidRequest(
            $"This model's maximum context length is {tooLong.ContextSize} tokens. However, your messages resulted in {tooLong.PromptTokens} tokens "
            + "(and at least one output token is needed). Please reduce the length of the messages.",
            "messages",
            "context_length_exceeded"),

        // A chat client checks its options before any work and says which one is out of range (e.g. a logit bias
        // token id beyond the model's vocabulary).
        ArgumentException argument => OpenAIError.InvalidRequest(
            argument.ParamName is { } name ? argument.Message.Replace($" (Parameter '{name}')", string.Empty, StringComparison.Ordinal) : argument.Message),
        _ => null,
    };
}
