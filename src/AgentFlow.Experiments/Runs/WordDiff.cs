using System.Text;

namespace AgentFlow.Experiments.Runs;

/// <summary>A word-level diff in git's <c>--word-diff=plain</c> style: <c>[-removed-]{+added+}</c>, common words as they are.</summary>
public static class WordDiff
{
    /// <summary>Longest common subsequence of words (split on whitespace); null texts are empty.</summary>
    public static string Build(string? before, string? after)
    {
        var a = Words(before);
        var b = Words(after);
        var lcs = new int[a.Length + 1, b.Length + 1];
        for (var i = a.Length - 1; i >= 0; i--)
        {
            for (var j = b.Length - 1; j >= 0; j--)
            {
                lcs[i, j] = a[i] == b[j] ? lcs[i + 1, j + 1] + 1 : Math.Max(lcs[i + 1, j], lcs[i, j + 1]);
            }
        }

        var parts = new List<string>();
        var removed = new List<string>();
        var added = new List<string>();
        void Flush()
        {
            if (removed.Count > 0)
            {
                parts.Add($"[-{string.Join(' ', removed)}-]");
                removed.Clear();
            }

            if (added.Count > 0)
            {
                parts.Add($"{{+{string.Join(' ', added)}+}}");
                added.Clear();
            }
        }

        int x = 0, y = 0;
        while (x < a.Length || y < b.Length)
        {
            if (x < a.Length && y < b.Length && a[x] == b[y])
            {
                Flush();
                parts.Add(a[x]);
                x++;
                y++;
            }
            else if (y < b.Length && (x == a.Length || lcs[x, y + 1] >= lcs[x + 1, y]))
            {
                added.Add(b[y++]);
            }
            else
            {
                removed.Add(a[x++]);
            }
        }

        Flush();
        return new StringBuilder().AppendJoin(' ', parts).ToString();
    }

    private static string[] Words(string? text) => (text ?? string.Empty).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
}
