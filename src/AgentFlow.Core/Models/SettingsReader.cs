using System.Globalization;

namespace AgentFlow.Models;

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

    public bool Bool(string key, bool fallback)
    {
        if (!spec.Settings.TryGetValue(key, out var setting))
        {
            return fallback;
        }

        switch (setting.Value.Trim().ToLowerInvariant())
        {
            case "true" or "yes" or "on":
                return true;
            case "false" or "no" or "off":
                return false;
            default:
                Problems.Add($"{setting.Location}: model '{spec.Name}': setting '{key}' must be true or false, got '{setting.Value}'; fix the value or remove the setting (default {(fallback ? "true" : "false")})");
                return fallback;
        }
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

    // Same "did you mean" as every other AgentFlow message.
    private string? Closest(string key) => AgentFlow.Diagnostics.NameSuggestion.Nearest(key, allowed);
}
