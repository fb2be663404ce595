using System.Collections.Immutable;

namespace AgentFlow.Execution.Engine;

/// <summary>
/// The message that travels along the engine's edges: every output so far, the iteration of each enclosing loop,
/// the case each switch took, and a routing mark read by conditional edges. Immutable, so parallel branches never
/// share mutable state; a fan-in merges the branches' states.
/// </summary>
internal sealed record FlowState(
    ImmutableDictionary<string, StepOutput> Outputs,
    ImmutableDictionary<string, int> Iterations,
    ImmutableDictionary<string, int> Choices,
    string? Route)
{
    /// <summary>The state a run starts with.</summary>
    public static FlowState Initial { get; } = new(
        ImmutableDictionary.Create<string, StepOutput>(StringComparer.Ordinal),
        ImmutableDictionary.Create<string, int>(StringComparer.Ordinal),
        ImmutableDictionary.Create<string, int>(StringComparer.Ordinal),
        Route: null);

    /// <summary>Adds or replaces a step's output and clears the routing mark.</summary>
    public FlowState WithOutput(string stepId, StepOutput output) =>
        this with { Outputs = Outputs.SetItem(stepId, output), Route = null };

    /// <summary>
    /// Merges parallel branches. Each branch starts from the same state and writes only its own steps' keys
    /// (step ids are unique), so a plain union is exact.
    /// </summary>
    public static FlowState Merge(IReadOnlyList<FlowState> branches)
    {
        var outputs = branches[0].Outputs.ToBuilder();
        var iterations = branches[0].Iterations.ToBuilder();
        var choices = branches[0].Choices.ToBuilder();
        foreach (var branch in branches.Skip(1))
        {
            outputs.SetItems(branch.Outputs);
            iterations.SetItems(branch.Iterations);
            choices.SetItems(branch.Choices);
        }

        return new FlowState(outputs.ToImmutable(), iterations.ToImmutable(), choices.ToImmutable(), Route: null);
    }
}

internal static class ImmutableBuilderExtensions
{
    public static void SetItems<TKey, TValue>(this ImmutableDictionary<TKey, TValue>.Builder builder, IEnumerable<KeyValuePair<TKey, TValue>> items)
        where TKey : notnull
    {
        foreach (var (key, value) in items)
        {
            builder[key] = value;
        }
    }
}
