using AgentFlow.Definitions;

namespace AgentFlow.Core.Tests.Definitions;

public sealed class ApprovalStepLoaderTests
{
    private static WorkflowLoadResult Parse(string steps, string outputs = "") => WorkflowLoader.Parse(
        "name: a\nversion: 1\ninputs: { ticket: { default: x } }\nmodels: { w: tiny }\nsteps:\n" + steps + "\n" + outputs, "a.yaml");

    private static IEnumerable<(int Line, string Code, string Message)> Errors(WorkflowLoadResult result) =>
        result.Diagnostics.Select(d => (d.Location.Line, d.Code, d.Message));

    [Fact]
    public void Parse_ApprovalWithEveryKey_ReadsMessageShowTimeoutAndOnTimeout()
    {
        var result = Parse("""
              - id: draft
                agent: { model: w, prompt: "Reply to {{ inputs.ticket }}" }
              - id: review
                approval: { message: "Send?", show: "{{ steps.draft.output }}", timeout: 36h, on_timeout: approve }
            """);

        Assert.Empty(result.Diagnostics);
        var review = Assert.IsType<ApprovalStepDefinition>(result.Definition!.Steps[1]);
        Assert.Equal(("Send?", "{{ steps.draft.output }}", TimeSpan.FromHours(36), ApprovalTimeoutBehavior.Approve),
            (review.Message.Text, review.Show!.Text, review.Timeout, review.OnTimeout));
    }

    [Fact]
    public void Parse_ApprovalDefaults_WaitsWithoutLimitAndRejectsOnTimeout()
    {
        var review = Assert.IsType<ApprovalStepDefinition>(Parse("  - id: review\n    approval: { message: ok? }\n").Definition!.Steps[0]);

        Assert.Null(review.Timeout);
        Assert.Null(review.Show);
        Assert.Equal(ApprovalTimeoutBehavior.Reject, review.OnTimeout);
    }

    [Fact]
    public void Parse_BadApproval_ReportsEveryProblemWithItsLine()
    {
        var result = Parse("""
              - id: review
                approval: { show: x, timeout: 400d, on_timeout: later, color: red }
              - id: other
                approval: { message: m, on_timeout: fail }
            """);

        Assert.Equal(
            [
                (7, "AF0102", "unknown key 'color' in approval step 'review'"),
                (7, "AF0103", "approval step 'review' is missing required key 'message'"),
                (7, "AF0105", "approval 'timeout' must be from 1s to 366d, got '400d'"),
                (7, "AF0105", "unknown on_timeout 'later'"),
                (9, "AF0105", "approval 'other' sets on_timeout but no timeout"),
            ],
            Errors(result).Where(e => e.Code != "AF0203").Select(e => (e.Line, e.Code, e.Message.Split(';')[0])).OrderBy(e => e.Line).ThenBy(e => e.Code).ThenBy(e => e.Item3, StringComparer.Ordinal));
    }

    [Fact]
    public void Validate_ApprovalFields_ReadableAfterTheApprovalOnly()
    {
        var result = Parse("""
              - id: review
                approval: { message: "ok?" }
              - id: next
                agent: { model: w, prompt: "{{ steps.review.approved }} {{ steps.review.comment }} {{ steps.review.decided_by }} {{ steps.review.output }}" }
            """, "outputs:\n  bad: \"{{ steps.next.approved }}\"\n  worse: \"{{ steps.review.approved.x }}\"\n");

        Assert.Equal(
            [
                ("AF0207", "output 'bad' uses unknown field 'steps.next.approved'"),
                ("AF0207", "output 'worse' uses 'steps.review.approved.x', but steps.review.approved is a plain value"),
            ],
            result.Diagnostics.Select(d => (d.Code, d.Message.Split(';')[0])));
    }

    [Fact]
    public void Validate_ApprovalInsideParallel_IsAF0211()
    {
        var result = Parse("""
              - id: both
                parallel:
                  - id: a
                    agent: { model: w, prompt: "a" }
                  - id: review
                    approval: { message: "ok?" }
            """);

        var error = Assert.Single(result.Diagnostics);
        Assert.Equal(("AF0211", 10), (error.Code, error.Location.Line));
        Assert.Contains("put the approval before or after 'both'", error.Hint, StringComparison.Ordinal);
    }
}
