using System.Globalization;
using System.Text.Encodings.Web;
using AgentFlow.Execution;
using Fluid;
using Fluid.Values;

namespace AgentFlow.Templates;

/// <summary>
/// A parallel step's output in templates: <c>steps.ID.output.BRANCH</c> reads one branch; printed whole it is the
/// compact JSON object of all branches.
/// </summary>
internal sealed class BranchesValue(StepOutput output) : FluidValue
{
    private readonly StepOutput _output = output;

    public override FluidValues Type => FluidValues.Dictionary;

    public override bool Equals(FluidValue other) => other is BranchesValue b && b._output.Equals(_output);

    public override bool ToBooleanValue() => true;

    public override decimal ToNumberValue() => 0;

    public override string ToStringValue() => _output.ToString();

    public override object ToObjectValue() => _output.Branches!.ToDictionary(kv => kv.Key, kv => (object)kv.Value.ToString(), StringComparer.Ordinal);

    public override ValueTask<FluidValue> GetValueAsync(string name, TemplateContext context) =>
        ValueTask.FromResult(_output.Branches!.TryGetValue(name, out var branch) ? TemplateScope.ToValue(branch) : NilValue.Instance);

    public override ValueTask<FluidValue> GetIndexAsync(FluidValue index, TemplateContext context) =>
        GetValueAsync(index.ToStringValue(), context);

    public override bool Contains(FluidValue value) => _output.Branches!.ContainsKey(value.ToStringValue());

    public override IEnumerable<FluidValue> Enumerate(TemplateContext context) =>
        _output.Branches!.Values.Select(TemplateScope.ToValue);

    public override ValueTask WriteToAsync(TextWriter writer, TextEncoder encoder, CultureInfo cultureInfo)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(encoder);
        writer.Write(encoder.Encode(ToStringValue()));
        return ValueTask.CompletedTask;
    }

    public override bool Equals(object? obj) => obj is FluidValue other && Equals(other);

    public override int GetHashCode() => _output.GetHashCode();
}
