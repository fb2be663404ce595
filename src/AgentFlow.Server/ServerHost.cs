using System.Text.Json.Nodes;
using AgentFlow.Execution.Durable;
using AgentFlow.Models;
using AgentFlow.Server.Approvals;
using AgentFlow.Server.Dashboard;
using AgentFlow.Server.Experiments;
using AgentFlow.Server.Http;
using AgentFlow.Server.Metrics;
using AgentFlow.Server.Runs;
using AgentFlow.Server.Security;
using AgentFlow.Server.Workflows;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentFlow.Server;

/// <summary>
/// Builds and starts the <c>agentflow serve</c> host: Kestrel, the security middleware, the API endpoints by feature,
/// the dashboard and the run sweep. The process that hosts it supplies how runs execute (<see cref="IRunExecutor"/>).
/// </summary>
public static class ServerHost
{
    /// <summary>Builds the host (not started); <paramref name="options"/> are validated first.</summary>
    /// <exception cref="ServerConfigurationException">An option is invalid.</exception>
    public static WebApplication Build(ServerOptions options, IRunStore runs, ModelRegistry registry, IRunExecutor executor, ILoggerFactory loggerFactory, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(options.Urls);
        builder.WebHost.ConfigureKestrel(o => o.Limits.MaxRequestBodySize = options.MaxRequestBytes);
        var services = builder.Services;
        services.AddOpenApi();
        services.AddSingleton(options);
        services.AddSingleton(runs);
        services.AddSingleton(registry);
        services.AddSingleton(executor);
        services.AddSingleton(time);
        // The server's own components log where its host logs; ASP.NET Core's logging stays silent (cleared above).
        services.AddSingleton(loggerFactory.CreateLogger<RunLauncher>());
        services.AddSingleton(loggerFactory.CreateLogger<RunSweeper>());
        services.AddSingleton(new ServerPaths(options.WorkflowsDirectory, options.WorkingDirectory));
        services.AddSingleton<ApiSecurity>();
        services.AddSingleton<RunEventHub>();
        services.AddSingleton<RunLauncher>();
        services.AddHostedService<RunSweeper>();
        services.AddAgentFlowMetrics();

        var app = builder.Build();
        app.UseMiddleware<ApiSecurityMiddleware>();
        app.MapOpenApi(); // /openapi/v1.json
        app.MapGet("/healthz", (RunLauncher launcher) => Results.Json(new JsonObject { ["status"] = "ok", ["runs_in_flight"] = launcher.Count }));
        app.MapAgentFlowMetrics(); // /metrics, behind the same middleware (token rule included)
        app.MapGroup("/api")
            .AddEndpointFilter<ServerPaths.Filter>()
            .MapRunsEndpoints()
            .MapApprovalsEndpoints()
            .MapWorkflowsEndpoints()
            .MapExperimentsEndpoints();
        app.MapDashboard();
        return app;
    }

    /// <summary>
    /// Starts <paramref name="app"/>, then checks the addresses Kestrel actually bound (until then every request gets
    /// 503): beyond loopback without a token it stops the host again and throws. Returns the bound addresses.
    /// </summary>
    /// <exception cref="ServerConfigurationException">An address reaches beyond this machine and no token is set.</exception>
    public static async Task<IReadOnlyList<string>> StartAsync(WebApplication app, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(app);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.ToList() ?? [.. app.Urls];
        try
        {
            app.Services.GetRequiredService<ApiSecurity>().Verify(addresses);
        }
        catch (ServerConfigurationException)
        {
            await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        return addresses;
    }
}
