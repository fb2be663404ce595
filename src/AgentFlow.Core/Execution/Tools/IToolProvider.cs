using AgentFlow.Definitions;
using Microsoft.Extensions.AI;

namespace AgentFlow.Execution.Tools;

/// <summary>
/// Turns one kind of workflow tool (<see cref="ToolSource.Kind"/>) into the <see cref="AIFunction"/>s a model may
/// call. HTTP and workflow tools live in AgentFlow.Core; MCP servers and Semantic Kernel plugins in AgentFlow.Tools,
/// whose dependencies Core does not take.
/// </summary>
public interface IToolProvider
{
    /// <summary>The kind handled: <c>http</c>, <c>workflow</c>, <c>mcp</c> or <c>plugin</c>.</summary>
    string Kind { get; }

    /// <summary>Opens <paramref name="tool"/> for one run (an MCP server is started here, and stopped when the handle is disposed).</summary>
    /// <exception cref="ToolUnavailableException">The tool cannot be used (server does not start, assembly or class missing).</exception>
    Task<ToolHandle> OpenAsync(ToolDefinition tool, ToolOpenContext context, CancellationToken cancellationToken);
}

/// <summary>What a tool provider may use while opening a tool for a run.</summary>
/// <param name="Workflow">The workflow declaring the tool (relative paths are resolved against its folder).</param>
/// <param name="RunId">The run.</param>
/// <param name="Inputs">The run's inputs (tool templates may read them).</param>
/// <param name="Time">The run's clock.</param>
public sealed record ToolOpenContext(WorkflowDefinition Workflow, string RunId, IReadOnlyDictionary<string, object?> Inputs, TimeProvider Time)
{
    /// <summary>A path written in the workflow, resolved against the workflow file's folder.</summary>
    public string Resolve(string path) =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(Workflow.FilePath)) ?? ".", path));
}

/// <summary>The functions of one opened tool and what to release when the run ends.</summary>
/// <param name="functions">What the model may call (one for http and workflow tools; every tool an MCP server lists).</param>
/// <param name="owner">Released with the handle (an MCP client and its server process); null when nothing is held.</param>
public sealed class ToolHandle(IReadOnlyList<AIFunction> functions, IAsyncDisposable? owner = null) : IAsyncDisposable
{
    /// <summary>The functions the model may call.</summary>
    public IReadOnlyList<AIFunction> Functions { get; } = functions;

    /// <inheritdoc />
    public ValueTask DisposeAsync() => owner?.DisposeAsync() ?? ValueTask.CompletedTask;
}

/// <summary>A tool cannot be used at all (it does not start, or it died mid-call): the step fails instead of going on without it.</summary>
public sealed class ToolUnavailableException : AgentFlowException
{
    /// <summary>Creates the exception.</summary>
    public ToolUnavailableException(string message, Exception? innerException = null) : base(message, innerException) { }
}
