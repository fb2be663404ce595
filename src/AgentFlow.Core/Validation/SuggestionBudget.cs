using AgentFlow.Diagnostics;

namespace AgentFlow.Validation;

/// <summary>
/// "Did you mean" for one validation, within a budget of name comparisons. Without it a file with thousands of
/// unknown references against thousands of declared steps costs their product in edit distances (10,000 steps took
/// 22 s); with it validation stays linear, and past the budget errors simply come without a suggestion.
/// </summary>
internal sealed class SuggestionBudget
{
    /// <summary>Most candidate names compared in one validation.</summary>
    public const long MaxComparisons = 500_000;

    private long _left = MaxComparisons;

    /// <summary><see cref="NameSuggestion.DidYouMean"/>, or an empty string once the budget is spent.</summary>
    public string DidYouMean(string name, IReadOnlyCollection<string> candidates)
    {
        if (candidates.Count > _left)
        {
            _left = 0;
            return string.Empty;
        }

        _left -= candidates.Count;
        return NameSuggestion.DidYouMean(name, candidates);
    }
}
