using Microsoft.Extensions.AI;

namespace AgentFlow.Models;

/// <summary>
/// Which sampling controls beyond temperature, top-p, top-k, seed and stop a chat client honours. A client that has
/// them answers <c>GetService(typeof(SamplingSupport))</c>; one that does not (null) honours none of them, so a
/// caller such as the OpenAI-compatible endpoint refuses the request instead of ignoring the field.
/// </summary>
public sealed record SamplingSupport
{
    /// <summary><c>ChatOptions.FrequencyPenalty</c> and <c>ChatOptions.PresencePenalty</c> change the sampling.</summary>
    public bool Penalties { get; init; }

    /// <summary>A bias per token id (<see cref="SamplingOptions.GetLogitBias"/>) is added to the logits.</summary>
    public bool LogitBias { get; init; }

    /// <summary>Token log probabilities are computed when asked for (<see cref="TokenLogProbabilities"/>).</summary>
    public bool LogProbabilities { get; init; }

    /// <summary>Asks what a client supports, or <see langword="null"/> when it says nothing (it supports none).</summary>
    public static SamplingSupport? Of(IChatClient client)
    {
        ArgumentNullException.ThrowIfNull(client);
        return client.GetService(typeof(SamplingSupport)) as SamplingSupport;
    }
}

/// <summary>Sampling controls that <see cref="ChatOptions"/> has no property for, carried in its additional properties.</summary>
public static class SamplingOptions
{
    /// <summary>The additional-properties key of the logit bias (an <c>IReadOnlyDictionary&lt;int, float&gt;</c>).</summary>
    public const string LogitBiasKey = "agentflow.logit_bias";

    /// <summary>Sets a bias (added to the logit, OpenAI's range −100…100) per token id.</summary>
    public static void SetLogitBias(this ChatOptions options, IReadOnlyDictionary<int, float> bias)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(bias);
        (options.AdditionalProperties ??= [])[LogitBiasKey] = bias;
    }

    /// <summary>The bias per token id, or <see langword="null"/> when none was set.</summary>
    public static IReadOnlyDictionary<int, float>? GetLogitBias(this ChatOptions? options) =>
        options?.AdditionalProperties?.TryGetValue(LogitBiasKey, out var value) == true ? value as IReadOnlyDictionary<int, float> : null;
}
