using System.Text.Json.Nodes;
using AgentFlow.Definitions;
using AgentFlow.Server.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace AgentFlow.Server.Workflows;

/// <summary><c>GET /api/workflows</c>: the workflows the API can start, with their validation status.</summary>
internal static class WorkflowsEndpoints
{
    public static IEndpointRouteBuilder MapWorkflowsEndpoints(this IEndpointRouteBuilder api)
    {
        api.MapGet("/workflows", List);
        return api;
    }

    private static IResult List(ServerPaths paths)
    {
        var array = new JsonArray();
        if (Directory.Exists(paths.WorkflowsDirectory))
        {
            foreach (var file in Directory.GetFiles(paths.WorkflowsDirectory, "*.yaml").Order(StringComparer.Ordinal))
            {
                var loaded = WorkflowLoader.Load(file);
                var definition = loaded.Definition;
                array.Add(new JsonObject
                {
                    ["name"] = Path.GetFileNameWithoutExtension(file),
                    ["description"] = definition?.Description,
                    ["valid"] = loaded.Succeeded,
                    ["diagnostics"] = new JsonArray([.. loaded.Diagnostics.Select(d => (JsonNode)JsonValue.Create(paths.Hide(d.ToString())))]),
                    ["inputs"] = new JsonArray([.. (definition?.Inputs ?? []).Select(i => (JsonNode)new JsonObject
                    {
                        ["name"] = i.Name,
                        ["type"] = i.Type.ToString().ToLowerInvariant(),
                        ["required"] = i.Required,
                        ["default"] = i.Default?.ToString(),
                    })]),
                });
            }
        }

        return Results.Json(array);
    }

    /// <summary>
    /// The workflow named <paramref name="name"/> (letters, digits, '-', '_': never a path, so no other file can be
    /// read), loaded and valid; or the problem that says why not.
    /// </summary>
    public static (WorkflowDefinition? Definition, IResult? Problem) Find(ServerPaths paths, string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_')))
        {
            return (null, ApiResults.Problem(400, "unknown workflow", "'workflow' names a workflow of the workflows folder (letters, digits, '-', '_'; no path)"));
        }

        var file = Path.Combine(paths.WorkflowsDirectory, name + ".yaml");
        if (!File.Exists(file))
        {
            return (null, ApiResults.Problem(404, "unknown workflow", $"no workflow '{name}' ({name}.yaml) in the workflows folder; GET /api/workflows lists them"));
        }

        var loaded = WorkflowLoader.Load(file);
        return loaded.Succeeded
            ? (loaded.Definition!, null)
            : (null, ApiResults.Problem(422, "invalid workflow", string.Join("\n", loaded.Diagnostics.Select(d => d.ToString()))));
    }
}
