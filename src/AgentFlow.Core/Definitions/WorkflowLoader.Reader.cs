using AgentFlow.Definitions.Yaml;
using AgentFlow.Diagnostics;

namespace AgentFlow.Definitions;

public static partial class WorkflowLoader
{
    private static readonly string[] RootKeys = ["name", "version", "description", "inputs", "models", "split_key", "memory", "defaults", "budget", "steps", "outputs", "tools"];
    private static readonly string[] InputKeys = ["type", "required", "default", "description"];
    private static readonly string[] BudgetKeys = ["max_cost_usd", "max_tokens"];
    private static readonly string[] MemoryKeys = ["conversation", "ttl"];
    private static readonly string[] DefaultsKeys = ["timeout", "retry"];

    // The conversation stores' limit (ConversationTurns.MaxTtl), checked here so a run cannot fail on it later.
    private static readonly TimeSpan MaxConversationTtl = TimeSpan.FromDays(3650);

    /// <summary>
    /// One pass over the YAML tree: the workflow's top level here, steps in <c>WorkflowLoader.Steps.cs</c>, typed values in
    /// <c>WorkflowLoader.Values.cs</c>. Collects diagnostics instead of stopping at the first, and substitutes
    /// placeholders for broken parts so the rest is still checked (the definition is never handed out with errors).
    /// </summary>
    private sealed partial class Reader(string path, string text, List<Diagnostic> diagnostics)
    {
        public WorkflowDefinition? Read(YamlTreeNode rootNode)
        {
            if (rootNode is not YamlTreeMapping root)
            {
                Error(rootNode.Start, "AF0103", $"a workflow file must be a mapping with name, version and steps, not {rootNode.Describe()}", "start from an example in workflows/");
                return null;
            }

            var keys = Keys(root, RootKeys, "workflow");
            Require(root, keys, "name", "workflow", "name: my-workflow");
            Require(root, keys, "version", "workflow", "version: 1");
            Require(root, keys, "steps", "workflow", "steps: [ ... ]");

            var name = keys.TryGetValue("name", out var nameNode) ? Scalar(nameNode, "name") : null;
            if (name is not null && !WorkflowNamePattern().IsMatch(name))
            {
                Error(nameNode!.Start, "AF0104", $"invalid workflow name '{name}'", "use lowercase letters, digits and single '-' between them, e.g. support-triage");
            }

            var version = keys.TryGetValue("version", out var versionNode) ? Int(versionNode, "version", 1, int.MaxValue) : null;
            var description = keys.TryGetValue("description", out var descriptionNode) ? OptionalScalar(descriptionNode, "description") : null;
            var inputs = keys.TryGetValue("inputs", out var inputsNode) ? ReadInputs(inputsNode) : [];
            var models = keys.TryGetValue("models", out var modelsNode) ? ReadModels(modelsNode) : [];
            var splitKey = keys.TryGetValue("split_key", out var splitKeyNode) ? Template(splitKeyNode, "split_key", required: true) : null;
            var memory = keys.TryGetValue("memory", out var memoryNode) ? ReadMemory(memoryNode) : null;
            var defaults = keys.TryGetValue("defaults", out var defaultsNode) ? ReadDefaults(defaultsNode) : StepPolicy.None;
            var budget = keys.TryGetValue("budget", out var budgetNode) ? ReadBudget(budgetNode) : null;
            var tools = keys.TryGetValue("tools", out var toolsNode) ? ReadTools(toolsNode) : [];
            var steps = keys.TryGetValue("steps", out var stepsNode) ? ReadSteps(stepsNode, "'steps'") : null;
            var outputs = keys.TryGetValue("outputs", out var outputsNode) ? ReadOutputs(outputsNode) : [];

            // Even with structural errors a partial definition is returned so the validator reports reference and
            // template errors in the same pass; Parse never hands out a definition that had any error.
            return new WorkflowDefinition
            {
                Name = name ?? string.Empty,
                Version = version ?? 1,
                Description = description,
                Inputs = inputs,
                Models = models,
                SplitKey = splitKey,
                Memory = memory,
                Defaults = defaults,
                Budget = budget,
                Tools = tools,
                Steps = steps ?? [],
                Outputs = outputs,
                FilePath = path,
                SourceText = text,
                Sha256 = Sha256Of(text),
            };
        }

        private List<InputDefinition> ReadInputs(YamlTreeNode node)
        {
            var result = new List<InputDefinition>();
            if (Mapping(node, "inputs", "map each input name to { type, required, default }", allowNull: true) is not { } map)
            {
                return result;
            }

            foreach (var (keyNode, valueNode) in map.Entries)
            {
                var inputName = keyNode.Value;
                if (!IdentifierPattern().IsMatch(inputName))
                {
                    Error(keyNode.Start, "AF0107", $"invalid input name '{inputName}'", "use letters, digits and '_', not starting with a digit (templates read it as inputs.NAME)");
                }

                var type = InputType.String;
                var required = false;
                string? defaultValue = null;
                string? description = null;
                if (valueNode is YamlTreeScalar { IsNull: true })
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
                            _ => Invalid(typeNode, "AF0105", $"unknown input type '{typeText}'" + NameSuggestion.DidYouMean(typeText, InputTypes), "use string, number, integer or boolean", InputType.String),
                        };
                    }

