using AgentFlow.Definitions;
using AgentFlow.Models;

namespace AgentFlow.Bench.Harness;

/// <summary>The benchmark's model registry and workflows.</summary>
internal static class BenchModels
{
    /// <summary>Registry name of the zero-work model (its queue is <c>agentflow.model.bench-zero</c>).</summary>
    public const string ZeroModel = "bench-zero";

    /// <summary>The built-in models plus <see cref="ZeroModel"/>.</summary>
    public static ModelRegistry Registry() =>
        ModelRegistry.Parse($"models:\n  {ZeroModel}: {{ provider: {ZeroWorkModelProvider.ProviderName} }}\n", "agentflow-bench.yaml");

    /// <summary>
    /// A chain of <paramref name="steps"/> agent steps on <paramref name="model"/>, each prompt naming the previous
    /// step's output (a template per step). With <paramref name="memory"/>, the run has a conversation (input
    /// <c>conversation</c>) that every step reads (last 4 messages) and writes.
    /// </summary>
    public static WorkflowDefinition Chain(int steps, bool memory, string model = ZeroModel, int maxTokens = 16)
    {
        var yaml = new System.Text.StringBuilder();
        yaml.Append("name: bench-chain\nversion: 1\ninputs:\n  conversation: { type: string, default: bench }\nmodels:\n  m: ").Append(model).Append('\n');
        if (memory)
        {
            yaml.Append("memory: { conversation: \"{{ inputs.conversation }}\" }\n");
        }

        yaml.Append("steps:\n");
        for (var i = 1; i <= steps; i++)
        {
            var previous = i == 1 ? "{{ inputs.conversation }}" : $"{{{{ steps.s{i - 1}.output }}}}";
            yaml.Append(System.Globalization.CultureInfo.InvariantCulture, $"  - id: s{i}\n    agent:\n      model: m\n      system: You are step {i}.\n      prompt: \"Continue after: {previous}\"\n      max_tokens: {maxTokens}\n      temperature: 0\n");
            if (memory)
            {
                yaml.Append("      memory: { read: true, write: true, window: { messages: 4 } }\n");
            }
        }

        yaml.Append(System.Globalization.CultureInfo.InvariantCulture, $"outputs:\n  last: \"{{{{ steps.s{steps}.output }}}}\"\n");
        return WorkflowLoader.Parse(yaml.ToString(), $"bench-chain-{steps}.yaml").GetDefinitionOrThrow();
    }

    /// <summary>
    /// A step, an approval that parks the run, and a step after it: the shape of every run parked for a person.
    /// </summary>
    public static WorkflowDefinition Approval(string model = ZeroModel) =>
        WorkflowLoader.Parse(
            "name: bench-approval\nversion: 1\nmodels:\n  m: " + model + "\nsteps:\n"
            + "  - id: draft\n    agent: { model: m, prompt: \"Draft a reply\", max_tokens: 16, temperature: 0 }\n"
            + "  - id: review\n    approval: { message: \"Send it?\", show: \"{{ steps.draft.output }}\", timeout: 30d }\n"
            + "  - id: send\n    agent: { model: m, prompt: \"Send: {{ steps.draft.output }}\", max_tokens: 16, temperature: 0 }\n"
            + "outputs:\n  sent: \"{{ steps.send.output }}\"\n",
            "bench-approval.yaml").GetDefinitionOrThrow();
}
