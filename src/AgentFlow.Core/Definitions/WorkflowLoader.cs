using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using AgentFlow.Diagnostics;
using AgentFlow.Validation;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace AgentFlow.Definitions;

/// <summary>
/// Reads a workflow file into a <see cref="WorkflowDefinition"/>, reporting every problem at once with its
/// <c>file:line:col</c> — YAML syntax, unknown or misspelt keys, missing keys, wrong types — and then runs the
/// <see cref="WorkflowValidator"/> (references, templates, flow). Never throws on bad input.
/// </summary>
public static partial class WorkflowLoader
{
    private static readonly string[] RootKeys = ["name", "version", "description", "inputs", "models", "memory", "defaults", "budget", "steps", "outputs"];
    private static readonly string[] BudgetKeys = ["max_cost_usd", "max_tokens"];
    private static readonly string[] MemoryKeys = ["conversation", "ttl"];
    private static readonly string[] StepMemoryKeys = ["read", "write", "window"];
    private static readonly string[] WindowKeys = ["messages", "tokens"];
    private static readonly string[] DefaultsKeys = ["timeout", "retry"];
    private static readonly string[] RetryKeys = ["attempts", "backoff"];
    private static readonly string[] InputKeys = ["type", "required", "default", "description"];
    private static readonly string[] StepKinds = ["agent", "switch", "parallel", "loop"];
    private static readonly string[] StepKeys = ["id", "description", "timeout", "retry", .. StepKinds];
    private static readonly string[] AgentKeys = ["model", "system", "prompt", "max_tokens", "temperature", "top_p", "seed", "stop", "memory", "fallback"];
    private static readonly string[] SwitchKeys = ["cases", "default"];
    private static readonly string[] CaseKeys = ["when", "steps"];
    private static readonly string[] DefaultKeys = ["steps"];
    private static readonly string[] LoopKeys = ["max_iterations", "until", "on_exhausted", "steps"];

    /// <summary>Most attempts a retry policy may declare.</summary>
    public const int MaxAttempts = 10;

    /// <summary>Most iterations a loop may declare.</summary>
    public const int MaxLoopIterations = 100;

