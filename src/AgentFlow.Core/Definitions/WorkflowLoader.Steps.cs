using AgentFlow.Definitions.Yaml;
using AgentFlow.Diagnostics;

namespace AgentFlow.Definitions;

public static partial class WorkflowLoader
{
    private static readonly string[] StepKinds = ["agent", "switch", "parallel", "loop", "approval", "retrieve", "workflow"];
    private static readonly string[] StepKeys = ["id", "description", "timeout", "retry", .. StepKinds];
    private static readonly string[] AgentKeys = ["model", "system", "prompt", "max_tokens", "temperature", "top_p", "seed", "stop", "memory", "fallback", "output", "tools", "tool_choice", "max_tool_calls"];
    private static readonly string[] SwitchKeys = ["cases", "default"];
    private static readonly string[] CaseKeys = ["when", "steps"];
    private static readonly string[] DefaultKeys = ["steps"];
    private static readonly string[] LoopKeys = ["max_iterations", "until", "on_exhausted", "steps"];
    private static readonly string[] StepMemoryKeys = ["read", "write", "window"];
    private static readonly string[] WindowKeys = ["messages", "tokens"];
    private static readonly string[] RetryKeys = ["attempts", "backoff"];
    private static readonly string[] ApprovalKeys = ["message", "show", "timeout", "on_timeout"];
    private static readonly string[] RetrieveKeys = ["collection", "query", "top_k", "min_score"];
    private static readonly string[] WorkflowStepKeys = ["file", "inputs"];

    private sealed partial class Reader
    {
        private int _steps;

        private List<StepDefinition>? ReadSteps(YamlTreeNode node, string what, int minimum = 1)
        {
            if (node is not YamlTreeSequence sequence)
            {
                Error(node.Start, "AF0110", $"{what} must be a list of steps, not {node.Describe()}", "write each step on its own line as '- id: ...'");
                return null;
            }

            if (sequence.Items.Count < minimum)
            {
                Error(node.Start, "AF0111", minimum == 1 ? $"{what} has no steps" : $"{what} needs at least {minimum} branches, got {sequence.Items.Count}",
                    minimum == 1 ? "add at least one step" : "a parallel step runs two or more branches; use a plain step for one");
            }

            return [.. sequence.Items.Select(ReadStep).OfType<StepDefinition>()];
        }

        private StepDefinition? ReadStep(YamlTreeNode node)
        {
            // Reported once, at the first step too many; the rest is not read, so the checks after stay bounded.
            if (++_steps > WorkflowLimits.MaxSteps)
            {
                if (_steps == WorkflowLimits.MaxSteps + 1)
                {
                    Error(node.Start, "AF0132", $"the workflow has more than {WorkflowLimits.MaxSteps} steps (nested steps included)",
                        "split it into several workflows");
                }

                return null;
            }

            if (Mapping(node, "step", "a step is a mapping: { id: ..., agent: { ... } }") is not { } map)
            {
                return null;
            }

            var keys = Keys(map, StepKeys, "step");
            string? id = null;
            if (!keys.TryGetValue("id", out var idNode))
            {
                Error(map.Start, "AF0103", "step is missing required key 'id'", "add id: a_name (lowercase letters, digits, '_')");
            }
            else if ((id = Scalar(idNode, "id")) is not null && !StepIdPattern().IsMatch(id))
            {
                Error(idNode.Start, "AF0112", $"invalid step id '{id}'", "use lowercase letters, digits and '_', starting with a letter or '_' (templates read it as steps.ID.output)");
            }

            id ??= string.Empty;
            var location = At(map.Start);
            var kinds = StepKinds.Where(keys.ContainsKey).ToList();
            if (kinds.Count == 0)
            {
                Error(map.Start, "AF0113", $"step '{id}' has no kind", "add exactly one of: agent, switch, parallel, loop, approval, retrieve, workflow");
                return new UnreadableStepDefinition(id, location);
            }

            if (kinds.Count > 1)
            {
                // Reported once; the first kind is still read so its own problems surface in the same pass.
                Error(keys[kinds[1]].Start, "AF0114", $"step '{id}' has several kinds ({string.Join(", ", kinds)})", "a step is exactly one of agent, switch, parallel, loop, approval, retrieve, workflow: split it into several steps");
            }

            var body = keys[kinds[0]];
            var timeout = keys.TryGetValue("timeout", out var timeoutNode) ? Timeout(timeoutNode) : null;
            var retry = keys.TryGetValue("retry", out var retryNode) ? ReadRetry(retryNode) : null;
            if (kinds[0] is not ("agent" or "workflow") && (timeoutNode ?? retryNode) is { } misplaced)
            {
                Error(misplaced.Start, "AF0117", $"'timeout' and 'retry' apply to agent and workflow steps, not to {kinds[0]} '{id}'", "set them on the agent steps inside it, or under defaults:");
            }

            StepDefinition? step = kinds[0] switch
            {
                "agent" => ReadAgent(id, location, body) is { } agent ? agent with { Timeout = timeout, Retry = retry } : null,
                "switch" => ReadSwitch(id, location, body),
                "parallel" => ReadSteps(body, $"parallel '{id}'", minimum: 2) is { } branches ? new ParallelStepDefinition(id, location) { Branches = branches } : null,
                "approval" => ReadApproval(id, location, body),
                "retrieve" => ReadRetrieve(id, location, body),
                "workflow" => ReadWorkflowStep(id, location, body) is { } sub ? sub with { Timeout = timeout, Retry = retry } : null,
                _ => ReadLoop(id, location, body),
            };

            // A broken body was reported; the id stays known so references to it do not cascade into more errors.
            return step ?? new UnreadableStepDefinition(id, location);
        }

