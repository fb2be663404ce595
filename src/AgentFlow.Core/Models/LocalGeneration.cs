using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.AI;

namespace AgentFlow.Models;

/// <summary>
/// One generation by a model that runs in this process (llama.cpp, ONNX Runtime GenAI). The host's decode loop fills
/// in the counts and timings and yields text pieces; this turns them into the <see cref="IChatClient"/> results, in one
/// shape for every such host.
/// </summary>
/// <param name="engine">Prefix of the response id and the timing properties (<c>llama</c>, <c>onnx</c>).</param>
public sealed class LocalGeneration(string engine)
{
    /// <summary>The response and message id.</summary>
    public string Id { get; } = engine + "-" + Guid.NewGuid().ToString("N");

    /// <summary>When the generation was asked for.</summary>
    public DateTimeOffset CreatedAt { get; } = TimeProvider.System.GetUtcNow();

    /// <summary>Tokens of the formatted prompt.</summary>
    public int PromptTokens { get; set; }

    /// <summary>Tokens generated.</summary>
    public int OutputTokens { get; set; }

    /// <summary>Why generation stopped.</summary>
    public ChatFinishReason? FinishReason { get; set; }

    /// <summary>Time spent evaluating the prompt.</summary>
    public double PromptMilliseconds { get; set; }

    /// <summary>Time spent generating.</summary>
    public double GenerationMilliseconds { get; set; }

    /// <summary>The token counts as usage.</summary>
    public UsageDetails Usage() => new()
    {
        InputTokenCount = PromptTokens,
        OutputTokenCount = OutputTokens,
        TotalTokenCount = PromptTokens + OutputTokens,
    };

    /// <summary>The timings, as <c>ENGINE.prompt_ms</c> and <c>ENGINE.generation_ms</c>.</summary>
    public AdditionalPropertiesDictionary Timings() => new()
    {
        [engine + ".prompt_ms"] = Math.Round(PromptMilliseconds, 3),
        [engine + ".generation_ms"] = Math.Round(GenerationMilliseconds, 3),
    };

    /// <summary>The whole answer <paramref name="pieces"/> make, once they end.</summary>
    public async Task<ChatResponse> ToResponseAsync(IAsyncEnumerable<string> pieces, string modelId)
    {
        ArgumentNullException.ThrowIfNull(pieces);
        var text = new StringBuilder();
        await foreach (var piece in pieces.ConfigureAwait(false))
        {
            text.Append(piece);
        }

        return new ChatResponse(new ChatMessage(ChatRole.Assistant, text.ToString()) { MessageId = Id })
        {
            ResponseId = Id,
            ModelId = modelId,
            CreatedAt = CreatedAt,
            FinishReason = FinishReason,
            Usage = Usage(),
            AdditionalProperties = Timings(),
        };
    }

    /// <summary>One update per piece, then a last one with the usage, the finish reason and the timings.</summary>
    public async IAsyncEnumerable<ChatResponseUpdate> ToUpdatesAsync(
        IAsyncEnumerable<string> pieces, string modelId, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pieces);
        await foreach (var piece in pieces.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            yield return new ChatResponseUpdate(ChatRole.Assistant, piece)
            {
                ResponseId = Id,
                MessageId = Id,
                ModelId = modelId,
                CreatedAt = CreatedAt,
            };
        }

        yield return new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(Usage())])
        {
            ResponseId = Id,
            MessageId = Id,
            ModelId = modelId,
            CreatedAt = CreatedAt,
            FinishReason = FinishReason,
            AdditionalProperties = Timings(),
        };
    }
}