    /// <summary>Reads and checks the file at <paramref name="path"/>; an unreadable file is a diagnostic too.</summary>
    public static WorkflowLoadResult Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            var reason = ex is FileNotFoundException or DirectoryNotFoundException ? "file not found" : ex.Message;
            return new WorkflowLoadResult(null, [new Diagnostic(SourceLocation.StartOf(path), "AF0100", $"cannot read workflow: {reason}", "check the path")]);
        }

        return Parse(text, path);
    }

    /// <summary>Parses and checks workflow <paramref name="text"/>; <paramref name="path"/> is used in locations.</summary>
    public static WorkflowLoadResult Parse(string text, string path)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(path);
        var reader = new Reader(path, text);
        var definition = reader.Read();
        var diagnostics = reader.Diagnostics;
        if (definition is not null)
        {
            diagnostics.AddRange(WorkflowValidator.Validate(definition));
        }

        var ordered = diagnostics
            .OrderBy(d => d.Location.Line).ThenBy(d => d.Location.Column)
            .Distinct()
            .ToList();
        return new WorkflowLoadResult(
            ordered.Any(d => d.Severity == DiagnosticSeverity.Error) ? null : definition,
            ordered);
    }

    [GeneratedRegex("^[a-z0-9]+(-[a-z0-9]+)*$")]
    internal static partial Regex WorkflowNamePattern();

    [GeneratedRegex("^[a-z_][a-z0-9_]*$")]
    internal static partial Regex StepIdPattern();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    internal static partial Regex IdentifierPattern();

    /// <summary>One pass over the YAML tree; collects diagnostics instead of stopping at the first.</summary>
    private sealed class Reader(string path, string text)
    {
        public List<Diagnostic> Diagnostics { get; } = [];

        public WorkflowDefinition? Read()
        {
            var stream = new YamlStream();
            try
            {
                stream.Load(new StringReader(text));
            }
            catch (YamlException ex)
            {
                Error(ex.Start, "AF0101", $"YAML syntax error: {YamlMessage(ex)}", "fix the YAML syntax at this position (indentation, quotes, ':' after keys)");
                return null;
            }

            if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
            {
                Diagnostics.Add(new Diagnostic(SourceLocation.StartOf(path), "AF0103", "a workflow file must be a mapping with name, version and steps", "start from an example in workflows/"));
                return null;
            }

            var keys = Keys(root, RootKeys, "workflow");
            Require(root, keys, "name", "workflow", "name: my-workflow");
            Require(root, keys, "version", "workflow", "version: 1");
            Require(root, keys, "steps", "workflow", "steps: [ ... ]");

            var name = keys.TryGetValue("name", out var nameNode) ? Scalar(nameNode, "name") : null;
            if (name is not null && !WorkflowNamePattern().IsMatch(name))
            {
                Error(nameNode!.Start, "AF0104", $"invalid workflow name '{name}'", "use lowercase letters, digits and '-', e.g. support-triage");
            }

            var version = keys.TryGetValue("version", out var versionNode) ? Int(versionNode, "version", 1, int.MaxValue) : null;
            var description = keys.TryGetValue("description", out var descriptionNode) ? Scalar(descriptionNode, "description") : null;
            var inputs = keys.TryGetValue("inputs", out var inputsNode) ? ReadInputs(inputsNode) : [];
            var models = keys.TryGetValue("models", out var modelsNode) ? ReadModels(modelsNode) : [];
            var steps = keys.TryGetValue("steps", out var stepsNode) ? ReadSteps(stepsNode, "steps") : null;
            var outputs = keys.TryGetValue("outputs", out var outputsNode) ? ReadOutputs(outputsNode) : [];
            var defaults = keys.TryGetValue("defaults", out var defaultsNode) ? ReadDefaults(defaultsNode) : StepPolicy.None;
            var memory = keys.TryGetValue("memory", out var memoryNode) ? ReadMemory(memoryNode) : null;
            var budget = keys.TryGetValue("budget", out var budgetNode) ? ReadBudget(budgetNode) : null;

            // Even with structural errors a partial definition is returned so the validator reports reference and
            // template errors in the same pass; Parse never hands out a definition that had any error.
            return new WorkflowDefinition
            {
                Name = name ?? string.Empty,
                Version = version ?? 1,
                Description = description,
                Inputs = inputs,
                Models = models,
                Defaults = defaults,
                Memory = memory,
                Budget = budget,
                Steps = steps ?? [],
                Outputs = outputs,
                FilePath = path,
                SourceText = text,
                Sha256 = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text))),
            };
        }

        private List<InputDefinition> ReadInputs(YamlNode node)
        {
            var result = new List<InputDefinition>();
            if (Mapping(node, "inputs", "map each input name to { type, required, default }") is not { } map)
            {
                return result;
            }

            foreach (var (keyNode, valueNode) in map.Children)
            {
                var inputName = ((YamlScalarNode)keyNode).Value ?? string.Empty;
                if (!IdentifierPattern().IsMatch(inputName))
                {
                    Error(keyNode.Start, "AF0107", $"invalid input name '{inputName}'", "use letters, digits and '_' (it is used as inputs.NAME in templates)");
                }

                var type = InputType.String;
                var required = false;
                string? defaultValue = null;
                string? description = null;
                if (valueNode is YamlScalarNode { Value: null or "" })
                {
                    // "name:" alone declares an optional text input.
                }
                else if (Mapping(valueNode, $"input '{inputName}'", "e.g. { type: string, required: true }") is { } spec)
                {
                    var keys = Keys(spec, InputKeys, $"input '{inputName}'");
                    if (keys.TryGetValue("type", out var typeNode) && Scalar(typeNode, "type") is { } typeText)
                    {
                        type = typeText switch
                        {
                            "string" => InputType.String,
                            "number" => InputType.Number,
                            "integer" => InputType.Integer,
                            "boolean" => InputType.Boolean,
                            _ => Invalid(typeNode, "AF0105", $"unknown input type '{typeText}'", "use string, number, integer or boolean", InputType.String),
                        };
                    }

                    required = keys.TryGetValue("required", out var requiredNode) && (Bool(requiredNode, "required") ?? false);
                    if (keys.TryGetValue("default", out var defaultNode))
                    {
                        defaultValue = Scalar(defaultNode, "default");
                        if (defaultValue is not null && !Fits(type, defaultValue))
                        {
                            Error(defaultNode.Start, "AF0106", $"default '{defaultValue}' of input '{inputName}' is not of type {type.ToString().ToLowerInvariant()}", "change the default or the type");
                        }
                    }

                    description = keys.TryGetValue("description", out var d) ? Scalar(d, "description") : null;
                }

                result.Add(new InputDefinition(inputName, type, required, defaultValue, description, At(keyNode.Start)));
            }

            return result;
        }

        private List<ModelAliasDefinition> ReadModels(YamlNode node)
        {
            var result = new List<ModelAliasDefinition>();
            if (Mapping(node, "models", "map each alias to a registry model, e.g. writer: tiny") is not { } map)
            {
                return result;
            }

            foreach (var (keyNode, valueNode) in map.Children)
            {
                var alias = ((YamlScalarNode)keyNode).Value ?? string.Empty;
                if (!IdentifierPattern().IsMatch(alias))
                {
                    Error(keyNode.Start, "AF0108", $"invalid model alias '{alias}'", "use letters, digits and '_'");
                }

                if (Scalar(valueNode, $"model alias '{alias}'") is { Length: > 0 } model)
                {
                    result.Add(new ModelAliasDefinition(alias, model, At(keyNode.Start)));
                }
                else if (valueNode is YamlScalarNode)
                {
                    Error(valueNode.Start, "AF0109", $"model alias '{alias}' names no model", "bind it to a registry model, e.g. writer: tiny");
                }
            }

            return result;
        }

        private List<OutputDefinition> ReadOutputs(YamlNode node)
        {
            var result = new List<OutputDefinition>();
            if (Mapping(node, "outputs", "map each output name to a template, e.g. reply: \"{{ steps.draft.output }}\"") is not { } map)
            {
                return result;
            }

            foreach (var (keyNode, valueNode) in map.Children)
            {
                var outputName = ((YamlScalarNode)keyNode).Value ?? string.Empty;
                if (Template(valueNode, $"output '{outputName}'") is { } template)
                {
                    result.Add(new OutputDefinition(outputName, template));
                }
            }

            return result;
        }

        private List<StepDefinition>? ReadSteps(YamlNode node, string what, int minimum = 1)
        {
            if (node is not YamlSequenceNode sequence)
            {
                Error(node.Start, "AF0110", $"'{what}' must be a list of steps", "write each step as '- id: ...'");
                return null;
            }

            if (sequence.Children.Count < minimum)
            {
                Error(node.Start, "AF0111", minimum == 1 ? $"'{what}' has no steps" : $"'{what}' needs at least {minimum} branches", "add steps");
            }

            var steps = new List<StepDefinition>();
            foreach (var item in sequence.Children)
            {
                if (ReadStep(item) is { } step)
                {
                    steps.Add(step);
                }
            }

            return steps;
        }

        private StepDefinition? ReadStep(YamlNode node)
        {
            if (Mapping(node, "step", "a step is a mapping: { id: ..., agent: { ... } }") is not { } map)
            {
                return null;
            }

            var keys = Keys(map, StepKeys, "step");
            string? id = null;
            if (!keys.TryGetValue("id", out var idNode))
            {
                Error(map.Start, "AF0103", "step has no 'id'", "add id: a_name (lowercase, digits, '_')");
            }
            else if ((id = Scalar(idNode, "id")) is not null && !StepIdPattern().IsMatch(id))
            {
                Error(idNode.Start, "AF0112", $"invalid step id '{id}'", "use lowercase letters, digits and '_', starting with a letter (ids are used as steps.ID in templates)");
            }

            var kinds = StepKinds.Where(keys.ContainsKey).ToList();
            if (kinds.Count == 0)
            {
                Error(map.Start, "AF0113", $"step '{id}' has no kind", "add one of: agent, switch, parallel, loop");
                return null;
            }

            if (kinds.Count > 1)
            {
                // Reported once; the first kind is still read so its own problems surface in the same pass.
                Error(keys[kinds[1]].Start, "AF0114", $"step '{id}' has several kinds ({string.Join(", ", kinds)})", "a step is exactly one of agent, switch, parallel, loop: split it into several steps");
            }

            var location = At(map.Start);
            var body = keys[kinds[0]];
            id ??= string.Empty;
            var timeout = keys.TryGetValue("timeout", out var timeoutNode) ? Timeout(timeoutNode) : null;
            var retry = keys.TryGetValue("retry", out var retryNode) ? ReadRetry(retryNode) : null;
            if (kinds[0] != "agent" && (timeoutNode ?? retryNode) is { } misplaced)
            {
                Error(misplaced.Start, "AF0117", $"'timeout' and 'retry' apply to agent steps, not to {kinds[0]} '{id}'", "set them on the agent steps inside it, or under defaults:");
            }

            return kinds[0] switch
            {
                "agent" => ReadAgent(id, location, body) is { } agent ? agent with { Timeout = timeout, Retry = retry } : null,
                "switch" => ReadSwitch(id, location, body),
                "parallel" => ReadSteps(body, "parallel", minimum: 2) is { } branches ? new ParallelStepDefinition(id, location) { Branches = branches } : null,
                _ => ReadLoop(id, location, body),
            };
        }

        private AgentStepDefinition? ReadAgent(string id, SourceLocation location, YamlNode node)
        {
            if (Mapping(node, $"agent step '{id}'", "agent: { model: ALIAS, prompt: \"...\" }") is not { } map)
            {
                return null;
            }

            var keys = Keys(map, AgentKeys, $"agent step '{id}'");
            Require(map, keys, "model", $"agent step '{id}'", "model: ALIAS (declared under models:)");
            Require(map, keys, "prompt", $"agent step '{id}'", "prompt: \"...\"");
            var model = keys.TryGetValue("model", out var modelNode) ? Scalar(modelNode, "model") : null;
            var prompt = keys.TryGetValue("prompt", out var promptNode) ? Template(promptNode, "prompt") : null;
            var system = keys.TryGetValue("system", out var systemNode) ? Template(systemNode, "system") : null;
            var maxTokens = keys.TryGetValue("max_tokens", out var mt) ? Int(mt, "max_tokens", 1, 1_000_000) : null;
            var temperature = keys.TryGetValue("temperature", out var t) ? Number(t, "temperature", 0, 2) : null;
            var topP = keys.TryGetValue("top_p", out var tp) ? Number(tp, "top_p", 0, 1) : null;
            var seed = keys.TryGetValue("seed", out var s) ? Int(s, "seed", 0, int.MaxValue) : null;
            var stop = keys.TryGetValue("stop", out var stopNode) ? Strings(stopNode, "stop") : [];
            var memory = keys.TryGetValue("memory", out var memoryNode) ? ReadStepMemory(memoryNode) : null;
            var fallback = keys.TryGetValue("fallback", out var fallbackNode) ? Strings(fallbackNode, "fallback") : [];
            return new AgentStepDefinition(id, location)
            {
                Memory = memory,
                Fallback = fallback,
                FallbackLocation = fallbackNode is null ? null : At(fallbackNode.Start),
                // Missing pieces were reported above; placeholders keep the rest of the step checkable.
                ModelAlias = model ?? string.Empty,
                ModelAliasLocation = modelNode is null ? location : At(modelNode.Start),
                Prompt = prompt ?? new TemplateText(string.Empty, location),
                System = system,
                MaxTokens = maxTokens,
                Temperature = (float?)temperature,
                TopP = (float?)topP,
                Seed = seed,
                Stop = stop,
            };
        }

        private SwitchStepDefinition? ReadSwitch(string id, SourceLocation location, YamlNode node)
        {
            if (Mapping(node, $"switch step '{id}'", "switch: { cases: [ { when: ..., steps: [...] } ], default: { steps: [...] } }") is not { } map)
            {
                return null;
            }

            var keys = Keys(map, SwitchKeys, $"switch step '{id}'");
            Require(map, keys, "cases", $"switch step '{id}'", "cases: [ { when: \"...\", steps: [...] } ]");
            var cases = new List<SwitchCaseDefinition>();
            if (keys.TryGetValue("cases", out var casesNode))
            {
                if (casesNode is not YamlSequenceNode caseList || caseList.Children.Count == 0)
                {
                    Error(casesNode.Start, "AF0115", $"switch '{id}' needs a non-empty list of cases", "cases: [ { when: \"...\", steps: [...] } ]");
                }
                else
                {
                    foreach (var caseNode in caseList.Children)
                    {
                        if (Mapping(caseNode, "case", "{ when: \"...\", steps: [...] }") is not { } caseMap)
                        {
                            continue;
                        }

                        var caseKeys = Keys(caseMap, CaseKeys, "case");
                        Require(caseMap, caseKeys, "when", "case", "when: \"steps.x.output contains 'y'\"");
                        Require(caseMap, caseKeys, "steps", "case", "steps: [ ... ]");
                        var when = caseKeys.TryGetValue("when", out var whenNode) ? Template(whenNode, "when") : null;
                        var steps = caseKeys.TryGetValue("steps", out var stepsNode) ? ReadSteps(stepsNode, "steps") : null;
                        if (when is not null && steps is not null)
                        {
                            cases.Add(new SwitchCaseDefinition(when, steps, At(caseMap.Start)));
                        }
                    }
                }
            }

            List<StepDefinition>? fallback = null;
            if (keys.TryGetValue("default", out var defaultNode) && Mapping(defaultNode, "default", "default: { steps: [...] }") is { } defaultMap)
            {
                var defaultKeys = Keys(defaultMap, DefaultKeys, "default");
                Require(defaultMap, defaultKeys, "steps", "default", "steps: [ ... ]");
                fallback = defaultKeys.TryGetValue("steps", out var stepsNode) ? ReadSteps(stepsNode, "steps") : null;
            }

            return new SwitchStepDefinition(id, location) { Cases = cases, Default = fallback };
        }

        private MemoryDefinition? ReadMemory(YamlNode node)
        {
            if (Mapping(node, "memory", "memory: { conversation: \"{{ inputs.customer_id }}\", ttl: 30d }") is not { } map)
            {
                return null;
            }

            var keys = Keys(map, MemoryKeys, "memory");
            Require(map, keys, "conversation", "memory", "conversation: \"{{ inputs.customer_id }}\"");
            var conversation = keys.TryGetValue("conversation", out var c) ? Template(c, "conversation") : null;
            var ttl = keys.TryGetValue("ttl", out var t) ? Duration(t, "ttl") : null;
            return conversation is null ? null : new MemoryDefinition(conversation, ttl);
        }

        private StepMemoryDefinition? ReadStepMemory(YamlNode node)
        {
            if (Mapping(node, "memory", "memory: { read: true, write: true, window: { messages: 20 } }") is not { } map)
            {
                return null;
            }

            var keys = Keys(map, StepMemoryKeys, "step memory");
            var read = keys.TryGetValue("read", out var r) && (Bool(r, "read") ?? false);
            var write = keys.TryGetValue("write", out var w) && (Bool(w, "write") ?? false);
            int? messages = null;
            int? tokens = null;
            if (keys.TryGetValue("window", out var windowNode) && Mapping(windowNode, "window", "window: { messages: 20 } or window: { tokens: 1500 }") is { } window)
            {
                var windowKeys = Keys(window, WindowKeys, "window");
                messages = windowKeys.TryGetValue("messages", out var m) ? Int(m, "messages", 1, 10_000) : null;
                tokens = windowKeys.TryGetValue("tokens", out var tk) ? Int(tk, "tokens", 1, 10_000_000) : null;
                if (messages is not null && tokens is not null)
                {
                    Error(window.Start, "AF0118", "a memory window is either { messages: N } or { tokens: N }, not both", "keep one");
                }
            }

            if (!read && !write)
            {
                Error(map.Start, "AF0118", "step memory neither reads nor writes", "set read: true and/or write: true, or remove memory:");
            }

            return new StepMemoryDefinition(read, write, messages, tokens, At(map.Start));
        }

        private BudgetDefinition? ReadBudget(YamlNode node)
        {
            if (Mapping(node, "budget", "budget: { max_cost_usd: 0.50, max_tokens: 20000 }") is not { } map)
            {
                return null;
            }

            var keys = Keys(map, BudgetKeys, "budget");
            var cost = keys.TryGetValue("max_cost_usd", out var c) ? Number(c, "max_cost_usd", 0, 1_000_000) : null;
            var tokens = keys.TryGetValue("max_tokens", out var t) ? Int(t, "max_tokens", 1, int.MaxValue) : null;
            return new BudgetDefinition(cost, tokens);
        }

        private StepPolicy ReadDefaults(YamlNode node)
        {
            if (Mapping(node, "defaults", "defaults: { timeout: 60s, retry: { attempts: 3, backoff: 2s } }") is not { } map)
            {
                return StepPolicy.None;
            }

            var keys = Keys(map, DefaultsKeys, "defaults");
            return new StepPolicy(
                keys.TryGetValue("timeout", out var timeout) ? Timeout(timeout) : null,
                keys.TryGetValue("retry", out var retry) ? ReadRetry(retry) : null);
        }

        private RetryDefinition? ReadRetry(YamlNode node)
        {
            if (Mapping(node, "retry", "retry: { attempts: 3, backoff: 2s }") is not { } map)
            {
                return null;
            }

            var keys = Keys(map, RetryKeys, "retry");
            Require(map, keys, "attempts", "retry", "attempts: 3");
            var attempts = keys.TryGetValue("attempts", out var attemptsNode) ? Int(attemptsNode, "attempts", 1, MaxAttempts) : null;
            var backoff = keys.TryGetValue("backoff", out var backoffNode) ? Duration(backoffNode, "backoff") : null;
            return attempts is null ? null : new RetryDefinition(attempts.Value, backoff ?? TimeSpan.FromSeconds(1));
        }

        // Polly's bounds for one attempt: at least 10 ms, at most a day.
        private TimeSpan? Timeout(YamlNode node)
        {
            var value = Duration(node, "timeout");
            if (value is { } t && (t < TimeSpan.FromMilliseconds(10) || t > TimeSpan.FromDays(1)))
            {
                Error(node.Start, "AF0105", $"'timeout' must be from 10ms to 1d, got '{((YamlScalarNode)node).Value}'", "e.g. timeout: 60s");
                return null;
            }

            return value;
        }

        private TimeSpan? Duration(YamlNode node, string what)
        {
            if (Scalar(node, what) is not { } text)
            {
                return null;
            }

            if (DurationText.TryParse(text, out var value) && value > TimeSpan.Zero)
            {
                return value;
            }

            Error(node.Start, "AF0105", $"'{what}' must be a positive duration such as 500ms, 30s, 5m, 2h or 1d, got '{text}'", $"e.g. {what}: 30s");
            return null;
        }

        private LoopStepDefinition? ReadLoop(string id, SourceLocation location, YamlNode node)
        {
            if (Mapping(node, $"loop step '{id}'", "loop: { max_iterations: 3, until: \"...\", steps: [...] }") is not { } map)
            {
                return null;
            }

            var keys = Keys(map, LoopKeys, $"loop step '{id}'");
            if (!keys.ContainsKey("max_iterations"))
            {
                Error(map.Start, "AF0116", $"loop '{id}' has no 'max_iterations'", "loops are never unbounded: add max_iterations: N (1..100)");
            }

            Require(map, keys, "until", $"loop '{id}'", "until: \"steps.x.output contains 'DONE'\"");
            Require(map, keys, "steps", $"loop '{id}'", "steps: [ ... ]");
            var max = keys.TryGetValue("max_iterations", out var maxNode) ? Int(maxNode, "max_iterations", 1, MaxLoopIterations) : null;
            var until = keys.TryGetValue("until", out var untilNode) ? Template(untilNode, "until") : null;
            var steps = keys.TryGetValue("steps", out var stepsNode) ? ReadSteps(stepsNode, "steps") : null;
            var onExhausted = LoopExhaustedBehavior.Fail;
            if (keys.TryGetValue("on_exhausted", out var exhaustedNode) && Scalar(exhaustedNode, "on_exhausted") is { } text)
            {
                onExhausted = text switch
                {
                    "fail" => LoopExhaustedBehavior.Fail,
                    "continue" => LoopExhaustedBehavior.Continue,
                    _ => Invalid(exhaustedNode, "AF0105", $"unknown on_exhausted '{text}'", "use fail or continue", LoopExhaustedBehavior.Fail),
                };
            }

            return new LoopStepDefinition(id, location)
            {
                MaxIterations = max ?? 1,
                Until = until ?? new TemplateText("false", location),
                Steps = steps ?? [],
                OnExhausted = onExhausted,
            };
        }

        /// <summary>Checks the keys of <paramref name="map"/> against <paramref name="allowed"/>, suggesting the near one.</summary>
        private Dictionary<string, YamlNode> Keys(YamlMappingNode map, string[] allowed, string what)
        {
            var keys = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
            foreach (var (keyNode, valueNode) in map.Children)
            {
                var key = (keyNode as YamlScalarNode)?.Value ?? string.Empty;
                if (!allowed.Contains(key, StringComparer.Ordinal))
                {
                    var near = NameSuggestion.Nearest(key, allowed);
                    Error(keyNode.Start, "AF0102", $"unknown key '{key}' in {what}" + (near is null ? string.Empty : $"; did you mean '{near}'?"),
                        $"allowed keys: {string.Join(", ", allowed)}");
                    continue;
                }

                keys[key] = valueNode;
            }

            return keys;
        }

        private void Require(YamlMappingNode map, Dictionary<string, YamlNode> keys, string key, string what, string example)
        {
            if (!keys.ContainsKey(key))
            {
                Error(map.Start, "AF0103", $"{what} is missing required key '{key}'", $"add {example}");
            }
        }

        private YamlMappingNode? Mapping(YamlNode node, string what, string hint)
        {
            if (node is YamlMappingNode map)
            {
                return map;
            }

            Error(node.Start, "AF0105", $"{what} must be a mapping", hint);
            return null;
        }

        private string? Scalar(YamlNode node, string what)
        {
            if (node is YamlScalarNode scalar)
            {
                return scalar.Value ?? string.Empty;
            }

            Error(node.Start, "AF0105", $"'{what}' must be a single value, not a {(node is YamlSequenceNode ? "list" : "mapping")}", "write it on one line, quoted if it contains ':' or '#'");
            return null;
        }

        private TemplateText? Template(YamlNode node, string what)
        {
            if (Scalar(node, what) is not { } value)
            {
                return null;
            }

            // Point at the text itself: past the opening quote of a quoted scalar.
            var start = At(node.Start);
            if (node is YamlScalarNode { Style: ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted })
            {
                start = start with { Column = start.Column + 1 };
            }

            return new TemplateText(value, start);
        }

        private int? Int(YamlNode node, string what, int min, int max)
        {
            if (Scalar(node, what) is not { } text)
            {
                return null;
            }

            if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
            {
                var range = max == int.MaxValue ? (min == 1 ? "a positive integer" : $"an integer of at least {min}") : $"an integer from {min} to {max}";
                Error(node.Start, "AF0105", $"'{what}' must be {range}, got '{text}'", $"e.g. {what}: {Math.Max(min, 1)}");
                return null;
            }

            return value;
        }

        private double? Number(YamlNode node, string what, double min, double max)
        {
            if (Scalar(node, what) is not { } text)
            {
                return null;
            }

            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
            {
                Error(node.Start, "AF0105", $"'{what}' must be a number from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}, got '{text}'", $"e.g. {what}: {min.ToString(CultureInfo.InvariantCulture)}");
                return null;
            }

            return value;
        }

        private bool? Bool(YamlNode node, string what)
        {
            if (Scalar(node, what) is not { } text)
            {
                return null;
            }

            if (bool.TryParse(text, out var value))
            {
                return value;
            }

            Error(node.Start, "AF0105", $"'{what}' must be true or false, got '{text}'", $"{what}: true");
            return null;
        }

        private List<string> Strings(YamlNode node, string what)
        {
            if (node is YamlScalarNode scalar)
            {
                return [scalar.Value ?? string.Empty];
            }

            if (node is not YamlSequenceNode sequence)
            {
                Error(node.Start, "AF0105", $"'{what}' must be a list of strings", $"{what}: [\"\\n\"]");
                return [];
            }

            return [.. sequence.Children.Select(c => Scalar(c, what)).OfType<string>()];
        }

        private T Invalid<T>(YamlNode node, string code, string message, string hint, T fallback)
        {
            Error(node.Start, code, message, hint);
            return fallback;
        }

        private static bool Fits(InputType type, string value) => type switch
        {
            InputType.Integer => long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out _),
            InputType.Number => double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _),
            InputType.Boolean => bool.TryParse(value, out _),
            _ => true,
        };

        private static string YamlMessage(YamlException ex)
        {
            // YamlDotNet prefixes "(Line: 3, Col: 5, Idx: 20) - (Line: …): " — the location is printed by us.
            var message = ex.Message;
            var dash = message.IndexOf("): ", StringComparison.Ordinal);
            return (dash >= 0 ? message[(dash + 3)..] : message).Trim().TrimEnd('.');
        }

        private void Error(Mark mark, string code, string message, string? hint) =>
            Diagnostics.Add(new Diagnostic(At(mark), code, message, hint));

        private SourceLocation At(Mark mark) => new(path, (int)Math.Max(1, mark.Line), (int)Math.Max(1, mark.Column));
    }
}