                    required = keys.TryGetValue("required", out var requiredNode) && (Bool(requiredNode, "required") ?? false);
                    if (keys.TryGetValue("default", out var defaultNode))
                    {
                        defaultValue = Scalar(defaultNode, "default");
                        if (defaultValue is not null && !Fits(type, defaultValue))
                        {
                            Error(defaultNode.Start, "AF0106", $"default '{defaultValue}' of input '{inputName}' is not of type {type.ToString().ToLowerInvariant()}",
                                $"change the default or the type; {Example(type)}");
                        }

                        if (required)
                        {
                            Warning(defaultNode.Start, "AF0124", $"input '{inputName}' is required, so its default is never used", "remove required: true or the default");
                        }
                    }

                    description = keys.TryGetValue("description", out var d) ? OptionalScalar(d, "description") : null;
                }

                result.Add(new InputDefinition(inputName, type, required, defaultValue, description, At(keyNode.Start)));
            }

            return result;
        }

        private static readonly string[] InputTypes = ["string", "number", "integer", "boolean"];

        private static string Example(InputType type) => type switch
        {
            InputType.Integer => "an integer is written like 3",
            InputType.Number => "a number is written like 0.5",
            InputType.Boolean => "a boolean is true or false",
            _ => "any text",
        };

        private List<ModelAliasDefinition> ReadModels(YamlTreeNode node)
        {
            var result = new List<ModelAliasDefinition>();
            if (Mapping(node, "models", "map each alias to a registry model, e.g. writer: tiny", allowNull: true) is not { } map)
            {
                return result;
            }

            foreach (var (keyNode, valueNode) in map.Entries)
            {
                var alias = keyNode.Value;
                if (!IdentifierPattern().IsMatch(alias))
                {
                    Error(keyNode.Start, "AF0108", $"invalid model alias '{alias}'", "use letters, digits and '_', not starting with a digit");
                }

                if (valueNode is YamlTreeScalar { IsNull: true })
                {
                    Error(valueNode.Start, "AF0109", $"model alias '{alias}' names no model", $"bind it to a model of the registry, e.g. {alias}: tiny");
                }
                else if (valueNode is YamlTreeMapping weights)
                {
                    // A weighted split: writer: { qwen: 80, phi: 20 }.
                    var split = new List<ModelWeight>();
                    foreach (var (modelNode, weightNode) in weights.Entries)
                    {
                        if (Int(weightNode, $"models.{alias}.{modelNode.Value}", 0, 1_000_000) is { } weight)
                        {
                            split.Add(new ModelWeight(modelNode.Value, weight));
                        }
                    }

                    if (weights.Entries.Count == 0 || (split.Count == weights.Entries.Count && split.All(w => w.Weight == 0)))
                    {
                        Error(valueNode.Start, "AF0125", $"the split of model alias '{alias}' has no weight above 0", $"give each model a weight, e.g. {alias}: {{ tiny: 80, tiny2: 20 }}");
                    }

                    // Declared even when broken, so steps using the alias are not reported as using an unknown one.
                    if (split.Count > 0)
                    {
                        result.Add(new ModelAliasDefinition(alias, split.MaxBy(w => w.Weight)!.Model, At(keyNode.Start)) { Split = split });
                    }
                }
                else if (Scalar(valueNode, $"models.{alias}") is { } model)
                {
                    result.Add(new ModelAliasDefinition(alias, model, At(keyNode.Start)));
                }
            }

            return result;
        }

        private List<OutputDefinition> ReadOutputs(YamlTreeNode node)
        {
            var result = new List<OutputDefinition>();
            if (Mapping(node, "outputs", "map each output name to a template, e.g. reply: \"{{ steps.draft.output }}\"", allowNull: true) is not { } map)
            {
                return result;
            }

            foreach (var (keyNode, valueNode) in map.Entries)
            {
                var outputName = keyNode.Value;
                if (!IdentifierPattern().IsMatch(outputName))
                {
                    Error(keyNode.Start, "AF0107", $"invalid output name '{outputName}'", "use letters, digits and '_', not starting with a digit");
                }

                if (Template(valueNode, $"outputs.{outputName}") is { } template)
                {
                    result.Add(new OutputDefinition(outputName, template));
                }
            }

            return result;
        }

        private MemoryDefinition? ReadMemory(YamlTreeNode node)
        {
            if (Mapping(node, "memory", "memory: { conversation: \"{{ inputs.customer_id }}\", ttl: 30d }") is not { } map)
            {
                return null;
            }

            var keys = Keys(map, MemoryKeys, "memory");
            Require(map, keys, "conversation", "memory", "conversation: \"{{ inputs.customer_id }}\"");
            var conversation = keys.TryGetValue("conversation", out var c) ? Template(c, "conversation", required: true) : null;
            var ttl = keys.TryGetValue("ttl", out var t) ? Duration(t, "ttl", MaxConversationTtl) : null;
            return conversation is null ? null : new MemoryDefinition(conversation, ttl);
        }

        private BudgetDefinition? ReadBudget(YamlTreeNode node)
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

        private StepPolicy ReadDefaults(YamlTreeNode node)
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
    }
}
