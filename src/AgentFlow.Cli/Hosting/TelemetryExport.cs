using System.Globalization;
using System.Reflection;
using AgentFlow.Telemetry;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace AgentFlow.Cli.Hosting;

/// <summary>
/// Exports AgentFlow's traces and metrics over OTLP when the standard variables ask for it
/// (<c>OTEL_EXPORTER_OTLP_ENDPOINT</c> or <c>OTEL_EXPORTER_OTLP_TRACES_ENDPOINT</c>; protocol, headers and timeouts
/// from the other <c>OTEL_EXPORTER_OTLP_*</c> variables, read by the exporter itself), with
/// <c>OTEL_SERVICE_NAME</c> (default <c>agentflow</c>), <c>OTEL_RESOURCE_ATTRIBUTES</c> and <c>OTEL_TRACES_SAMPLER</c>.
/// Unset, nothing is started and the spans are never created. Disposing flushes, so a short <c>run</c> exports
/// its whole trace before the process exits.
/// </summary>
internal sealed class TelemetryExport : IDisposable
{
    private readonly TracerProvider? _traces;
    private readonly MeterProvider? _metrics;

    private TelemetryExport(TracerProvider? traces, MeterProvider? metrics)
    {
        _traces = traces;
        _metrics = metrics;
    }

    /// <summary>Whether an exporter is running.</summary>
    public bool Enabled => _traces is not null;

    /// <summary>Starts the exporters the environment asks for (none when no OTLP endpoint is set, or OTEL_SDK_DISABLED=true).</summary>
    public static TelemetryExport Start(IReadOnlyDictionary<string, string> environment)
    {
        var endpoint = Variable(environment, "OTEL_EXPORTER_OTLP_ENDPOINT") ?? Variable(environment, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
        if (endpoint is null || string.Equals(Variable(environment, "OTEL_SDK_DISABLED"), "true", StringComparison.OrdinalIgnoreCase))
        {
            return new TelemetryExport(null, null);
        }

        var version = typeof(TelemetryExport).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        // The environment detector comes last, so OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override the defaults.
        void Resource(ResourceBuilder resource) => resource.AddService("agentflow", serviceVersion: version).AddEnvironmentVariableDetector();
        var traces = Sdk.CreateTracerProviderBuilder()
            .ConfigureResource(Resource)
            .SetSampler(Sampler(environment))
            .AddSource(AgentFlowTelemetry.Name)
            .AddSource("MassTransit")
            .AddOtlpExporter()
            .Build();
        var metrics = Sdk.CreateMeterProviderBuilder()
            .ConfigureResource(Resource)
            .AddMeter(AgentFlowTelemetry.Name)
            .AddOtlpExporter()
            .Build();
        return new TelemetryExport(traces, metrics);
    }

    /// <summary>OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG as the specification names them (default parentbased_always_on).</summary>
    internal static Sampler Sampler(IReadOnlyDictionary<string, string> environment)
    {
        var ratio = double.TryParse(Variable(environment, "OTEL_TRACES_SAMPLER_ARG"), NumberStyles.Float, CultureInfo.InvariantCulture, out var r) && r is >= 0 and <= 1 ? r : 1.0;
        return Variable(environment, "OTEL_TRACES_SAMPLER")?.ToLowerInvariant() switch
        {
            "always_off" => new AlwaysOffSampler(),
            "always_on" => new AlwaysOnSampler(),
            "traceidratio" => new TraceIdRatioBasedSampler(ratio),
            "parentbased_always_off" => new ParentBasedSampler(new AlwaysOffSampler()),
            "parentbased_traceidratio" => new ParentBasedSampler(new TraceIdRatioBasedSampler(ratio)),
            _ => new ParentBasedSampler(new AlwaysOnSampler()),
        };
    }

    private static string? Variable(IReadOnlyDictionary<string, string> environment, string name) =>
        environment.TryGetValue(name, out var value) && !string.IsNullOrWhiteSpace(value) ? value.Trim() : null;

    public void Dispose()
    {
        _traces?.ForceFlush(5000);
        _metrics?.ForceFlush(5000);
        _traces?.Dispose();
        _metrics?.Dispose();
    }
}
