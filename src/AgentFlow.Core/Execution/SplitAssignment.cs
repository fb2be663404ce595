using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using AgentFlow.Definitions;
using AgentFlow.Templates;

namespace AgentFlow.Execution;

/// <summary>The model a weighted split binding chose for one run.</summary>
/// <param name="Alias">The split alias.</param>
/// <param name="Model">The chosen model.</param>
/// <param name="Sticky">Whether it was chosen by the split key (the same key always gets the same model) or drawn at random.</param>
public sealed record SplitChoice(string Alias, string Model, bool Sticky);

/// <summary>
/// Applies a workflow's weighted split bindings (<c>writer: { qwen: 80, phi: 20 }</c>) to one run: each split alias not
/// re-bound explicitly gets one of its models, chosen sticky by the rendered <c>split_key</c> — bucket =
/// first 8 bytes (big-endian) of SHA-256(alias + "\n" + key) modulo the sum of weights, walked through the weights in
/// file order — or drawn at random by weight when the workflow has no split key or it renders empty.
/// </summary>
public static class SplitAssignment
{
    /// <summary>Tag naming the chosen variant of a run (<c>alias=model,…</c>).</summary>
    public const string VariantTag = "agentflow.variant";

    /// <summary>Chooses the split aliases' models for a run with <paramref name="inputs"/> (typed, as resolved).</summary>
    public static async Task<IReadOnlyList<SplitChoice>> ChooseAsync(
        WorkflowDefinition definition, IReadOnlyDictionary<string, object?> inputs, IReadOnlyDictionary<string, string> explicitBindings, Random random, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(definition);
        ArgumentNullException.ThrowIfNull(explicitBindings);
        ArgumentNullException.ThrowIfNull(random);
        var splits = definition.Models.Where(m => m.Split.Count > 0 && !explicitBindings.ContainsKey(m.Alias)).ToList();
        if (splits.Count == 0)
        {
            return [];
        }

        var key = definition.SplitKey is null
            ? string.Empty
            : (await LiquidTemplate.Compile(definition.SplitKey).RenderAsync(new TemplateScope(inputs, new Dictionary<string, StepOutput>(), loopIteration: null), cancellationToken).ConfigureAwait(false)).Trim();
        return [.. splits.Select(m => key.Length > 0
            ? new SplitChoice(m.Alias, Pick(m.Split, m.Alias, key), Sticky: true)
            : new SplitChoice(m.Alias, PickAt(m.Split, (ulong)random.NextInt64(0, Total(m.Split))), Sticky: false))];
    }

    /// <summary>The model <paramref name="key"/> is assigned to for <paramref name="alias"/> (deterministic).</summary>
    public static string Pick(IReadOnlyList<ModelWeight> weights, string alias, string key)
    {
        ArgumentNullException.ThrowIfNull(weights);
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(alias + "\n" + key));
        return PickAt(weights, BinaryPrimitives.ReadUInt64BigEndian(hash) % (ulong)Total(weights));
    }

    private static long Total(IReadOnlyList<ModelWeight> weights)
    {
        var total = weights.Sum(w => (long)w.Weight);
        return total > 0 ? total : throw new ArgumentException("a split needs a weight above 0", nameof(weights));
    }

    private static string PickAt(IReadOnlyList<ModelWeight> weights, ulong bucket)
    {
        foreach (var weight in weights)
        {
            if (bucket < (ulong)weight.Weight)
            {
                return weight.Model;
            }

            bucket -= (ulong)weight.Weight;
        }

        return weights[^1].Model;
    }
}
