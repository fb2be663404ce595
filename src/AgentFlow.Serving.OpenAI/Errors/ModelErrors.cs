using System.Globalization;
using AgentFlow.Models;
using AgentFlow.Models.Constraints;
using AgentFlow.Serving.OpenAI.Chat;
using Microsoft.Extensions.AI;

namespace AgentFlow.Serving.OpenAI.Errors;

/// <summary>Which failures of a model call are the client's to fix (a 400), as opposed to the server's (a 500).</summary>
internal static class ModelErrors
{
    /// <summary>The 400 for a failure caused by <paramref name="request"/>, or null when the failure is the server's.</summary>
    public static OpenAIError? ToClientError(Exception exception, ChatCompletionRequest request) => exception switch
    {
        PromptTooLongException tooLong => OpenAIError.InvalidRequest(
            $"This model's maximum context length is {tooLong.ContextSize} tokens. However, your messages resulted in {tooLong.PromptTokens} tokens "
            + "(and at least one output token is needed). Please reduce the length of the messages.",
            "messages",
            "context_length_exceeded"),

        // A local model decodes tool arguments and JSON answers under their schemas; one it cannot follow (or one
        // too large to compile) is the request's to change.
        UnsupportedSchemaException schema => OpenAIError.InvalidRequest(schema.Message, SchemaParam(schema, request), "unsupported_schema"),
        GrammarTooLargeException tooLarge => OpenAIError.InvalidRequest(tooLarge.Message, request.Options.ResponseFormat is ChatResponseFormatJson { Schema: not null } ? "response_format" : "tools", "unsupported_schema"),

        // A constrained answer needs a token per byte of its shortest form (TokenConstraint says so in these words).
        AgentFlowException limit when limit.Message.Contains("raise max_tokens", StringComparison.Ordinal) => OpenAIError.InvalidRequest(limit.Message, "max_tokens"),

        // A chat client checks its options before any work and says which one is out of range (e.g. a logit bias
        // token id beyond the model's vocabulary).
        ArgumentException argument => OpenAIError.InvalidRequest(
            argument.ParamName is { } name ? argument.Message.Replace($" (Parameter '{name}')", string.Empty, StringComparison.Ordinal) : argument.Message),
        _ => null,
    };

    // LocalChatTurn names the tool ("tool 'x' parameters: …") when a tool's schema is at fault, else it is the answer's.
    private static string SchemaParam(UnsupportedSchemaException schema, ChatCompletionRequest request)
    {
        const string Prefix = "tool '";
        if (!schema.Problem.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return "response_format.json_schema.schema";
        }

        var end = schema.Problem.IndexOf("' ", Prefix.Length, StringComparison.Ordinal);
        var name = end < 0 ? null : schema.Problem[Prefix.Length..end];
        var index = request.Options.Tools?.ToList().FindIndex(t => t.Name == name) ?? -1;
        return index < 0 ? "tools" : string.Create(CultureInfo.InvariantCulture, $"tools[{index}].function.parameters");
    }
}
