using AgentFlow.Execution;
using Fluid;
using Fluid.Values;

namespace AgentFlow.Templates;

/// <summary>
/// What a template can see: <c>inputs.NAME</c>, <c>steps.ID.output</c> and, inside a loop, <c>loop.iteration</c>.
/// Values are data: text from inputs or models is inserted as it is and never evaluated as Liquid.
/// </summary>
public sealed class TemplateScope
{
    private readonly IReadOnlyDictionary<string, object?> _inputs;
    private readonly IReadOnlyDictionary<string, StepOutput> _steps;
    private readonly int? _loopIteration;

    /// <summary>Creates a scope.</summary>
    /// <param name="inputs">Typed inputs (string, long, double, bool or null); anything else is shown as its invariant text, never as an object.</param>
    /// <param name="steps">Outputs of the steps that have run.</param>
    /// <param name="loopIteration">1-based iteration of the innermost loop, or null outside loops.</param>
    public TemplateScope(IReadOnlyDictionary<string, object?> inputs, IReadOnlyDictionary<string, StepOutput> steps, int? loopIteration)
    {
        _inputs = inputs ?? throw new ArgumentNullException(nameof(inputs));
        _steps = steps ?? throw new ArgumentNullException(nameof(steps));
        _loopIteration = loopIteration;
    }

    /// <summary>A tool call's arguments, read as <c>args.NAME</c> by a tool's templates; null elsewhere.</summary>
    public System.Text.Json.Nodes.JsonObject? Args { get; init; }

    /// <summary>Whether text read from <see cref="Args"/> is URL-encoded (an http tool's URL), so arguments stay inside their path segment or query value.</summary>
    public bool EncodeArgs { get; init; }

    internal TemplateContext CreateContext()
    {
        var context = new TemplateContext(LiquidEngine.Options);
        if (Args is { } args)
        {
            context.SetValue("args", JsonValueOf(args, EncodeArgs));
        }

        context.SetValue("inputs", Map(_inputs.ToDictionary(kv => kv.Key, kv => ToValue(kv.Value), StringComparer.Ordinal)));
        context.SetValue("steps", Map(_steps.ToDictionary(kv => kv.Key, kv => (FluidValue)StepValue(kv.Value), StringComparer.Ordinal)));
        if (_loopIteration is { } iteration)
        {
            context.SetValue("loop", Map(new Dictionary<string, FluidValue>(StringComparer.Ordinal) { ["iteration"] = NumberValue.Create(iteration) }));
        }

        return context;
    }

    // Each step is a small map so more per-step fields (e.g. steps.ID.approved) can sit beside 'output' later;
    // the validator's list of step fields (TemplateChecker) must grow with it.
    private static DictionaryValue StepValue(StepOutput output)
    {
        var map = new Dictionary<string, FluidValue>(StringComparer.Ordinal) { ["output"] = ToValue(output) };
        foreach (var (name, value) in output.Fields ?? new Dictionary<string, object?>())
        {
            map[name] = ToValue(value);
        }

        return Map(map);
    }

    internal static FluidValue ToValue(StepOutput output) =>
        output.Branches is not null ? new BranchesValue(output)
        : output.IsJson ? JsonFieldsValue.Of(output.Text!)
        : new StringValue(output.Text!);

    private static FluidValue ToValue(object? value) => value switch
    {
        null => NilValue.Instance,
        string s => new StringValue(s),
        bool b => BooleanValue.Create(b),
        long l => NumberValue.Create(l),
        int i => NumberValue.Create(i),
        decimal m => NumberValue.Create(m),
        double d => Number(d),
        float f => Number(f),
        StepOutput o => ToValue(o),
        System.Text.Json.Nodes.JsonNode json => FromJson(json),
        var other => new StringValue(Convert.ToString(other, System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty),
    };

    // JSON fields (a retrieve step's chunks) become Liquid arrays and maps: data only, never .NET objects.
    private static FluidValue FromJson(System.Text.Json.Nodes.JsonNode? node) => node switch
    {
        null => NilValue.Instance,
        System.Text.Json.Nodes.JsonArray array => new ArrayValue(array.Select(FromJson).ToArray()),
        System.Text.Json.Nodes.JsonObject obj => Map(obj.ToDictionary(kv => kv.Key, kv => FromJson(kv.Value), StringComparer.Ordinal)),
        System.Text.Json.Nodes.JsonValue value => value.GetValueKind() switch
        {
            System.Text.Json.JsonValueKind.String => new StringValue(value.GetValue<string>()),
            System.Text.Json.JsonValueKind.Number => Number(value.GetValue<double>()),
            System.Text.Json.JsonValueKind.True => BooleanValue.True,
            System.Text.Json.JsonValueKind.False => BooleanValue.False,
            _ => NilValue.Instance,
        },
        _ => NilValue.Instance,
    };

    // Liquid numbers are decimals; a double beyond decimal's range (or NaN) is shown as text rather than failing the render.
    private static FluidValue Number(double value) =>
        double.IsFinite(value) && Math.Abs(value) < 7.9e28
            ? NumberValue.Create((decimal)value)
            : new StringValue(value.ToString(System.Globalization.CultureInfo.InvariantCulture));

    // Tool arguments as Liquid values: objects are maps, arrays arrays, and scalars their JSON value.
    private static FluidValue JsonValueOf(System.Text.Json.Nodes.JsonNode? node, bool encode) => node switch
    {
        null => NilValue.Instance,
        System.Text.Json.Nodes.JsonObject obj => Map(obj.ToDictionary(p => p.Key, p => JsonValueOf(p.Value, encode), StringComparer.Ordinal)),
        System.Text.Json.Nodes.JsonArray array => new ArrayValue([.. array.Select(item => JsonValueOf(item, encode))]),
        System.Text.Json.Nodes.JsonValue value => value.GetValueKind() switch
        {
            System.Text.Json.JsonValueKind.String => new StringValue(encode ? Uri.EscapeDataString(value.GetValue<string>()) : value.GetValue<string>()),
            System.Text.Json.JsonValueKind.True => BooleanValue.True,
            System.Text.Json.JsonValueKind.False => BooleanValue.False,
            System.Text.Json.JsonValueKind.Number when value.TryGetValue<decimal>(out var number) => NumberValue.Create(number),
            _ => new StringValue(encode ? Uri.EscapeDataString(value.ToJsonString()) : value.ToJsonString()),
        },
        _ => NilValue.Instance,
    };

    private static DictionaryValue Map(Dictionary<string, FluidValue> values) => new(new FluidValueDictionaryFluidIndexable(values));
}
