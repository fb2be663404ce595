using System.Text.Json.Nodes;
using AgentFlow.Execution;
using AgentFlow.Execution.Durable;
using AgentFlow.Server.Http;
using AgentFlow.Server.Runs;
using AgentFlow.Server.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace AgentFlow.Server.Approvals;

/// <summary>Runs waiting for a decision, and deciding them.</summary>
internal static class ApprovalsEndpoints
{
    public static IEndpointRouteBuilder MapApprovalsEndpoints(this IEndpointRouteBuilder api)
    {
        api.MapGet("/approvals", ListAsync);
        api.MapPost("/runs/{id}/approvals/{step}", DecideAsync);
        return api;
    }

    private static async Task<IResult> ListAsync(IRunStore runs, CancellationToken cancellationToken)
    {
        var array = new JsonArray();
        foreach (var run in await runs.ListActiveAsync(cancellationToken).ConfigureAwait(false))
        {
            if (run.Record.Waiting is { } w)
            {
                array.Add(RunResultJson.Approval(run.Record, w));
            }
        }

        return Results.Json(array);
    }

    private static async Task<IResult> DecideAsync(string id, string step, HttpContext http, IRunStore runs, IRunExecutor executor, RunLauncher launcher)
    {
        var (body, invalid) = await ApiResults.ReadObjectAsync(http, "{\"approve\": true, \"comment\": \"…\", \"by\": \"alice\"}").ConfigureAwait(false);
        if (body is null)
        {
            return invalid!;
        }

        if (body["approve"] is not JsonValue approveValue || !approveValue.TryGetValue<bool>(out var approve))
        {
            return ApiResults.Problem(400, "missing decision", "'approve' must be true or false");
        }

        var (run, problem) = await RunsEndpoints.LoadAsync(runs, id, http.RequestAborted).ConfigureAwait(false);
        if (run is null)
        {
            return problem!;
        }

        if (run.Record.Waiting?.StepId != step)
        {
            return ApiResults.Problem(409, "not waiting there", run.Record.Waiting is { } w ? $"run {id} waits at approval '{w.StepId}', not '{step}'" : $"run {id} is not waiting for a decision");
        }

        var claimed = body["by"] is JsonValue by && by.TryGetValue<string>(out var name) ? name : null;
        var comment = body["comment"] is JsonValue c && c.TryGetValue<string>(out var text) ? text : null;
        var answer = new ApprovalAnswer(step, approve, ApiSecurity.DecidedBy(http.User, claimed), comment);
        launcher.Launch(id, observer => executor.ContinueAsync(id, answer, observer, CancellationToken.None));
        return Results.Json(new JsonObject { ["run_id"] = id, ["step"] = step, ["decision"] = approve ? "approved" : "rejected", ["url"] = $"/api/runs/{id}" }, statusCode: 202);
    }
}
