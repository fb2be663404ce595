namespace AgentFlow.Diagnostics;

/// <summary>"Did you mean …?" for misspelt keys, ids, aliases and inputs (Damerau–Levenshtein distance).</summary>
public static class NameSuggestion
{
    /// <summary>Longest name a suggestion is looked for (the distance costs the product of the two lengths).</summary>
    public const int MaxNameLength = 64;

    /// <summary>The candidate closest to <paramref name="name"/>, or null when none is close enough to be a typo.</summary>
    public static string? Nearest(string name, IEnumerable<string> candidates)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(candidates);
        if (name.Length > MaxNameLength)
        {
            return null;
        }

        // Nearest first, then ordinal; lengths further apart than the limit cannot be within it.
        var limit = Math.Max(1, Math.Min(3, name.Length / 3));
        string? best = null;
        var bestDistance = limit + 1;
        foreach (var candidate in candidates)
        {
            if (Math.Abs(candidate.Length - name.Length) > limit || candidate == name)
            {
                continue;
            }

            var distance = Distance(name, candidate, bestDistance);
            if (distance < bestDistance || (distance == bestDistance && best is not null && string.CompareOrdinal(candidate, best) < 0))
            {
                (best, bestDistance) = (candidate, distance);
            }
        }

        return best;
    }

    /// <summary>The names joined with ", " for a hint, the first <paramref name="max"/> only when there are more.</summary>
    public static string List(IReadOnlyCollection<string> names, int max = 20)
    {
        ArgumentNullException.ThrowIfNull(names);
        return names.Count <= max ? string.Join(", ", names) : $"{string.Join(", ", names.Take(max))}, … ({names.Count} in all)";
    }

    /// <summary>" did you mean 'x'?" or an empty string.</summary>
    public static string DidYouMean(string name, IEnumerable<string> candidates) =>
        Nearest(name, candidates) is { } near ? $"; did you mean '{near}'?" : string.Empty;

    /// <summary>
    /// <see cref="Distance(string, string)"/> when it is at most <paramref name="bound"/>, else more than <paramref name="bound"/>:
    /// stops once two rows in a row exceed it (a swap reads two rows back), without allocating (both names are at most
    /// <see cref="MaxNameLength"/> + 3 long here).
    /// </summary>
    private static int Distance(string a, string b, int bound)
    {
        Span<int> before = stackalloc int[b.Length + 1];
        Span<int> previous = stackalloc int[b.Length + 1];
        Span<int> current = stackalloc int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        var previousMin = 0; // row 0's minimum
        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            var rowMin = i;
            var ai = char.ToLowerInvariant(a[i - 1]);
            for (var j = 1; j <= b.Length; j++)
            {
                var bj = char.ToLowerInvariant(b[j - 1]);
                var d = Math.Min(Math.Min(previous[j] + 1, current[j - 1] + 1), previous[j - 1] + (ai == bj ? 0 : 1));
                if (i > 1 && j > 1 && ai == char.ToLowerInvariant(b[j - 2]) && char.ToLowerInvariant(a[i - 2]) == bj)
                {
                    d = Math.Min(d, before[j - 2] + 1);
                }

                current[j] = d;
                rowMin = Math.Min(rowMin, d);
            }

            if (rowMin > bound && previousMin > bound)
            {
                return bound + 1;
            }

            previousMin = rowMin;

            var spare = before;
            before = previous;
            previous = current;
            current = spare;
        }

        return previous[b.Length];
    }

    /// <summary>Optimal string alignment distance (insert, delete, substitute, swap neighbours), case-insensitive.</summary>
    public static int Distance(string a, string b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        a = a.ToLowerInvariant();
        b = b.ToLowerInvariant();
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }
}
