using System.Text;
using AgentFlow.Definitions;
using AgentFlow.Execution;

namespace AgentFlow.Cli.Progress;

/// <summary>What the progress display knows about one step execution.</summary>
internal sealed class StepRow(StepRecord record, int depth)
{
    private const int TailLength = 400;
    private readonly StringBuilder _tail = new();

    public StepRecord Record { get; } = record;

    public int Depth { get; } = depth;

    /// <summary>The last few hundred characters the model streamed (shown while the step runs).</summary>
    public string Tail => _tail.ToString();

    public void Append(string text)
    {
        _tail.Append(text);
        if (_tail.Length > TailLength)
        {
            _tail.Remove(0, _tail.Length - TailLength);
        }
    }

    /// <summary>Nesting depth of every step id (0 for top-level steps), so rows can be indented under composites.</summary>
    public static IReadOnlyDictionary<string, int> Depths(WorkflowDefinition definition)
    {
        var depths = new Dictionary<string, int>(StringComparer.Ordinal);
        Visit(definition.Steps, 0);
        return depths;

        void Visit(IEnumerable<StepDefinition> steps, int depth)
        {
            foreach (var step in steps)
            {
                depths[step.Id] = depth;
                Visit(step.Children, depth + 1);
            }
        }
    }
}
