using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text;
using AgentFlow.Models.Constraints;
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

    /// <summary>
    /// With log probabilities asked for, the decode loop adds one per output token here (from its own thread); the
    /// response carries them all, each update those added since the previous one.
    /// </summary>
    public ConcurrentQueue<TokenLogProbability>? LogProbabilities { get; set; }

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

    /// <summary>
    /// The whole answer <paramref name="pieces"/> make, once they end; with a <paramref name="turn"/> that allows tool
    /// calls, a call in the text becomes a <see cref="FunctionCallContent"/> and the finish reason
    /// <see cref="ChatFinishReason.ToolCalls"/>.
    /// </summary>
    public async Task<ChatResponse> ToResponseAsync(IAsyncEnumerable<string> pieces, string modelId, LocalChatTurn? turn = null)
    {
        ArgumentNullException.ThrowIfNull(pieces);
        var text = new StringBuilder();
        await foreach (var piece in pieces.ConfigureAwait(false))
        {
            text.Append(piece);
        }

        var contents = Read(text.ToString(), turn);
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, contents) { MessageId = Id })
        {
            ResponseId = Id,
            ModelId = modelId,
            CreatedAt = CreatedAt,
            FinishReason = FinishReason,
            Usage = Usage(),
            AdditionalProperties = WithLogProbabilities(Timings()),
        };
    }

    /// <summary>
    /// One update per piece, then a last one with the usage, the finish reason and the timings. Text that may still
    /// turn out to be a tool call (see <see cref="LocalChatTurn.CouldBeCall"/>) is held back and comes, read as a
    /// call or as text, with the last update.
    /// </summary>
    public async IAsyncEnumerable<ChatResponseUpdate> ToUpdatesAsync(
        IAsyncEnumerable<string> pieces, string modelId, LocalChatTurn? turn = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pieces);
        var held = new StringBuilder();
        var holding = turn?.MayCall == true;
        await foreach (var piece in pieces.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            if (holding)
            {
                held.Append(piece);
                if (turn!.CouldBeCall(held.ToString()))
                {
                    continue;
                }

                holding = false;
                yield return Update([new TextContent(held.ToString())], modelId);
                held.Clear();
                continue;
            }

            yield return Update([new TextContent(piece)], modelId);
        }

        List<AIContent> last = held.Length > 0 ? [.. Read(held.ToString(), turn)] : [];
        last.Add(new UsageContent(Usage()));
        var update = Update(last, modelId);
        update.FinishReason = FinishReason;
        update.AdditionalProperties = WithLogProbabilities(Timings());
        yield return update;
    }

    private ChatResponseUpdate Update(IList<AIContent> contents, string modelId) => new(ChatRole.Assistant, contents)
    {
        ResponseId = Id,
        MessageId = Id,
        ModelId = modelId,
        CreatedAt = CreatedAt,
        AdditionalProperties = WithLogProbabilities(null),
    };

    // The log probabilities added since the last call (the decode loop adds a token's before handing over its text).
    private AdditionalPropertiesDictionary? WithLogProbabilities(AdditionalPropertiesDictionary? properties)
    {
        if (LogProbabilities is not { } queue)
        {
            return properties;
        }

        var tokens = new List<TokenLogProbability>();
        while (queue.TryDequeue(out var token))
        {
            tokens.Add(token);
        }

        properties ??= [];
        properties[TokenLogProbabilities.Key] = tokens;
        return properties;
    }

    // The answer's contents; a tool call sets the finish reason.
    private IList<AIContent> Read(string text, LocalChatTurn? turn)
    {
        var contents = turn is null ? [new TextContent(text)] : turn.ReadAnswer(text);
        if (contents.Any(c => c is FunctionCallContent))
        {
            FinishReason = ChatFinishReason.ToolCalls;
        }

        return contents;
    }
}
