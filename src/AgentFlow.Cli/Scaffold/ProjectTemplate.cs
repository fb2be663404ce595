namespace AgentFlow.Cli.Scaffold;

/// <summary>A starter project <c>agentflow init</c> writes: its workflow, cases and the lines its README needs.</summary>
internal sealed record ProjectTemplate(string Name, string Description, string RunInputs, string Alias, string TryLine)
{
    public const string Default = "triage";

    public static IReadOnlyList<ProjectTemplate> All { get; } =
    [
        new("triage", "classify a support ticket and draft the reply that fits (agent + switch)",
            "--input ticket=\"I was charged twice for my subscription\"", "writer",
            "A/B test two models over the cases: `agentflow experiment run workflow.yaml --inputs cases.jsonl --variant A:writer=tiny --variant B:writer=tiny2`."),
        new("research", "research a topic from three angles in parallel and merge them into a brief",
            "--input topic=\"remote work\"", "editor",
            "A/B test two models over the cases: `agentflow experiment run workflow.yaml --inputs cases.jsonl --variant A:editor=tiny --variant B:editor=tiny2`."),
        new("approval", "draft a reply that a person approves before it is finalized (the run parks, exit code 3)",
            "--input ticket=\"I was charged twice\"", "writer",
            "The run parks at `review`: `agentflow approvals list`, then `agentflow approve RUN_ID review` (or `reject`) from any shell."),
    ];

    public static ProjectTemplate? Find(string name) =>
        All.FirstOrDefault(t => string.Equals(t.Name, name, StringComparison.OrdinalIgnoreCase));
}
