namespace AgentFlow.Experiments.Cases;

/// <summary>A variant of an experiment: a name and the alias re-bindings it runs with.</summary>
/// <param name="Name">Short name (A, B, …) used in tags and tables.</param>
/// <param name="Bindings">Alias → model.</param>
public sealed record Variant(string Name, IReadOnlyDictionary<string, string> Bindings)
{
    /// <summary>The bindings as <c>alias=model,…</c>.</summary>
    public string BindingsText => string.Join(",", Bindings.Select(b => $"{b.Key}={b.Value}"));

    /// <summary>
    /// Parses <c>--variant NAME:alias=model[,alias=model…]</c> values. Names must be unique; a variant with no
    /// bindings (<c>NAME:</c>) runs the workflow's own models.
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
            var before = problems.Count;
            foreach (var pair in value[(colon + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var eq = pair.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0 || eq == pair.Length - 1)
                {
                    problems.Add($"--variant '{value}': '{pair}' must be ALIAS=MODEL");
                }
                else if (!bindings.TryAdd(pair[..eq].Trim(), pair[(eq + 1)..].Trim()))
                {
                    problems.Add($"--variant '{value}': alias '{pair[..eq].Trim()}' is bound twice");
                }
            }

            if (problems.Count == before)
            {
                variants.Add(new Variant(name, bindings));
            }
        }

        if (problems.Count == 0 && variants.Count == 0)
        {
            problems.Add("give at least one --variant NAME:ALIAS=MODEL (two to compare)");
        }

        return problems.Count > 0 ? throw new ExperimentInputException(string.Join(Environment.NewLine, problems)) : variants;
    }
}
