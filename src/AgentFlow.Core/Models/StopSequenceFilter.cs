using System.Text;

namespace AgentFlow.Models;

/// <summary>
/// Streams generated text while watching for stop sequences that may be split across chunks: text that could be the
/// start of a stop sequence is held back until it is known not to be one.
/// </summary>
internal sealed class StopSequenceFilter
{
    private readonly string[] _stops;
    private readonly StringBuilder _held = new();

    public StopSequenceFilter(IEnumerable<string>? stopSequences)
    {
        _stops = stopSequences?.Where(s => !string.IsNullOrEmpty(s)).Distinct(StringComparer.Ordinal).ToArray() ?? [];
    }

    /// <summary>True once a stop sequence has been seen; nothing after it is ever emitted.</summary>
    public bool Stopped { get; private set; }

    /// <summary>Adds generated text; returns the text that can be emitted now (possibly empty).</summary>
    public string Push(string text)
    {
        if (Stopped || text.Length == 0)
        {
            return string.Empty;
        }

        if (_stops.Length == 0)
        {
            return text;
        }

        _held.Append(text);
        var s = _held.ToString();
        var first = -1;
        foreach (var stop in _stops)
        {
            var i = s.IndexOf(stop, StringComparison.Ordinal);
            if (i >= 0 && (first < 0 || i < first))
            {
                first = i;
            }
        }

        _held.Clear();
        if (first >= 0)
        {
            Stopped = true;
            return s[..first];
        }

        var keep = LongestSuffixThatStartsAStop(s);
        _held.Append(s, s.Length - keep, keep);
        return s[..^keep];
    }

    /// <summary>The held-back text, at the end of generation (when no stop sequence followed it).</summary>
    public string Flush()
    {
        var rest = Stopped ? string.Empty : _held.ToString();
        _held.Clear();
        return rest;
    }

    private int LongestSuffixThatStartsAStop(string s)
    {
        var longest = 0;
        foreach (var stop in _stops)
        {
            for (var k = Math.Min(stop.Length - 1, s.Length); k > longest; k--)
            {
                if (s.AsSpan(s.Length - k).SequenceEqual(stop.AsSpan(0, k)))
                {
                    longest = k;
                    break;
                }
            }
        }

        return longest;
    }
}
