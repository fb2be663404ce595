namespace AgentFlow.Definitions;

/// <summary>
/// The size limits of a workflow file, checked before the expensive (or recursive) parts read it, so a hostile or
/// broken file ends in a located error instead of a stack overflow, an exhausted memory or minutes of validation.
/// Each is far above what a real workflow needs; docs/workflow-format.md ("Limits") lists them.
/// </summary>
public static class WorkflowLimits
{
    /// <summary>Largest workflow file, in bytes (AF0131).</summary>
    public const int MaxFileBytes = 1024 * 1024;

    /// <summary>Most steps in one workflow, nested steps included (AF0132).</summary>
    public const int MaxSteps = 1_000;

    /// <summary>Deepest nesting of YAML lists and mappings (AF0122).</summary>
    public const int MaxYamlDepth = 64;

    /// <summary>Most YAML nodes a document may expand to through aliases (AF0122).</summary>
    public const long MaxYamlNodes = 200_000;

    /// <summary>Longest template or condition, in characters (AF0130).</summary>
    public const int MaxTemplateLength = 64 * 1024;

    /// <summary>
    /// Deepest nesting inside one template: block tags (<c>if</c>, <c>for</c>, …) plus brackets and parentheses (AF0130).
    /// Fluid parses recursively; 64 levels take a small part of a thread's stack.
    /// </summary>
    public const int MaxTemplateNesting = 64;

    /// <summary>Most filters and operators chained in one tag or output, e.g. <c>a | f | g and b</c> (AF0130).</summary>
    public const int MaxTemplateChain = 256;

    /// <summary>Longest duration any setting accepts (100 years); each setting has its own, smaller, range.</summary>
    public static readonly TimeSpan MaxDuration = TimeSpan.FromDays(36_500);
}
