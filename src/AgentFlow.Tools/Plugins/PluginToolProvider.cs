using System.Reflection;
using System.Runtime.Loader;
using AgentFlow.Definitions;
using AgentFlow.Execution.Tools;
using Microsoft.Extensions.AI;
using Microsoft.SemanticKernel;

namespace AgentFlow.Tools.Plugins;

/// <summary>
/// Opens <c>plugin:</c> tools: loads the assembly (its own dependencies from its folder; Semantic Kernel and
/// Microsoft.Extensions.AI shared with this process), makes a Semantic Kernel plugin of the class and exposes each
/// <c>[KernelFunction]</c> method as an <see cref="AIFunction"/> (a <see cref="KernelFunction"/> is one;
/// Semantic Kernel 1.82 marks <c>AsAIFunction</c> obsolete: "use the kernel function directly").
/// </summary>
public sealed class PluginToolProvider : IToolProvider
{
    /// <inheritdoc />
    public string Kind => "plugin";

    /// <inheritdoc />
    public Task<ToolHandle> OpenAsync(ToolDefinition tool, ToolOpenContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tool);
        ArgumentNullException.ThrowIfNull(context);
        var source = (PluginToolSource)tool.Source;
        var path = context.Resolve(source.Assembly);
        if (!File.Exists(path))
        {
            throw new ToolUnavailableException($"tool '{tool.Name}': plugin assembly {path} does not exist (the path is relative to the workflow's folder)");
        }

        Type type;
        try
        {
            var assembly = PluginLoadContext.Load(path);
            type = assembly.GetType(source.Class)
                ?? assembly.GetExportedTypes().FirstOrDefault(t => t.Name == source.Class)
                ?? throw new ToolUnavailableException($"tool '{tool.Name}': {Path.GetFileName(path)} has no public class '{source.Class}' (classes: {string.Join(", ", assembly.GetExportedTypes().Select(t => t.FullName))})");
        }
        catch (Exception ex) when (ex is BadImageFormatException or FileLoadException or ReflectionTypeLoadException)
        {
            throw new ToolUnavailableException($"tool '{tool.Name}': {path} is not a loadable .NET assembly: {ex.Message}", ex);
        }

        var plugin = KernelPluginFactory.CreateFromType(type, tool.Name);
        if (plugin.FunctionCount == 0)
        {
            throw new ToolUnavailableException($"tool '{tool.Name}': class '{type.FullName}' has no [KernelFunction] methods");
        }

        IReadOnlyList<AIFunction> functions = [.. plugin.Select(f => (AIFunction)f)];
        return Task.FromResult(new ToolHandle(functions));
    }

    // Each plugin folder resolves its own dependencies; assemblies this process has (Semantic Kernel, Microsoft.Extensions.AI)
    // come from the host, so the plugin's attributes and types are the ones AgentFlow reads.
    private sealed class PluginLoadContext(string path) : AssemblyLoadContext($"agentflow-plugin:{path}")
    {
        private static readonly Dictionary<string, Assembly> Loaded = new(StringComparer.Ordinal);
        private readonly AssemblyDependencyResolver _resolver = new(path);

        public static Assembly Load(string path)
        {
            lock (Loaded)
            {
                if (!Loaded.TryGetValue(path, out var assembly))
                {
                    assembly = new PluginLoadContext(path).LoadFromAssemblyPath(path);
                    Loaded[path] = assembly;
                }

                return assembly;
            }
        }

        protected override Assembly? Load(AssemblyName assemblyName)
        {
            try
            {
                return Default.LoadFromAssemblyName(assemblyName);
            }
            catch (FileNotFoundException)
            {
                return _resolver.ResolveAssemblyToPath(assemblyName) is { } resolved ? LoadFromAssemblyPath(resolved) : null;
            }
        }
    }
}
