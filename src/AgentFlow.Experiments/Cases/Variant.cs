namespace AgentFlow.Experiments.Cases;

/// <summary>A variant of an experiment: a name, the alias re-bindings it runs with and what it changes in retrieval.</summary>
/// <param name="Name">Short name (A, B, …) used in tags and tables.</param>
/// <param name="Bindings">Alias → model.</param>
public sealed record Variant(string Name, IReadOnlyDictionary<string, string> Bindings)
{
    /// <summary>Prefix of a collection swap: <c>collection.kb=kb-128</c> searches <c>kb-128</c> wherever the workflow searches <c>kb</c>.</summary>
    public const string CollectionPrefix = "collection.";

    /// <summary>Key of a top_k override: <c>retrieve.top_k=8</c> for every retrieve step and retrieve tool.</summary>
    public const string TopKKey = "retrieve.top_k";

    /// <summary>What the variant changes in retrieval (none by default).</summary>
    public RetrievalOverrides Retrieval { get; init; } = RetrievalOverrides.None;

    /// <summary>The bindings and retrieval overrides as <c>alias=model,…,collection.kb=kb-128,retrieve.top_k=8</c>.</summary>
    public string BindingsText => string.Join(",", Bindings.Select(b => $"{b.Key}={b.Value}")
        .Concat(Retrieval.Collections.Select(c => $"{CollectionPrefix}{c.Key}={c.Value}"))
        .Concat(Retrieval.TopK is { } k ? [$"{TopKKey}={k}"] : []));

    /// <summary>
    /// Parses <c>--variant NAME:alias=model[,alias=model…]</c> values. Names must be unique; a variant with no
    /// bindings (<c>NAME:</c>) runs the workflow's own models. Besides aliases (identifiers, never dotted), a variant
    /// may swap a collection (<c>collection.kb=kb-128</c>: an index of the same documents with another embedder or
    /// chunk size) and set every search's <c>retrieve.top_k</c>, so retrieval settings can be A/B tested.
    /// </summary>
    /// <exception cref="ExperimentInputException">Lists every malformed value.</exception>
    public static IReadOnlyList<Variant> ParseAll(IEnumerable<string> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var variants = new List<Variant>();
        var problems = new List<string>();
        foreach (var value in values)
        {
            var colon = value.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                problems.Add($"--variant '{value}' must be NAME:ALIAS=MODEL[,ALIAS=MODEL...], e.g. A:writer=tiny");
                continue;
            }

            var name = value[..colon].Trim();
            if (name.Any(c => !char.IsAsciiLetterOrDigit(c) && c is not '-' and not '_' and not '.'))
            {
                problems.Add($"--variant '{value}': the name '{name}' may only use letters, digits, '-', '_' and '.'");
                continue;
            }

            if (variants.Any(v => v.Name == name))
            {
                problems.Add($"--variant '{value}': variant '{name}' is given twice");
                continue;
            }

            var bindings = new Dictionary<string, string>(StringComparer.Ordinal);
            var collections = new Dictionary<string, string>(StringComparer.Ordinal);
            int? topK = null;
            var before = problems.Count;
            foreach (var pair in value[(colon + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var eq = pair.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0 || eq == pair.Length - 1)
                {
                    problems.Add($"--variant '{value}': '{pair}' must be ALIAS=MODEL");
                    continue;
                }

                var (key, target) = (pair[..eq].Trim(), pair[(eq + 1)..].Trim());
                if (key == TopKKey)
                {
                    if (!int.TryParse(target, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var k) || k is < 1 or > Definitions.RetrieveStepDefinition.MaxTopK)
                    {
                        problems.Add($"--variant '{value}': {TopKKey} must be an integer from 1 to {Definitions.RetrieveStepDefinition.MaxTopK}, got '{target}'");
                    }
                    else if (topK is not null)
                    {
                        problems.Add($"--variant '{value}': {TopKKey} is given twice");
                    }
                    else
                    {
                        topK = k;
                    }
                }
                else if (key.StartsWith(CollectionPrefix, StringComparison.Ordinal))
                {
                    var from = key[CollectionPrefix.Length..];
                    if (!Models.CollectionSpec.IsValidName(from) || !Models.CollectionSpec.IsValidName(target))
                    {
                        problems.Add($"--variant '{value}': '{pair}' must name two collections ({CollectionPrefix}kb=kb-128; up to 48 letters, digits, '-', '_' and '.')");
                    }
                    else if (!collections.TryAdd(from, target))
                    {
                        problems.Add($"--variant '{value}': collection '{from}' is swapped twice");
                    }
                }
                else if (key.Contains('.', StringComparison.Ordinal))
                {
                    problems.Add($"--variant '{value}': unknown setting '{key}' (aliases have no '.'; settings are {CollectionPrefix}NAME and {TopKKey})");
                }
                else if (!bindings.TryAdd(key, target))
                {
                    problems.Add($"--variant '{value}': alias '{key}' is bound twice");
                }
            }

            if (problems.Count == before)
            {
                variants.Add(new Variant(name, bindings) { Retrieval = new RetrievalOverrides(collections, topK) });
            }
        }

        if (problems.Count == 0 && variants.Count == 0)
        {
            problems.Add("give at least one --variant NAME:ALIAS=MODEL (two to compare)");
        }

        return problems.Count > 0 ? throw new ExperimentInputException(string.Join(Environment.NewLine, problems)) : variants;
    }
}
