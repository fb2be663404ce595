using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AgentFlow.Server.Http;

/// <summary>
/// Keeps the server's own paths out of responses: a file of the workflows folder is named relative to it
/// (<c>hello.yaml:3:5</c>), anything else under the working directory relative to that, the folders themselves by role.
/// </summary>
internal sealed class ServerPaths(string workflowsDirectory, string workingDirectory)
{
    private readonly string _workflows = Path.TrimEndingDirectorySeparator(workflowsDirectory);
    private readonly string _working = Path.TrimEndingDirectorySeparator(workingDirectory);

    /// <summary>The folder of the workflows the API may start.</summary>
    public string WorkflowsDirectory => _workflows;

    /// <summary><paramref name="text"/> with every server path replaced by a relative one.</summary>
    public string Hide(string text) => text
        .Replace(_workflows + Path.DirectorySeparatorChar, string.Empty, StringComparison.Ordinal)
        .Replace(_workflows, "the workflows folder", StringComparison.Ordinal)
        .Replace(_working + Path.DirectorySeparatorChar, string.Empty, StringComparison.Ordinal)
        .Replace(_working, ".", StringComparison.Ordinal);

    /// <summary>An endpoint filter applying <see cref="Hide"/> to every problem detail the API returns.</summary>
    public sealed class Filter(ServerPaths paths) : IEndpointFilter
    {
        public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
        {
            var result = await next(context).ConfigureAwait(false);
            if (result is ProblemHttpResult { ProblemDetails: { Detail: { } detail } problem })
            {
                problem.Detail = paths.Hide(detail);
            }

            return result;
        }
    }
}
