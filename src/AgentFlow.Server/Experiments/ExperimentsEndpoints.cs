using AgentFlow.Server.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace AgentFlow.Server.Experiments;

/// <summary><c>GET /api/experiments/{name}</c>: the comparison <c>experiment report --name NAME --json</c> prints.</summary>
internal static class ExperimentsEndpoints
{
    public static IEndpointRouteBuilder MapExperimentsEndpoints(this IEndpointRouteBuilder api)
    {
        api.MapGet("/experiments/{name}", CompareAsync);
        return api;
    }

    private static async Task<IResult> CompareAsync(string name, IRunExecutor executor, CancellationToken cancellationToken)
    {
        await using var store = executor.OpenTracking();
        var (report, problem) = await executor.CompareExperimentAsync(store, name, cancellationToken).ConfigureAwait(false);
        return report is null ? ApiResults.Problem(404, "no such experiment", problem!) : Results.Json(report);
    }
}
