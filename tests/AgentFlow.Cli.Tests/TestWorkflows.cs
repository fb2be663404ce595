namespace AgentFlow.Cli.Tests;

/// <summary>Workflows several test classes serve.</summary>
internal static class TestWorkflows
{
    /// <summary>A draft, then an approval that shows it; the output says who decided what.</summary>
    public const string WebApproval = """
    name: web-approval
    version: 1
    inputs: { ticket: { required: true } }
    models: { w: tiny }
    steps:
      - id: draft
        agent: { model: w, prompt: "Reply to: {{ inputs.ticket }}", max_tokens: 8, temperature: 0 }
      - id: review
        approval: { message: "Send it?", show: "{{ steps.draft.output }}" }
    outputs:
      decision: "{{ steps.review.output }} by {{ steps.review.decided_by }}"
    """;
}
