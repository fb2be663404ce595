using System.Text.Json;
using System.Text.Json.Nodes;
using AgentFlow.Definitions;
using AgentFlow.Diagnostics;
using AgentFlow.Templates;
using Json.Schema;

namespace AgentFlow.Validation;

/// <summary>
/// Checks a workflow's <c>tools:</c> and the tool keys of its agent steps: parameter schemas are JSON Schema
/// (draft 2020-12) of an object, http templates read only <c>args</c> the schema declares and declared
/// <c>inputs</c>, an http tool's host is written out (arguments never choose it), workflow tools name files that exist
/// and do not call back into themselves, and steps name declared tools.
/// </summary>
/// <remarks>Codes: AF0405 unknown tool, AF0406 bad tool_choice, AF0407 invalid parameters schema, AF0408 template over
/// unknown args, AF0409 http url problem, AF0410 unused tool (warning), AF0411 workflow tool file missing or unreadable,
/// AF0412 workflow tools calling back into a workflow already on the path, AF0413 argument the child workflow does not take.</remarks>
internal static class ToolValidator
{
    /// <summary>Most nested workflow-tool files followed when looking for recursion.</summary>
    private const int MaxDepth = 16;

    public static void Validate(WorkflowDefinition definition, List<Diagnostic> diagnostics)
    {
        var tools = definition.Tools.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var inputs = definition.Inputs.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var tool in definition.Tools)
        {
            var properties = CheckSchema(tool, diagnostics);
            switch (tool.Source)
            {
                case HttpToolSource http:
                    CheckHttp(tool, http, properties, inputs, diagnostics);
                    break;
                case WorkflowToolSource workflow:
                    CheckWorkflow(definition, tool, workflow, properties, diagnostics);
                    break;
            }
        }

        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var agent in definition.AllSteps().OfType<AgentStepDefinition>())
        {
            var at = agent.ToolsLocation ?? agent.Location;
            foreach (var name in agent.Tools)
            {
                used.Add(name);
                if (!tools.ContainsKey(name))
                {
                    diagnostics.Add(new Diagnostic(at, "AF0405", $"step '{agent.Id}' uses unknown tool '{name}'" + NameSuggestion.DidYouMean(name, tools.Keys),
                        tools.Count == 0 ? "declare it under tools: at the top level" : $"declared tools: {string.Join(", ", tools.Keys)}"));
                }
            }

            if (agent.Tools.Count != agent.Tools.Distinct(StringComparer.Ordinal).Count())
            {
                diagnostics.Add(new Diagnostic(at, "AF0405", $"step '{agent.Id}' lists a tool twice", "name each tool once"));
            }

            CheckChoice(agent, tools, diagnostics);
        }

        foreach (var tool in definition.Tools.Where(t => !used.Contains(t.Name)))
        {
            diagnostics.Add(new Diagnostic(tool.Location, "AF0410", $"tool '{tool.Name}' is not used by any step", "remove it, or add it to a step's tools:", DiagnosticSeverity.Warning));
        }
    }

    private static void CheckChoice(AgentStepDefinition agent, Dictionary<string, ToolDefinition> tools, List<Diagnostic> diagnostics)
    {
        if (agent.ToolChoice is not { } choice)
        {
            if (agent.MaxToolCalls is not null && agent.Tools.Count == 0)
            {
                diagnostics.Add(new Diagnostic(agent.Location, "AF0406", $"step '{agent.Id}' sets max_tool_calls but has no tools", "add tools: [ ... ] or remove max_tool_calls"));
            }

            return;
        }

        if (agent.Tools.Count == 0)
        {
            diagnostics.Add(new Diagnostic(choice.Location, "AF0406", $"step '{agent.Id}' sets tool_choice but has no tools", "add tools: [ ... ] or remove tool_choice"));
            return;
        }

        // A server's or plugin's tools are only known when it runs: a name there is checked then.
        var dynamic = agent.Tools.Any(t => tools.TryGetValue(t, out var d) && d.Source is McpToolSource or PluginToolSource);
        if (choice.ToolName is { } name && !agent.Tools.Contains(name, StringComparer.Ordinal) && !dynamic)
        {
            diagnostics.Add(new Diagnostic(choice.Location, "AF0406", $"tool_choice '{name}' of step '{agent.Id}' is not one of its tools" + NameSuggestion.DidYouMean(name, [.. agent.Tools, "auto", "required", "none"]),
                $"use auto, required, none or one of: {string.Join(", ", agent.Tools)}"));
        }
    }

    // Returns the declared argument names (null when the schema is missing or not an object schema).
    private static HashSet<string>? CheckSchema(ToolDefinition tool, List<Diagnostic> diagnostics)
    {
        if (tool.Parameters is not { } parameters)
        {
            return null;
        }

        var at = tool.ParametersLocation ?? tool.Location;
        var element = JsonSerializer.SerializeToElement(parameters);
        EvaluationResults meta;
        try
        {
            meta = MetaSchemas.Draft202012.Evaluate(element, new EvaluationOptions { OutputFormat = OutputFormat.List });
        }
        catch (Exception ex) when (ex is JsonSchemaException or JsonException or ArgumentException or InvalidOperationException or FormatException or OverflowException)
        {
            // e.g. a pattern .NET's regex engine refuses, found while checking format: regex.
            diagnostics.Add(new Diagnostic(at, "AF0407", $"the parameters of tool '{tool.Name}' are not a usable JSON Schema: {ex.Message}", "check the schema's keywords and patterns"));
            return null;
        }

        if (!meta.IsValid)
        {
            // The deepest failing place is the one to fix (shallower ones only say a branch did not match).
            var problem = meta.Details?.Where(d => d.Errors is { Count: > 0 })
                .OrderByDescending(d => d.InstanceLocation.ToString().Count(c => c == '/'))
                .Select(d => $"{(d.InstanceLocation.ToString() is { Length: > 0 } where ? where : "/")}: {d.Errors!.First().Value}").FirstOrDefault();
            diagnostics.Add(new Diagnostic(at, "AF0407", $"the parameters of tool '{tool.Name}' are not a valid JSON Schema: {problem ?? "does not match the draft 2020-12 meta-schema"}",
                "write a JSON Schema, e.g. { type: object, properties: { id: { type: string } }, required: [id] }"));
            return null;
        }

        try
        {
            _ = JsonSchema.Build(element);
        }
        catch (Exception ex) when (ex is JsonSchemaException or JsonException or ArgumentException or InvalidOperationException or FormatException or OverflowException)
        {
            diagnostics.Add(new Diagnostic(at, "AF0407", $"the parameters of tool '{tool.Name}' are not a usable JSON Schema: {ex.Message}", "check the schema's keywords and patterns"));
            return null;
        }

        if (parameters["type"] is not JsonValue type || type.GetValueKind() != JsonValueKind.String || type.GetValue<string>() != "object")
        {
            diagnostics.Add(new Diagnostic(at, "AF0407", $"the parameters of tool '{tool.Name}' must be an object schema (type: object)", "arguments are named: parameters: { type: object, properties: { ... } }"));
            return null;
        }

        return parameters["properties"] is JsonObject properties ? [.. properties.Select(p => p.Key)] : [];
    }

    private static void CheckHttp(ToolDefinition tool, HttpToolSource http, HashSet<string>? args, HashSet<string> inputs, List<Diagnostic> diagnostics)
    {
        CheckArgsTemplate(tool, http.Url, "url", args, inputs, diagnostics);
        if (http.Body is { } body)
        {
            CheckArgsTemplate(tool, body, "body", args, inputs, diagnostics);
        }

        // The host must be fixed by the file (or an input, rendered once per run), never by the model's arguments.
        var text = http.Url.Text;
        var firstArgs = text.IndexOf("args", StringComparison.Ordinal);
        var scheme = text.IndexOf("://", StringComparison.Ordinal);
        if (!text.StartsWith("{{", StringComparison.Ordinal) && !(text.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || text.StartsWith("https://", StringComparison.OrdinalIgnoreCase)))
        {
            diagnostics.Add(new Diagnostic(http.Url.Location, "AF0409", $"the url of tool '{tool.Name}' must be an absolute http:// or https:// URL", "e.g. url: \"http://127.0.0.1:8099/orders/{{ args.order_id }}\""));
            return;
        }

        if (firstArgs >= 0)
        {
            var authorityEnd = scheme >= 0 && scheme < firstArgs ? text.IndexOf('/', scheme + 3) : text.IndexOf("}}/", StringComparison.Ordinal) is var i and >= 0 ? i + 2 : -1;
            if (authorityEnd < 0 || authorityEnd > firstArgs)
            {
                diagnostics.Add(new Diagnostic(http.Url.LocationOf(firstArgs), "AF0409", $"the url of tool '{tool.Name}' lets the arguments choose the host",
                    "write the scheme and host out (or take them from an input), and use args only after the first '/' of the path"));
            }
        }
    }

    private static void CheckArgsTemplate(ToolDefinition tool, TemplateText text, string what, HashSet<string>? args, HashSet<string> inputs, List<Diagnostic> diagnostics)
    {
        if (!LiquidEngine.TryParse(text.Text, text, "template", prefixLength: 0, out var template, out var diagnostic))
        {
            diagnostics.Add(diagnostic!);
            return;
        }

        var references = TemplateReferences.Collect(template!);
        foreach (var path in references.Paths.Where(p => !references.Locals.Contains(p[0])))
        {
            var index = Math.Max(0, text.Text.IndexOf(string.Join('.', path), StringComparison.Ordinal));
            var at = text.LocationOf(index);
            switch (path[0])
            {
                case "args" when path.Count < 2:
                    diagnostics.Add(new Diagnostic(at, "AF0408", $"the {what} of tool '{tool.Name}' uses 'args' without a name", "write args.NAME"));
                    break;
                case "args" when args is not null && !args.Contains(path[1]):
                    diagnostics.Add(new Diagnostic(at, "AF0408", $"the {what} of tool '{tool.Name}' uses unknown argument '{path[1]}'" + NameSuggestion.DidYouMean(path[1], args),
                        args.Count == 0 ? "declare it under the tool's parameters: properties:" : $"the parameters declare: {string.Join(", ", args)}"));
                    break;
                case "inputs" when path.Count >= 2 && !inputs.Contains(path[1]):
                    diagnostics.Add(new Diagnostic(at, "AF0204", $"the {what} of tool '{tool.Name}' uses unknown input '{path[1]}'" + NameSuggestion.DidYouMean(path[1], inputs),
                        inputs.Count == 0 ? "declare it under inputs:" : $"declared inputs: {string.Join(", ", inputs)}"));
                    break;
                case "args" or "inputs":
                    break;
                default:
                    diagnostics.Add(new Diagnostic(at, "AF0408", $"the {what} of tool '{tool.Name}' uses unknown variable '{path[0]}'" + NameSuggestion.DidYouMean(path[0], ["args", "inputs"]),
                        "tool templates read args.NAME (the call's arguments) and inputs.NAME"));
                    break;
            }
        }

        foreach (var filter in references.Filters.Where(f => !LiquidEngine.HasFilter(f)).Distinct(StringComparer.Ordinal))
        {
            diagnostics.Add(new Diagnostic(text.Location, "AF0303", $"the {what} of tool '{tool.Name}' uses unknown filter '{filter}'" + NameSuggestion.DidYouMean(filter, LiquidEngine.FilterNames), "see the Liquid filters"));
        }
    }

    private static void CheckWorkflow(WorkflowDefinition definition, ToolDefinition tool, WorkflowToolSource source, HashSet<string>? args, List<Diagnostic> diagnostics)
    {
        var path = ResolvePath(definition.FilePath, source.File);
        if (!File.Exists(path))
        {
            diagnostics.Add(new Diagnostic(source.Location, "AF0411", $"workflow '{source.File}' of tool '{tool.Name}' does not exist", $"the path is relative to this workflow's folder (looked for {path})"));
            return;
        }

        var self = Path.GetFullPath(definition.FilePath);
        if (FindCycle(path, [self], depth: 0) is { } cycle)
        {
            diagnostics.Add(new Diagnostic(source.Location, "AF0412", $"tool '{tool.Name}' calls back into a workflow already running: {string.Join(" -> ", cycle.Select(Path.GetFileName))}",
                "a workflow tool may not (directly or through others) run the workflow that calls it"));
            return;
        }

        if (args is not null && ReadChild(path) is { } child)
        {
            var childInputs = child.Inputs.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
            foreach (var arg in args.Where(a => !childInputs.Contains(a)))
            {
                diagnostics.Add(new Diagnostic(tool.ParametersLocation ?? tool.Location, "AF0413", $"argument '{arg}' of tool '{tool.Name}' is not an input of workflow '{source.File}'" + NameSuggestion.DidYouMean(arg, childInputs),
                    childInputs.Count == 0 ? $"'{source.File}' takes no inputs" : $"its inputs: {string.Join(", ", childInputs)}"));
            }
        }
    }

    /// <summary>Where a workflow tool's file is: relative to the folder of the workflow that declares it.</summary>
    public static string ResolvePath(string declaringFile, string file) =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(declaringFile)) ?? ".", file));

    // Follows the workflow tools of each file (text only: the child's own validation runs when it is run or validated).
    internal static List<string>? FindCycle(string path, List<string> chain, int depth)
    {
        if (chain.Contains(path, StringComparer.Ordinal))
        {
            return [.. chain, path];
        }

        if (depth >= MaxDepth || ReadChild(path) is not { } child)
        {
            return null;
        }

        foreach (var source in child.Tools.Select(t => t.Source).OfType<WorkflowToolSource>())
        {
            if (FindCycle(ResolvePath(path, source.File), [.. chain, path], depth + 1) is { } cycle)
            {
                return cycle;
            }
        }

        // Workflow steps run child runs too (SubWorkflowValidator).
        foreach (var step in child.AllSteps().OfType<WorkflowStepDefinition>())
        {
            if (WorkflowStepDefinition.TryResolve(path, step.File) is { } next && FindCycle(next, [.. chain, path], depth + 1) is { } cycle)
            {
                return cycle;
            }
        }

        return null;
    }

    // The child's structure only (no validation, so its own workflow tools are not followed again from here).
    internal static WorkflowDefinition? ReadChild(string path)
    {
        try
        {
            return WorkflowLoader.ReadStructure(File.ReadAllText(path), path);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
