using System.Globalization;

namespace AgentFlow.Models.Llama.Providers;

/// <summary>
/// Reads a <see cref="ModelSpec"/>'s settings, collecting every problem (rather than stopping at the first) as a
/// message that names the location, the model, the setting and what to do.
/// </summary>
internal sealed class SettingsReader(ModelSpec spec, IReadOnlyList<string> allowed)
{
    public List<string> Problems { get; } = [];

    public ModelSpec Spec => spec;

    /// <summary>Reports every setting that is not in the allowed list.</summary>
    public void CheckUnknownKeys()
    {
        foreach (var (key, setting) in spec.Settings)
        {
            if (allowed.Contains(key, StringComparer.Ordinal))
            {
                continue;
            }

            var suggestion = Closest(key);
            Problems.Add($"{setting.Location}: model '{spec.Name}': unknown setting '{key}' for provider '{spec.Provider}'"
                + (suggestion is null ? "" : $" (did you mean '{suggestion}'?)")
                + $"; the allowed settings are {string.Join(", ", allowed)}");
        }
    }

    public string? String(string key)
    {
        var value = spec.GetString(key);
        return string.IsNullOrWhiteSpace(value) ? null : value.Trim();
    }

    public int Int(string key, int fallback, int min, int max)
    {
        if (!spec.Settings.TryGetValue(key, out var setting))
        {
            return fallback;
        }

        if (!int.TryParse(setting.Value.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
        {
            Problems.Add($"{setting.Location}: model '{spec.Name}': setting '{key}' must be a whole number between {min} and {max}, got '{setting.Value}'; fix the value or remove the setting (default {fallback})");
            return fallback;
        }

        if (value < min || value > max)
        {
            Problems.Add($"{setting.Location}: model '{spec.Name}': setting '{key}' must be between {min} and {max}, got {value}; fix the value or remove the setting (default {fallback})");
            return fallback;
        }

        return value;
    }

    public void Add(string key, string message) => Problems.Add($"{spec.LocationOf(key)}: model '{spec.Name}': {message}");

    /// <summary>Throws a <see cref="ModelConfigurationException"/> listing every problem, if there are any.</summary>
    public void ThrowIfProblems()
    {
        if (Problems.Count > 0)
        {
            throw new ModelConfigurationException(string.Join(Environment.NewLine, Problems));
        }
    }

    private string? Closest(string key)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in allowed)
        {
            var d = Distance(key.ToLowerInvariant(), candidate);
            if (d < bestDistance)
            {
                bestDistance = d;
                best = candidate;
            }
        }

        return bestDistance <= Math.Max(2, key.Length / 3) ? best : null;
    }

    private static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
