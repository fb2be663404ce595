using AgentFlow.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace AgentFlow.Server.Metrics;

/// <summary>
/// <c>GET /metrics</c>: AgentFlow's meter (<see cref="AgentFlowTelemetry.Meter"/>: runs, steps, tokens, cost,
/// approvals waiting, retries, tool calls, queue wait) in the Prometheus text format, from OpenTelemetry's Prometheus
/// exporter. It is mapped behind the API's security middleware, so the same Host, Origin and token rules apply: with
/// <c>AGENTFLOW_API_TOKEN</c> set, a scraper sends <c>Authorization: Bearer</c> like any API client.
/// </summary>
internal static class MetricsEndpoint
{
    /// <summary>The scrape path.</summary>
    public const string Path = "/metrics";

    /// <summary>Registers the meter provider that feeds the endpoint (disposed with the host).</summary>
    public static IServiceCollection AddAgentFlowMetrics(this IServiceCollection services)
    {
        var provider = Sdk.CreateMeterProviderBuilder()
            .AddMeter(AgentFlowTelemetry.Name)
            .AddPrometheusExporter()
            .Build();
        return services.AddSingleton(provider);
    }

    /// <summary>Maps <see cref="Path"/>.</summary>
    public static IEndpointRouteBuilder MapAgentFlowMetrics(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapPrometheusScrapingEndpoint(Path, app.ServiceProvider.GetRequiredService<MeterProvider>(), configureBranchedPipeline: null, optionsName: null);
        return app;
    }
}
