namespace AgentFlow.Models.Onnx.Chat;

/// <summary>
/// Picks a token from logits in managed code, for constrained decoding (GenAI 0.18 samples only from its own,
/// unmasked logits): greedy at temperature 0, else top-k, top-p and temperature sampling from a seeded generator,
/// so a seeded request is reproducible. Tokens masked to negative infinity are never picked.
/// </summary>
internal sealed class LogitsSampler(float temperature, int? topK, float? topP, int seed)
{
    private readonly Random _random = new(seed);

    /// <summary>The chosen token id.</summary>
    public int Pick(ReadOnlySpan<float> logits)
    {
        if (temperature <= 0f)
        {
            return ArgMax(logits);
        }

        var candidates = new List<(int Id, float Logit)>();
        for (var id = 0; id < logits.Length; id++)
        {
            if (!float.IsNegativeInfinity(logits[id]))
            {
                candidates.Add((id, logits[id]));
            }
        }

        candidates.Sort((a, b) => b.Logit.CompareTo(a.Logit));
        if (topK is > 0 and var k && k < candidates.Count)
        {
            candidates.RemoveRange(k, candidates.Count - k);
        }

        var max = candidates[0].Logit;
        var weights = candidates.Select(c => Math.Exp((c.Logit - max) / temperature)).ToArray();
        var total = weights.Sum();
        if (topP is > 0f and < 1f and var p)
        {
            var kept = 0;
            var mass = 0.0;
            while (kept < weights.Length && mass < p * total)
            {
                mass += weights[kept++];
            }

            weights = weights[..kept];
            total = mass;
        }

        var draw = _random.NextDouble() * total;
        for (var i = 0; i < weights.Length; i++)
        {
            draw -= weights[i];
            if (draw <= 0)
            {
                return candidates[i].Id;
            }
        }

        return candidates[weights.Length - 1].Id;
    }

    private static int ArgMax(ReadOnlySpan<float> logits)
    {
        var best = 0;
        for (var id = 1; id < logits.Length; id++)
        {
            if (logits[id] > logits[best])
            {
                best = id;
            }
        }

        return best;
    }
}
