namespace AgentFlow.Tracking.MLflow;

/// <summary>Tag handling shared by both stores.</summary>
internal static class RunTags
{
    /// <summary>
    /// The tags a new run starts with: the given ones (validated, last one wins per key) plus <c>mlflow.user</c> and
    /// <c>mlflow.source.type</c> = <c>LOCAL</c> when absent. Fails when <paramref name="runName"/> and a given
    /// <c>mlflow.runName</c> tag differ, as MLflow does.
    /// </summary>
    public static List<MlflowTag> ForNewRun(string? runName, IReadOnlyList<MlflowTag>? tags, string user)
    {
        var result = new List<MlflowTag>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var tag in tags ?? [])
        {
            MlflowValidation.ValidateTag(tag);
            if (index.TryGetValue(tag.Key, out var at))
            {
                result[at] = tag;
            }
            else
            {
                index[tag.Key] = result.Count;
                result.Add(tag);
            }
        }

        if (runName is not null && index.TryGetValue(MlflowTags.RunName, out var nameAt) &&
            !string.Equals(result[nameAt].Value, runName, StringComparison.Ordinal))
        {
            throw new MlflowValidationException(
                $"Both run name '{runName}' and tag {MlflowTags.RunName}='{result[nameAt].Value}' are given, with different values.");
        }

        if (!index.ContainsKey(MlflowTags.User))
        {
            result.Add(new MlflowTag(MlflowTags.User, user));
        }

        if (!index.ContainsKey(MlflowTags.SourceType))
        {
            result.Add(new MlflowTag(MlflowTags.SourceType, "LOCAL"));
        }

        return result;
    }
}

/// <summary>Checks of a run query shared by both stores.</summary>
internal static class SearchQueryChecks
{
    public static void Validate(MlflowRunQuery query)
    {
        if (query.ExperimentIds is null || query.ExperimentIds.Count == 0 || query.ExperimentIds.Any(string.IsNullOrEmpty))
        {
            throw new MlflowValidationException("A run search needs at least one experiment id, and no empty ones.");
        }

        if (query.MaxResults is < 1 or > MlflowLimits.MaxSearchResults)
        {
            throw new MlflowValidationException(
                $"max_results must be 1 to {MlflowLimits.MaxSearchResults} (was {query.MaxResults}).");
        }
    }
}
