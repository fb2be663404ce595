using System.Globalization;
using AgentFlow.Execution;

namespace AgentFlow.Cli.Progress;

/// <summary>Progress as one line per step start and end, for logs and pipes (stderr is not a terminal).</summary>
internal sealed class PlainProgress(TextWriter writer, IReadOnlyDictionary<string, int> depths) : IRunObserver
{
    public void OnEvent(RunEvent runEvent)
    {
        switch (runEvent)
        {
            case RunStartedEvent started:
                writer.WriteLine($"run {started.RunId} ({started.Record.Workflow} v{started.Record.WorkflowVersion})");
                break;
            case StepStartedEvent { Step: var step }:
                writer.WriteLine($"{Indent(step)}> {Describe(step)}{(step.ChildRunId is { } child ? $" child run {child}" : string.Empty)}");
                break;
            case ToolCallStartedEvent started:
                writer.WriteLine($"{new string(' ', 2 * depths.GetValueOrDefault(started.StepId) + 2)}tool {Output.ToolCallText.Call(started.Call.Name, started.Call.Arguments)}");
                break;
            case ToolCallFinishedEvent finished:
                writer.WriteLine($"{new string(' ', 2 * depths.GetValueOrDefault(finished.StepId) + 2)}tool {finished.Call.Name} {Output.ToolCallText.Outcome(finished.Call)}");
                break;
            case StepFinishedEvent { Step: var step }:
                writer.WriteLine($"{Indent(step)}{(step.Status == StepStatus.Succeeded ? "ok" : "FAILED")} {Describe(step)} {Metrics(step)}");
                break;
            case RunFinishedEvent { Record: { Status: RunStatus.Waiting, Waiting: { } waiting } record }:
                writer.WriteLine(waiting.Tool is { } tool
                    ? $"run {record.RunId} waiting for approval of tool '{tool}' at step '{waiting.StepId}', tokens in {record.InputTokens} out {record.OutputTokens}"
                    : $"run {record.RunId} waiting at approval '{waiting.StepId}', tokens in {record.InputTokens} out {record.OutputTokens}");
                break;
            case RunResumedEvent { Record: var resumed }:
                writer.WriteLine($"run {resumed.RunId} resumed ({resumed.Steps.Count(s => s.Status == StepStatus.Succeeded)} step record(s) already done)");
                break;
            case RunFinishedEvent { Record: var record }:
                writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"run {record.RunId} {record.Status.ToString().ToLowerInvariant()} in {record.DurationMs:F0} ms, tokens in {record.InputTokens} out {record.OutputTokens}"));
                break;
        }
    }

    private string Indent(StepRecord step) => new(' ', 2 * depths.GetValueOrDefault(step.Id));

    private static string Describe(StepRecord step) =>
        $"{step.Id}{(step.Iteration is { } i ? $"#{i}" : string.Empty)} [{step.Kind}{(step.Model is null ? string.Empty : " " + step.Model)}]";

    private static string Metrics(StepRecord step) =>
        string.Create(CultureInfo.InvariantCulture, $"{step.LatencyMs:F0} ms") +
        (step.InputTokens is null ? string.Empty : $", tokens in {step.InputTokens} out {step.OutputTokens}") +
        (step.Detail is null ? string.Empty : $", {step.Detail}") +
        (step.Error is null ? string.Empty : $": {step.Error}");
}
