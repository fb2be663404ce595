using AgentFlow.Definitions;
using Microsoft.Extensions.AI;

namespace AgentFlow.Execution.Tools;

/// <summary>
/// The tools of one run, opened when the run starts (an MCP server is started once per run) and released when it
/// ends or parks. Only tools some agent step uses are opened.
/// </summary>
internal sealed class ToolSet : IAsyncDisposable
{
    private readonly Dictionary<string, (ToolDefinition Tool, ToolHandle Handle)> _tools;

    private ToolSet(Dictionary<string, (ToolDefinition, ToolHandle)> tools) => _tools = tools;

    /// <summary>A run without tools.</summary>
    public static ToolSet Empty { get; } = new([]);

    public static async Task<ToolSet> OpenAsync(
        WorkflowDefinition definition, IReadOnlyDictionary<string, IToolProvider> providers, ToolOpenContext context, CancellationToken cancellationToken)
    {
        var used = definition.AllSteps().OfType<AgentStepDefinition>().SelectMany(a => a.Tools).ToHashSet(StringComparer.Ordinal);
        if (used.Count == 0)
        {
            return Empty;
        }

        var opened = new Dictionary<string, (ToolDefinition, ToolHandle)>(StringComparer.Ordinal);
        var set = new ToolSet(opened);
        try
        {
            foreach (var tool in definition.Tools.Where(t => used.Contains(t.Name)))
            {
                if (!providers.TryGetValue(tool.Source.Kind, out var provider))
                {
                    throw new ToolUnavailableException($"tool '{tool.Name}' is a {tool.Source.Kind} tool, which this host cannot run (AgentFlow.Tools is not loaded)");
                }

                opened[tool.Name] = (tool, await provider.OpenAsync(tool, context, cancellationToken).ConfigureAwait(false));
            }

            return set;
        }
        catch
        {
            await set.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Whether a tool <paramref name="step"/> offers needs a person's approval for each call (<c>approve: true</c>).</summary>
    public bool NeedsApproval(AgentStepDefinition step) => step.Tools.Any(name => _tools.TryGetValue(name, out var tool) && tool.Tool.Approve);

    /// <summary>The functions <paramref name="step"/> offers its model, each with the workflow tool it comes from.</summary>
    /// <exception cref="ToolUnavailableException">Two of the step's tools offer functions of the same name.</exception>
    public IReadOnlyList<StepTool> For(AgentStepDefinition step)
    {
        var result = new List<StepTool>();
        foreach (var name in step.Tools)
        {
            var (tool, handle) = _tools[name];
            foreach (var function in handle.Functions)
            {
                if (result.FirstOrDefault(t => t.Function.Name == function.Name) is { } clash)
                {
                    throw new ToolUnavailableException($"step '{step.Id}': tools '{clash.Tool.Name}' and '{tool.Name}' both offer a function named '{function.Name}'; a model could not tell them apart");
                }

                result.Add(new StepTool(tool, function));
            }
        }

        return result;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (_, handle) in _tools.Values)
        {
            await handle.DisposeAsync().ConfigureAwait(false);
        }

        _tools.Clear();
    }
}

/// <summary>A function an agent step offers, and the workflow tool it belongs to.</summary>
/// <param name="Tool">The workflow's tool declaration.</param>
/// <param name="Function">What the model calls.</param>
internal sealed record StepTool(ToolDefinition Tool, AIFunction Function);
