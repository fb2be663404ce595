using System.Globalization;
using AgentFlow.Execution;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace AgentFlow.Cli.Progress;

/// <summary>
/// Live progress on an interactive terminal: a table of steps (model, state, tokens, time) and, below it, the text
/// each running agent step is streaming — running steps of a parallel block appear side by side.
/// </summary>
internal sealed class LiveProgress(IAnsiConsole console, IReadOnlyDictionary<string, int> depths, TimeProvider time) : IRunObserver
{
    private readonly Lock _gate = new();
    private readonly List<StepRow> _rows = [];
    private readonly Dictionary<string, StepRow> _running = new(StringComparer.Ordinal);
    private string _title = "starting";

    public void OnEvent(RunEvent runEvent)
    {
        lock (_gate)
        {
            switch (runEvent)
            {
                case RunStartedEvent started:
                    _title = $"{started.Record.Workflow} v{started.Record.WorkflowVersion} · run {started.RunId}";
                    break;
                case StepStartedEvent { Step: var step }:
                    var row = new StepRow(step, depths.GetValueOrDefault(step.Id));
                    _rows.Add(row);
                    _running[step.Id] = row;
                    break;
                case StepOutputChunkEvent chunk when _running.TryGetValue(chunk.StepId, out var target):
                    target.Append(chunk.Text);
                    break;
                case ToolCallStartedEvent call when _running.TryGetValue(call.StepId, out var caller):
                    caller.Append($"\n[tool {Output.ToolCallText.Call(call.Call.Name, call.Call.Arguments)}]");
                    break;
                case ToolCallFinishedEvent call when _running.TryGetValue(call.StepId, out var caller):
                    caller.Append($" [{Output.ToolCallText.Outcome(call.Call)}]\n");
                    break;
                case StepFinishedEvent { Step: var step }:
                    _running.Remove(step.Id);
                    break;
            }
        }
    }

    /// <summary>Runs <paramref name="run"/> while redrawing ten times a second; leaves the final table on screen.</summary>
    public async Task<T> ShowWhileAsync<T>(Func<Task<T>> run)
    {
        T result = default!;
        await console.Live(Render()).AutoClear(false).Overflow(VerticalOverflow.Ellipsis).StartAsync(async ctx =>
        {
            var task = run();
            while (!task.IsCompleted)
            {
                ctx.UpdateTarget(Render());
                await Task.WhenAny(task, Task.Delay(100)).ConfigureAwait(false);
            }

            ctx.UpdateTarget(Render());
            result = await task.ConfigureAwait(false);
        }).ConfigureAwait(false);
        return result;
    }

    private IRenderable Render()
    {
        lock (_gate)
        {
            var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(_title));
            table.AddColumns("Step", "Kind", "Model", "State", "Tokens in/out", "Time");
            foreach (var row in _rows)
            {
                var step = row.Record;
                var name = new string(' ', 2 * row.Depth) + step.Id + (step.Iteration is { } i ? $" #{i}" : string.Empty);
                table.AddRow(
                    Markup.Escape(name),
                    step.Kind,
                    Markup.Escape(step.Model ?? string.Empty),
                    State(step),
                    step.InputTokens is null ? string.Empty : $"{step.InputTokens}/{step.OutputTokens}",
                    Elapsed(step));
            }

            var running = _rows.Where(r => r.Record.Kind == "agent" && _running.ContainsKey(r.Record.Id)).ToList();
            if (running.Count == 0)
            {
                return table;
            }

            var panels = running.Select(r => new Panel(new Text(LastLines(r.Tail)))
                .Header(Markup.Escape(r.Record.Id))
                .Border(BoxBorder.Rounded));
            return new Rows(table, new Columns(panels));
        }
    }

    private static string State(StepRecord step) => step.Status switch
    {
        StepStatus.Running => "[yellow]running[/]",
        StepStatus.Succeeded => "[green]done[/]" + (step.Detail is null ? string.Empty : $" ({Markup.Escape(step.Detail)})"),
        _ => "[red]failed[/]",
    };

    private string Elapsed(StepRecord step)
    {
        var ms = step.Status == StepStatus.Running ? (time.GetUtcNow() - step.Started).TotalMilliseconds : step.LatencyMs;
        return ms < 1000
            ? string.Create(CultureInfo.InvariantCulture, $"{ms:F0} ms")
            : string.Create(CultureInfo.InvariantCulture, $"{ms / 1000:F1} s");
    }

    private static string LastLines(string text)
    {
        var lines = text.Replace("\r", string.Empty, StringComparison.Ordinal).Split('\n');
        return string.Join('\n', lines.TakeLast(4));
    }
}
