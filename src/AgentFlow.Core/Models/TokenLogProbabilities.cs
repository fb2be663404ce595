using Microsoft.Extensions.AI;

namespace AgentFlow.Models;

/// <summary>The log probability of one output token, and of the likeliest alternatives at its position.</summary>
/// <param name="Token">The token's text (a token that ends inside a UTF-8 character shows U+FFFD; <paramref name="Bytes"/> has it exactly).</param>
/// <param name="LogProbability">Natural log of the probability the model gave the token.</param>
/// <param name="Bytes">The UTF-8 bytes the token writes.</param>
/// <param name="Top">The likeliest tokens at this position, most likely first (empty unless asked for); their own <see cref="Top"/> is empty.</param>
public sealed record TokenLogProbability(string Token, double LogProbability, byte[] Bytes, IReadOnlyList<TokenLogProbability> Top);

/// <summary>
/// Asking a chat client for token log probabilities and reading them back. <see cref="ChatOptions"/> has no property
/// for them, so the request travels in its additional properties, and the answer in the additional properties of the
/// <see cref="ChatResponse"/> (every output token) or of each <see cref="ChatResponseUpdate"/> (the tokens since the
/// previous update). A client that computes them says so through <see cref="SamplingSupport.LogProbabilities"/>.
/// </summary>
public static class TokenLogProbabilities
{
    /// <summary>The additional-properties key of the request (the number of alternatives, 0–20) and of the answer (the tokens).</summary>
    public const string Key = "agentflow.logprobs";

    /// <summary>The most alternatives per position one may ask for (OpenAI's limit).</summary>
    public const int MaxTop = 20;

    /// <summary>Asks for the log probability of every output token, with the <paramref name="top"/> likeliest alternatives.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="top"/> is not from 0 to <see cref="MaxTop"/>.</exception>
    public static void Request(ChatOptions options, int top)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegative(top);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(top, MaxTop);
        (options.AdditionalProperties ??= [])[Key] = top;
    }

    /// <summary>How many alternatives were asked for, or null when log probabilities were not asked for.</summary>
    public static int? Requested(ChatOptions? options) =>
        options?.AdditionalProperties?.TryGetValue(Key, out var value) == true && value is int top ? top : null;

    /// <summary>The tokens' log probabilities carried by <paramref name="properties"/>, or null when there are none.</summary>
    public static IReadOnlyList<TokenLogProbability>? Read(AdditionalPropertiesDictionary? properties) =>
        properties?.TryGetValue(Key, out var value) == true ? value as IReadOnlyList<TokenLogProbability> : null;
}
