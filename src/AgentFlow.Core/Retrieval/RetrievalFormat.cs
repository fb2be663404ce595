using System.Globalization;
using System.Text;

namespace AgentFlow.Retrieval;

/// <summary>
/// How a retrieve step's output renders as text (<c>{{ steps.ID.output }}</c>): one block per chunk, best first,
/// numbered so an answer can cite <c>[1]</c>, each headed by its source, heading and score:
/// <code>
/// [1] refunds.md › Damaged items (score 0.71)
/// Items that arrive damaged are refunded in full…
/// </code>
/// Blocks are separated by a blank line; no chunk renders as <see cref="NoResults"/>.
/// </summary>
public static class RetrievalFormat
{
    /// <summary>The text of a search that found nothing above the step's min_score.</summary>
    public const string NoResults = "(no matching documents)";

    /// <summary>Renders <paramref name="chunks"/> in the default format.</summary>
    public static string Render(IReadOnlyList<RetrievedChunk> chunks)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        if (chunks.Count == 0)
        {
            return NoResults;
        }

        var text = new StringBuilder();
        for (var i = 0; i < chunks.Count; i++)
        {
            var chunk = chunks[i];
            if (i > 0)
            {
                text.Append("\n\n");
            }

            text.Append(CultureInfo.InvariantCulture, $"[{i + 1}] {chunk.Source}");
            if (chunk.Heading is { Length: > 0 } heading)
            {
                text.Append(" › ").Append(heading);
            }

            text.Append(CultureInfo.InvariantCulture, $" (score {chunk.Score:0.00})\n").Append(chunk.Text.Trim());
        }

        return text.ToString();
    }
}
