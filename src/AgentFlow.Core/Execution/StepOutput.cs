using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace AgentFlow.Execution;

/// <summary>
/// What a step produced: text for agent, switch and loop steps; a map of branch id to output for a parallel step.
/// Templates see it as <c>steps.ID.output</c> (a map renders as a JSON object, and <c>steps.ID.output.BRANCH</c>
/// reads one branch).
/// </summary>
[JsonConverter(typeof(StepOutputJsonConverter))]
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

    /// <summary>
    /// Named values beside the output that templates read as <c>steps.ID.NAME</c> (an approval's <c>approved</c>,
    /// <c>comment</c>, <c>decided_by</c>); text, booleans, null, or JSON arrays and objects (a retrieve step's
    /// <c>chunks</c>, which templates loop over). Null when the step has none.
    /// </summary>
    public IReadOnlyDictionary<string, object?>? Fields { get; init; }

    /// <summary>
    /// Whether <see cref="Text"/> is a JSON answer checked under the step's output schema: templates then read its
    /// fields (<c>steps.ID.output.NAME</c>).
    /// </summary>
    public bool IsJson { get; init; }

    /// <summary>A structured (JSON) output, already validated.</summary>
    public static StepOutput OfJson(string json) => OfText(json) with { IsJson = true };

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

/// <summary>
/// Round-trips a <see cref="StepOutput"/> exactly (engine checkpoints carry every output of a parked run):
/// <c>{"text": …}</c> or <c>{"branches": {…}}</c>, plus <c>"fields"</c> when present.
/// </summary>
internal sealed class StepOutputJsonConverter : JsonConverter<StepOutput>
{
    public override StepOutput Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var node = JsonNode.Parse(ref reader) as JsonObject ?? throw new JsonException("a step output must be a JSON object");
        return FromNode(node);
    }

    public override void Write(Utf8JsonWriter writer, StepOutput value, JsonSerializerOptions options) => ToNode(value).WriteTo(writer);

    private static JsonObject ToNode(StepOutput output)
    {
        var node = new JsonObject();
        if (output.Branches is null)
        {
            node["text"] = output.Text;
            if (output.IsJson)
            {
                node["json"] = true;
            }
        }
        else
        {
            var branches = new JsonObject();
            foreach (var (id, branch) in output.Branches)
            {
                branches[id] = ToNode(branch);
            }

            node["branches"] = branches;
        }

        if (output.Fields is { } fields)
        {
            var map = new JsonObject();
            foreach (var (name, value) in fields)
            {
                map[name] = value switch
                {
                    null => null,
                    bool b => JsonValue.Create(b),
                    JsonNode json => json.DeepClone(),
                    var other => JsonValue.Create(Convert.ToString(other, System.Globalization.CultureInfo.InvariantCulture)),
                };
            }

            node["fields"] = map;
        }

        return node;
    }

    private static StepOutput FromNode(JsonObject node)
    {
        var output = node["branches"] is JsonObject branches
            ? StepOutput.OfBranches(branches.Select(kv => new KeyValuePair<string, StepOutput>(kv.Key, FromNode((JsonObject)kv.Value!))))
            : StepOutput.OfText(node["text"]?.GetValue<string>() ?? string.Empty) with { IsJson = node["json"]?.GetValue<bool>() == true };
        if (node["fields"] is JsonObject fields)
        {
            output = output with
            {
                Fields = fields.ToDictionary(
                    kv => kv.Key,
                    kv => kv.Value switch
                    {
                        null => null,
                        JsonValue v when v.GetValueKind() is JsonValueKind.True or JsonValueKind.False => (object?)v.GetValue<bool>(),
                        JsonArray or JsonObject => kv.Value.DeepClone(),
                        var v => v.GetValue<string>(),
                    },
                    StringComparer.Ordinal),
            };
        }

        return output;
    }
}