        private AgentStepDefinition? ReadAgent(string id, SourceLocation location, YamlTreeNode node)
        {
            if (Mapping(node, $"agent step '{id}'", "agent: { model: ALIAS, prompt: \"...\" }") is not { } map)
            {
                return null;
            }

            var keys = Keys(map, AgentKeys, $"agent step '{id}'");
            Require(map, keys, "model", $"agent step '{id}'", "model: ALIAS (declared under models:)");
            Require(map, keys, "prompt", $"agent step '{id}'", "prompt: \"...\"");
            var model = keys.TryGetValue("model", out var modelNode) ? Scalar(modelNode, "model") : null;
            var prompt = keys.TryGetValue("prompt", out var promptNode) ? Template(promptNode, "prompt", required: true) : null;
            var system = keys.TryGetValue("system", out var systemNode) && systemNode is not YamlTreeScalar { IsNull: true } ? Template(systemNode, "system") : null;
            var maxTokens = keys.TryGetValue("max_tokens", out var mt) ? Int(mt, "max_tokens", 1, 1_000_000) : null;
            var temperature = keys.TryGetValue("temperature", out var t) ? Number(t, "temperature", 0, 2) : null;
            var topP = keys.TryGetValue("top_p", out var tp) ? Number(tp, "top_p", 0, 1) : null;
            var seed = keys.TryGetValue("seed", out var s) ? Int(s, "seed", 0, int.MaxValue) : null;
            var stop = keys.TryGetValue("stop", out var stopNode) ? Strings(stopNode, "stop") : [];
            var memory = keys.TryGetValue("memory", out var memoryNode) ? ReadStepMemory(memoryNode) : null;
            var fallback = keys.TryGetValue("fallback", out var fallbackNode) ? Strings(fallbackNode, "fallback") : [];
            var tools = keys.TryGetValue("tools", out var toolsNode) ? Strings(toolsNode, "tools") : [];
            var toolChoice = keys.TryGetValue("tool_choice", out var toolChoiceNode) ? ReadToolChoice(toolChoiceNode) : null;
            var maxToolCalls = keys.TryGetValue("max_tool_calls", out var maxToolCallsNode) ? Int(maxToolCallsNode, "max_tool_calls", 1, MaxToolCallsLimit) : null;
            var output = keys.TryGetValue("output", out var outputNode) ? ReadStructuredOutput(outputNode, id) : null;
            return new AgentStepDefinition(id, location)
            {
                Output = output,
                Tools = tools,
                ToolsLocation = toolsNode is null ? null : At(toolsNode.Start),
                ToolChoice = toolChoice,
                MaxToolCalls = maxToolCalls,
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

        private SwitchStepDefinition? ReadSwitch(string id, SourceLocation location, YamlTreeNode node)
        {
            if (Mapping(node, $"switch step '{id}'", "switch: { cases: [ { when: ..., steps: [...] } ], default: { steps: [...] } }") is not { } map)
            {
                return null;
            }

            var keys = Keys(map, SwitchKeys, $"switch step '{id}'");
            Require(map, keys, "cases", $"switch '{id}'", "cases: [ { when: \"...\", steps: [...] } ]");
            var cases = new List<SwitchCaseDefinition>();
            if (keys.TryGetValue("cases", out var casesNode))
            {
                if (casesNode is not YamlTreeSequence { Items.Count: > 0 } caseList)
                {
                    Error(casesNode.Start, "AF0115", $"switch '{id}' needs a non-empty list of cases", "cases: [ { when: \"...\", steps: [...] } ]");
                }
                else
                {
                    foreach (var caseNode in caseList.Items)
                    {
                        if (Mapping(caseNode, "case", "{ when: \"...\", steps: [...] }") is not { } caseMap)
                        {
                            continue;
                        }

                        var caseKeys = Keys(caseMap, CaseKeys, $"a case of switch '{id}'");
                        Require(caseMap, caseKeys, "when", $"a case of switch '{id}'", "when: \"steps.x.output contains 'y'\"");
                        Require(caseMap, caseKeys, "steps", $"a case of switch '{id}'", "steps: [ ... ]");
                        var when = caseKeys.TryGetValue("when", out var whenNode) ? Template(whenNode, "when", required: true) : null;
                        var steps = caseKeys.TryGetValue("steps", out var stepsNode) ? ReadSteps(stepsNode, "'steps'") : null;
                        cases.Add(new SwitchCaseDefinition(when ?? new TemplateText("false", At(caseMap.Start)), steps ?? [], At(caseMap.Start)));
                    }
                }
            }

            List<StepDefinition>? fallback = null;
            if (keys.TryGetValue("default", out var defaultNode) && Mapping(defaultNode, "default", "default: { steps: [...] }") is { } defaultMap)
            {
                var defaultKeys = Keys(defaultMap, DefaultKeys, $"the default of switch '{id}'");
                Require(defaultMap, defaultKeys, "steps", $"the default of switch '{id}'", "steps: [ ... ]");
                fallback = defaultKeys.TryGetValue("steps", out var stepsNode) ? ReadSteps(stepsNode, "'steps'") : null;
            }

            return new SwitchStepDefinition(id, location) { Cases = cases, Default = fallback };
        }

        private LoopStepDefinition? ReadLoop(string id, SourceLocation location, YamlTreeNode node)
        {
            if (Mapping(node, $"loop step '{id}'", "loop: { max_iterations: 3, until: \"...\", steps: [...] }") is not { } map)
            {
                return null;
            }

            var keys = Keys(map, LoopKeys, $"loop step '{id}'");
            if (!keys.ContainsKey("max_iterations"))
            {
                Error(map.Start, "AF0116", $"loop '{id}' has no 'max_iterations'", $"loops are never unbounded: add max_iterations: N (1 to {MaxLoopIterations})");
            }

            Require(map, keys, "until", $"loop '{id}'", "until: \"steps.x.output contains 'DONE'\"");
            Require(map, keys, "steps", $"loop '{id}'", "steps: [ ... ]");
            var max = keys.TryGetValue("max_iterations", out var maxNode) ? Int(maxNode, "max_iterations", 1, MaxLoopIterations) : null;
            var until = keys.TryGetValue("until", out var untilNode) ? Template(untilNode, "until", required: true) : null;
            var steps = keys.TryGetValue("steps", out var stepsNode) ? ReadSteps(stepsNode, "'steps'") : null;
            var onExhausted = LoopExhaustedBehavior.Fail;
            if (keys.TryGetValue("on_exhausted", out var exhaustedNode) && Scalar(exhaustedNode, "on_exhausted") is { } text)
            {
                onExhausted = text switch
                {
                    "fail" => LoopExhaustedBehavior.Fail,
                    "continue" => LoopExhaustedBehavior.Continue,
                    _ => Invalid(exhaustedNode, "AF0105", $"unknown on_exhausted '{text}'" + NameSuggestion.DidYouMean(text, ["fail", "continue"]), "use fail (the default) or continue", LoopExhaustedBehavior.Fail),
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

        private ApprovalStepDefinition? ReadApproval(string id, SourceLocation location, YamlTreeNode node)
        {
            if (Mapping(node, $"approval step '{id}'", "approval: { message: \"Send this reply?\", show: \"{{ steps.draft.output }}\", timeout: 24h, on_timeout: reject }") is not { } map)
            {
                return null;
            }

            var keys = Keys(map, ApprovalKeys, $"approval step '{id}'");
            Require(map, keys, "message", $"approval step '{id}'", "message: \"Send this reply?\"");
            var message = keys.TryGetValue("message", out var messageNode) ? Template(messageNode, "message", required: true) : null;
            var show = keys.TryGetValue("show", out var showNode) && showNode is not YamlTreeScalar { IsNull: true } ? Template(showNode, "show") : null;
            TimeSpan? timeout = null;
            if (keys.TryGetValue("timeout", out var timeoutNode) && Duration(timeoutNode, "timeout") is { } t)
            {
                if (t < TimeSpan.FromSeconds(1) || t > TimeSpan.FromDays(366))
                {
                    Error(timeoutNode.Start, "AF0105", $"approval 'timeout' must be from 1s to 366d, got '{((YamlTreeScalar)timeoutNode).Value}'", "e.g. timeout: 24h, or leave it out to wait without limit");
                }
                else
                {
                    timeout = t;
                }
            }

            var onTimeout = ApprovalTimeoutBehavior.Reject;
            if (keys.TryGetValue("on_timeout", out var onTimeoutNode) && Scalar(onTimeoutNode, "on_timeout") is { } text)
            {
                onTimeout = text switch
                {
                    "reject" => ApprovalTimeoutBehavior.Reject,
                    "approve" => ApprovalTimeoutBehavior.Approve,
                    "fail" => ApprovalTimeoutBehavior.Fail,
                    _ => Invalid(onTimeoutNode, "AF0105", $"unknown on_timeout '{text}'" + NameSuggestion.DidYouMean(text, ["reject", "approve", "fail"]), "use reject (the default), approve or fail", ApprovalTimeoutBehavior.Reject),
                };

                if (timeout is null && timeoutNode is null)
                {
                    Error(onTimeoutNode.Start, "AF0105", $"approval '{id}' sets on_timeout but no timeout", "add timeout: 24h (or remove on_timeout)");
                }
            }

            return new ApprovalStepDefinition(id, location)
            {
                Message = message ?? new TemplateText(string.Empty, location),
                Show = show,
                Timeout = timeout,
                OnTimeout = onTimeout,
            };
        }

        private RetrieveStepDefinition? ReadRetrieve(string id, SourceLocation location, YamlTreeNode node)
        {
            if (Mapping(node, $"retrieve step '{id}'", "retrieve: { collection: kb, query: \"{{ inputs.question }}\", top_k: 4 }") is not { } map)
            {
                return null;
            }

            var keys = Keys(map, RetrieveKeys, $"retrieve step '{id}'");
            if (!keys.ContainsKey("collection"))
            {
                Error(map.Start, "AF0500", $"retrieve step '{id}' has no 'collection'", "collection: NAME (a collection of agentflow.yaml, or one made by agentflow index DIR --collection NAME)");
            }

            if (!keys.ContainsKey("query"))
            {
                Error(map.Start, "AF0501", $"retrieve step '{id}' has no 'query'", "query: \"{{ inputs.question }}\" (the text to search for)");
            }

            var collection = keys.TryGetValue("collection", out var collectionNode) ? Scalar(collectionNode, "collection") : null;
            if (collection is not null && !Models.CollectionSpec.IsValidName(collection))
            {
                Error(collectionNode!.Start, "AF0502", $"invalid collection name '{collection}'", "use up to 48 letters, digits, '-', '_' and '.', starting and ending with a letter or digit");
            }

            var query = keys.TryGetValue("query", out var queryNode) ? Template(queryNode, "query", required: true) : null;
            var topK = keys.TryGetValue("top_k", out var topKNode) ? Int(topKNode, "top_k", 1, RetrieveStepDefinition.MaxTopK) : null;
            var minScore = keys.TryGetValue("min_score", out var minScoreNode) ? Number(minScoreNode, "min_score", -1, 1) : null;
            return new RetrieveStepDefinition(id, location)
            {
                Collection = collection ?? string.Empty,
                CollectionLocation = collectionNode is null ? location : At(collectionNode.Start),
                Query = query ?? new TemplateText(string.Empty, location),
                TopK = (int?)topK ?? RetrieveStepDefinition.DefaultTopK,
                MinScore = minScore,
            };
        }

        private WorkflowStepDefinition? ReadWorkflowStep(string id, SourceLocation location, YamlTreeNode node)
        {
            if (Mapping(node, $"workflow step '{id}'", "workflow: { file: other.yaml, inputs: { ticket: \"{{ inputs.ticket }}\" } }") is not { } map)
            {
                return null;
            }

            var keys = Keys(map, WorkflowStepKeys, $"workflow step '{id}'");
            Require(map, keys, "file", $"workflow step '{id}'", "file: other.yaml (relative to this file's folder)");
            var file = keys.TryGetValue("file", out var fileNode) ? Scalar(fileNode, "file") : null;
            if (fileNode is not null && file is not null && string.IsNullOrWhiteSpace(file))
            {
                Error(fileNode.Start, "AF0105", $"'file' of workflow step '{id}' is empty", "file: other.yaml (relative to this file's folder)");
                file = null;
            }

            var inputs = new List<WorkflowStepInput>();
            if (keys.TryGetValue("inputs", out var inputsNode) && Mapping(inputsNode, $"the inputs of workflow step '{id}'", "inputs: { ticket: \"{{ inputs.ticket }}\" }", allowNull: true) is { } inputsMap)
            {
                foreach (var (nameNode, valueNode) in inputsMap.Entries)
                {
                    if (Template(valueNode, nameNode.Value) is { } value)
                    {
                        inputs.Add(new WorkflowStepInput(nameNode.Value, value, At(nameNode.Start)));
                    }
                }
            }

            if (file is null)
            {
                return null;
            }

            // Read lazily (validation only): reading it here would follow a file that reaches itself forever.
            var declaring = path;
            return new WorkflowStepDefinition(id, location)
            {
                File = file,
                FileLocation = At(fileNode!.Start),
                Inputs = inputs,
                Child = new Lazy<WorkflowDefinition?>(() => WorkflowStepDefinition.TryResolve(declaring, file) is { } child ? Validation.ToolValidator.ReadChild(child) : null),
            };
        }

        private StepMemoryDefinition? ReadStepMemory(YamlTreeNode node)
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

        private RetryDefinition? ReadRetry(YamlTreeNode node)
        {
            if (Mapping(node, "retry", "retry: { attempts: 3, backoff: 2s }") is not { } map)
            {
                return null;
            }

            var keys = Keys(map, RetryKeys, "retry");
            Require(map, keys, "attempts", "retry", "attempts: 3");
            var attempts = keys.TryGetValue("attempts", out var attemptsNode) ? Int(attemptsNode, "attempts", 1, MaxAttempts) : null;
            var backoff = keys.TryGetValue("backoff", out var backoffNode) ? Duration(backoffNode, "backoff", MaxBackoff) : null;
            return attempts is null ? null : new RetryDefinition(attempts.Value, backoff ?? TimeSpan.FromSeconds(1));
        }

        // Polly's bound for the delay between attempts.
        private static readonly TimeSpan MaxBackoff = TimeSpan.FromDays(1);

        // Polly's bounds for one attempt: at least 10 ms, at most a day.
        private TimeSpan? Timeout(YamlTreeNode node)
        {
            var value = Duration(node, "timeout");
            if (value is { } t && (t < TimeSpan.FromMilliseconds(10) || t > TimeSpan.FromDays(1)))
            {
                Error(node.Start, "AF0105", $"'timeout' must be from 10ms to 1d, got '{((YamlTreeScalar)node).Value}'", "e.g. timeout: 60s");
                return null;
            }

            return value;
        }
    }
}
