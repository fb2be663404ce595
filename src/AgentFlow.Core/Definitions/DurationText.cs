using System.Globalization;

namespace AgentFlow.Definitions;

/// <summary>Durations as written in workflow files and on the command line: <c>500ms</c>, <c>30s</c>, <c>5m</c>, <c>2h</c>, <c>7d</c>.</summary>
public static class DurationText
{
    /// <summary>Parses <paramref name="text"/>; a bare number means seconds.</summary>
    public static bool TryParse(string text, out TimeSpan value)
    {
        ArgumentNullException.ThrowIfNull(text);
        text = text.Trim();
        var (number, unit) = text.EndsWith("ms", StringComparison.Ordinal)
            ? (text[..^2], 0.001)
            : text.Length > 0 && char.IsLetter(text[^1])
                ? (text[..^1], text[^1] switch { 's' => 1, 'm' => 60, 'h' => 3600, 'd' => 86400, _ => double.NaN })
                : (text, 1.0);
        if (!double.IsNaN(unit) && double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var amount) && amount >= 0)
        {
            value = TimeSpan.FromSeconds(amount * unit);
            return true;
        }

        value = TimeSpan.Zero;
        return false;
    }
}
