using System.Text.Json;
using AgentFlow.Definitions;
using AgentFlow.Execution.Tools;
using Microsoft.Extensions.AI;
using ModelContextProtocol;
using ModelContextProtocol.Client;

namespace AgentFlow.Tools.Mcp;

/// <summary>
/// Opens <c>mcp:</c> tools with the official Model Context Protocol C# SDK as client: a stdio server is started once per
/// run (its command, in the workflow's folder, with only the environment variables the file names), or an HTTP server
/// is reached at its URL; every tool it lists becomes a function. A server that stops mid-call fails the step.
/// </summary>
public sealed class McpToolProvider : IToolProvider
{
    /// <inheritdoc />
    public string Kind => "mcp";

    /// <inheritdoc />
    public async Task<ToolHandle> OpenAsync(ToolDefinition tool, ToolOpenContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tool);
        ArgumentNullException.ThrowIfNull(context);
        var source = (McpToolSource)tool.Source;
        IClientTransport transport = source.Url is { } url
            ? new HttpClientTransport(new HttpClientTransportOptions { Endpoint = url, Name = tool.Name })
            : new StdioClientTransport(new StdioClientTransportOptions
            {
                Name = tool.Name,
                Command = source.Command[0],
                Arguments = [.. source.Command.Skip(1)],
                WorkingDirectory = Path.GetDirectoryName(Path.GetFullPath(context.Workflow.FilePath)),
                EnvironmentVariables = source.Env.ToDictionary(v => v, v => Environment.GetEnvironmentVariable(v), StringComparer.Ordinal),
            });

        McpClient? client = null;
        try
        {
            client = await McpClient.CreateAsync(transport, cancellationToken: cancellationToken).ConfigureAwait(false);
            var listed = await client.ListToolsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            var functions = listed.Select(t => (AIFunction)new McpFunction(tool, source, t)).ToList();
            return new ToolHandle(functions, client);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            if (client is not null)
            {
                await client.DisposeAsync().ConfigureAwait(false);
            }

            var where = source.Url?.ToString() ?? string.Join(' ', source.Command);
            throw new ToolUnavailableException($"tool '{tool.Name}': the MCP server ({where}) could not be started or listed its tools: {ex.Message}", ex);
        }
    }

    // One of the server's tools, with the tool's timeout; a closed transport means the server is gone.
    private sealed class McpFunction(ToolDefinition tool, McpToolSource source, McpClientTool inner) : DelegatingAIFunction(inner)
    {
        public override string Description => inner.Description;

        public override JsonElement JsonSchema => inner.JsonSchema;

        protected override async ValueTask<object?> InvokeCoreAsync(AIFunctionArguments arguments, CancellationToken cancellationToken)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(source.Timeout);
            try
            {
                return await inner.InvokeAsync(arguments, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"the MCP server of tool '{tool.Name}' did not answer within {source.Timeout.TotalSeconds:0.###} s");
            }
            catch (Exception ex) when (ex is ClientTransportClosedException or IOException or ObjectDisposedException
                || (ex is McpException && ex.Message.Contains("closed", StringComparison.OrdinalIgnoreCase)))
            {
                throw new ToolUnavailableException($"the MCP server of tool '{tool.Name}' stopped during a call of '{inner.Name}' ({ex.Message})", ex);
            }
        }
    }
}
