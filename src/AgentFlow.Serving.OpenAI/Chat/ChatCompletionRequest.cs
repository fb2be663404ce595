using Microsoft.Extensions.AI;

namespace AgentFlow.Serving.OpenAI.Chat;

/// <summary>A <c>POST /v1/chat/completions</c> body, read and type-checked by <see cref="ChatCompletionRequestReader"/>.</summary>
internal sealed class ChatCompletionRequest
{
    /// <summary>The served model's name.</summary>
    public required string Model { get; init; }

    /// <summary>The conversation, in order.</summary>
    public required List<ChatMessage> Messages { get; init; }

    /// <summary>
    /// The options: sampling (temperature, top-p, seed, stop, token limit, penalties, logit bias, log probabilities), tool
    /// declarations and tool mode, response format.
    /// </summary>
    public required ChatOptions Options { get; init; }

    /// <summary>Answer as Server-Sent Events.</summary>
    public bool Stream { get; init; }

    /// <summary>With <see cref="Stream"/>: end with a chunk carrying the usage (other chunks carry <c>usage: null</c>).</summary>
    public bool IncludeUsage { get; init; }

    /// <summary>How many choices to generate (default 1).</summary>
    public int Choices { get; init; } = 1;

    /// <summary>Return the log probability of each output token (<c>logprobs</c>).</summary>
    public bool LogProbabilities { get; init; }

    /// <summary>With <see cref="LogProbabilities"/>: also the most likely alternatives per position (<c>top_logprobs</c>, 0–20).</summary>
    public int TopLogProbabilities { get; init; }
}
