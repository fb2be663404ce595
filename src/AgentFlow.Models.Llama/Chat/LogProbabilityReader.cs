using System.Text;
using AgentFlow.Models.Constraints;

namespace AgentFlow.Models.Llama.Chat;

/// <summary>
/// Turns the logits llama.cpp computed for a position into the sampled token's log probability and the likeliest
/// alternatives: a log-softmax over the whole vocabulary, as the model gives it (after the constraint's mask, which
/// leaves only the tokens that may come next; before logit bias, penalties, temperature and top-p, which the sampler
/// chain applies to its own copy). One per generation, used on its decode thread only.
/// </summary>
internal sealed class LogProbabilityReader(TokenVocabulary vocabulary, int top)
{
    private readonly int[] _best = new int[top];

    /// <summary>The last token read, until the next read.</summary>
    public TokenLogProbability? Last { get; private set; }

    /// <summary>Reads the position whose <paramref name="logits"/> <paramref name="token"/> was sampled from.</summary>
    public void Read(ReadOnlySpan<float> logits, int token)
    {
        var max = float.NegativeInfinity;
        foreach (var logit in logits)
        {
            max = Math.Max(max, logit);
        }

        // log Σ exp(l) computed around the maximum, so that large logits do not overflow; masked ones add 0.
        var sum = 0d;
        foreach (var logit in logits)
        {
            sum += Math.Exp(logit - max);
        }

        var logZ = max + Math.Log(sum);
        var count = 0;
        for (var id = 0; id < logits.Length && top > 0; id++)
        {
            var logit = logits[id];
            if (float.IsNegativeInfinity(logit) || (count == top && logit <= logits[_best[count - 1]]))
            {
                continue;
            }

            // Insertion into the short sorted list of the best so far (top is at most 20).
            var at = Math.Min(count, top - 1);
            while (at > 0 && logits[_best[at - 1]] < logit)
            {
                _best[at] = _best[at - 1];
                at--;
            }

            _best[at] = id;
            count = Math.Min(count + 1, top);
        }

        var alternatives = new TokenLogProbability[count];
        for (var i = 0; i < count; i++)
        {
            alternatives[i] = Entry(_best[i], logits[_best[i]] - logZ, []);
        }

        Last = Entry(token, logits[token] - logZ, alternatives);
    }

    private TokenLogProbability Entry(int id, double logProbability, IReadOnlyList<TokenLogProbability> alternatives)
    {
        var bytes = vocabulary.Text(id).ToArray();
        return new TokenLogProbability(Encoding.UTF8.GetString(bytes), logProbability, bytes, alternatives);
    }
}
