using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AgentFlow.Execution;

/// <summary>
/// What a step produced: text for agent, switch and loop steps; a map of branch id to output for a parallel step.
/// Templates see it as <c>steps.ID.output</c> (a map renders as a JSON object, and <c>steps.ID.output.BRANCH</c>
/// reads one branch).
/// </summary>
public sealed record StepOutput
{
    private StepOutput(string? text, IReadOnlyDictionary<string, StepOutput>? branches)
    {
        Text = text;
        Branches = branches;
    }

    /// <summary>The text output; null for a map.</summary>
    public string? Text { get; }

    /// <summary>Branch outputs of a parallel step, in branch order; null for text.</summary>
    public IReadOnlyDictionary<string, StepOutput>? Branches { get; }

    /// <summary>A text output.</summary>
    public static StepOutput OfText(string text) => new(text ?? throw new ArgumentNullException(nameof(text)), null);

    /// <summary>A map output (parallel step); keeps the order given.</summary>
    public static StepOutput OfBranches(IEnumerable<KeyValuePair<string, StepOutput>> branches) =>
        new(null, new OrderedBranches(branches));

    /// <summary>The output as JSON: a string, or an object of branch outputs.</summary>
    public JsonNode ToJson()
    {
        if (Branches is null)
        {
            return JsonValue.Create(Text)!;
        }

        var obj = new JsonObject();
        foreach (var (id, output) in Branches)
        {
            obj[id] = output.ToJson();
        }

        return obj;
    }

    // Model text is shown to people and models, not embedded in HTML: keep '<', '&', quotes and non-ASCII readable.
    private static readonly JsonSerializerOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The text, or the map as compact JSON.</summary>
    public override string ToString() => Text ?? ToJson().ToJsonString(Compact);

    /// <summary>Dictionary that keeps insertion order (branch order matters when printed).</summary>
    private sealed class OrderedBranches : Dictionary<string, StepOutput>, IReadOnlyDictionary<string, StepOutput>
    {
        private readonly List<string> _order = [];

        public OrderedBranches(IEnumerable<KeyValuePair<string, StepOutput>> items)
            : base(StringComparer.Ordinal)
        {
            foreach (var (key, value) in items)
            {
                Add(key, value);
                _order.Add(key);
            }
        }

        IEnumerable<string> IReadOnlyDictionary<string, StepOutput>.Keys => _order;

        IEnumerator<KeyValuePair<string, StepOutput>> IEnumerable<KeyValuePair<string, StepOutput>>.GetEnumerator() =>
            _order.Select(k => new KeyValuePair<string, StepOutput>(k, this[k])).GetEnumerator();
    }
}
