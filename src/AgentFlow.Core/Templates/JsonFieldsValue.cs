using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using Fluid;
using Fluid.Values;

namespace AgentFlow.Templates;

/// <summary>
/// A structured step output in templates: printed whole it is the JSON text the model wrote; its fields read as
/// values (<c>steps.extract.output.category</c> is text, numbers are numbers, booleans booleans, nested objects
/// read on, arrays iterate), so <c>when: "steps.extract.output.category == 'billing'"</c> works.
/// </summary>
internal sealed class JsonFieldsValue : FluidValue
{
    private readonly JsonElement _element;
    private readonly string _text;

    private JsonFieldsValue(JsonElement element, string text)
    {
        _element = element;
        _text = text;
    }

    public override FluidValues Type => FluidValues.Dictionary;

    /// <summary>The value of a JSON text (already validated when the step ran).</summary>
    public static FluidValue Of(string json)
    {
        using var document = JsonDocument.Parse(json);
        return ToValue(document.RootElement.Clone());
    }

    private static FluidValue ToValue(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => new JsonFieldsValue(element, element.GetRawText()),
        JsonValueKind.Array => new ArrayValue([.. element.EnumerateArray().Select(ToValue)]),
        JsonValueKind.String => new StringValue(element.GetString()!),
        JsonValueKind.Number => element.TryGetDecimal(out var number) ? NumberValue.Create(number) : new StringValue(element.GetRawText()),
        JsonValueKind.True => BooleanValue.True,
        JsonValueKind.False => BooleanValue.False,
        _ => NilValue.Instance,
    };

    public override bool Equals(FluidValue other) => other is JsonFieldsValue j && j._text == _text;

    public override bool ToBooleanValue() => true;

    public override decimal ToNumberValue() => 0;

    public override string ToStringValue() => _text;

    public override object ToObjectValue() => _text;

    public override ValueTask<FluidValue> GetValueAsync(string name, TemplateContext context) =>
        ValueTask.FromResult(_element.TryGetProperty(name, out var value) ? ToValue(value) : NilValue.Instance);

    public override ValueTask<FluidValue> GetIndexAsync(FluidValue index, TemplateContext context) =>
        GetValueAsync(index.ToStringValue(), context);

    public override bool Contains(FluidValue value) => _element.TryGetProperty(value.ToStringValue(), out _);

    public override IEnumerable<FluidValue> Enumerate(TemplateContext context) =>
        _element.EnumerateObject().Select(p => ToValue(p.Value));

    public override ValueTask WriteToAsync(TextWriter writer, TextEncoder encoder, CultureInfo cultureInfo)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(encoder);
        writer.Write(encoder.Encode(_text));
        return ValueTask.CompletedTask;
    }

    public override bool Equals(object? obj) => obj is FluidValue other && Equals(other);

    public override int GetHashCode() => _text.GetHashCode(StringComparison.Ordinal);
}
