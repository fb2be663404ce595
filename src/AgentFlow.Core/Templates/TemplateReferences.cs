using System.Runtime.CompilerServices;
using Fluid;
using Fluid.Ast;
using Fluid.Values;

namespace AgentFlow.Templates;

/// <summary>
/// What a parsed template reads and uses, found by walking Fluid's own AST (no parser of our own): every variable
/// path (<c>inputs.ticket</c>, <c>steps.classify.output</c>, <c>loop.iteration</c>) in output tags, tag arguments,
/// conditions, filter arguments and indexers; the filters it calls; the tags it may not use here; and the names it
/// defines itself (<c>assign</c>, <c>capture</c>, <c>for</c>, …) so those are not mistaken for unknown variables.
/// </summary>
internal sealed class TemplateReferences : AstVisitor
{
    private readonly List<IReadOnlyList<string>> _paths = [];
    private readonly List<string> _filters = [];
    private readonly List<string> _unsupportedTags = [];
    private readonly HashSet<string> _locals = new(StringComparer.Ordinal);

    private TemplateReferences()
    {
    }

    /// <summary>
    /// Every variable path read, in template order. A path stops at the first segment that is not a name or a
    /// quoted key (<c>steps['a'].output</c> is read as <c>steps.a.output</c>; <c>steps[x]</c> as <c>steps</c>).
    /// </summary>
    public IReadOnlyList<IReadOnlyList<string>> Paths => _paths;

    /// <summary>Names of the filters applied, in template order.</summary>
    public IReadOnlyList<string> Filters => _filters;

    /// <summary>Tags that read files or define functions, which workflow templates may not use.</summary>
    public IReadOnlyList<string> UnsupportedTags => _unsupportedTags;

    /// <summary>Names assigned, captured, counted or iterated inside the template.</summary>
    public IReadOnlySet<string> Locals => _locals;

    /// <summary>Walks <paramref name="template"/>.</summary>
    public static TemplateReferences Collect(IFluidTemplate template)
    {
        var references = new TemplateReferences();
        references.VisitTemplate(template);
        return references;
    }

    // TemplateGuard bounds the nesting; should a template slip past it, a catchable exception beats a stack overflow.
    public override Statement Visit(Statement statement)
    {
        RuntimeHelpers.EnsureSufficientExecutionStack();
        return base.Visit(statement);
    }

    public override Expression Visit(Expression expression)
    {
        RuntimeHelpers.EnsureSufficientExecutionStack();
        return base.Visit(expression);
    }

    protected override Expression VisitMemberExpression(MemberExpression memberExpression)
    {
        var path = new List<string>();
        var open = true;
        foreach (var segment in memberExpression.Segments)
        {
            switch (segment)
            {
                case IdentifierSegment identifier when open:
                    path.Add(identifier.Identifier);
                    break;
                case IndexerSegment { Expression: LiteralExpression { Value: StringValue key } } when open:
                    path.Add(key.ToStringValue());
                    break;
                case IndexerSegment indexer:
                    open = false;
                    Visit(indexer.Expression);
                    break;
                default:
                    open = false;
                    break;
            }
        }

        if (path.Count > 0)
        {
            _paths.Add(path);
        }

        return base.VisitMemberExpression(memberExpression);
    }

    protected override Expression VisitFilterExpression(FilterExpression filterExpression)
    {
        _filters.Add(filterExpression.Name);
        return base.VisitFilterExpression(filterExpression);
    }

    protected override Statement VisitAssignStatement(AssignStatement assignStatement)
    {
        _locals.Add(assignStatement.Identifier);
        return base.VisitAssignStatement(assignStatement);
    }

    protected override Statement VisitCaptureStatement(CaptureStatement captureStatement)
    {
        _locals.Add(captureStatement.Identifier);
        return base.VisitCaptureStatement(captureStatement);
    }

    protected override Statement VisitIncrementStatement(IncrementStatement incrementStatement)
    {
        _locals.Add(incrementStatement.Identifier);
        return base.VisitIncrementStatement(incrementStatement);
    }

    protected override Statement VisitDecrementStatement(DecrementStatement decrementStatement)
    {
        _locals.Add(decrementStatement.Identifier);
        return base.VisitDecrementStatement(decrementStatement);
    }

    protected override Statement VisitForStatement(ForStatement forStatement)
    {
        _locals.Add(forStatement.Identifier);
        _locals.Add("forloop");
        return base.VisitForStatement(forStatement);
    }

    protected override Statement VisitTableRowStatement(TableRowStatement tableRowStatement)
    {
        _locals.Add(tableRowStatement.Identifier);
        _locals.Add("tablerowloop");
        return base.VisitTableRowStatement(tableRowStatement);
    }

    protected override Statement VisitIncludeStatement(IncludeStatement includeStatement)
    {
        _unsupportedTags.Add("include");
        return base.VisitIncludeStatement(includeStatement);
    }

    protected override Statement VisitRenderStatement(RenderStatement renderStatement)
    {
        _unsupportedTags.Add("render");
        return base.VisitRenderStatement(renderStatement);
    }

    protected override Statement VisitMacroStatement(MacroStatement macroStatement)
    {
        _unsupportedTags.Add("macro");
        return base.VisitMacroStatement(macroStatement);
    }

    protected override Statement VisitFromStatement(FromStatement fromStatement)
    {
        _unsupportedTags.Add("from");
        return base.VisitFromStatement(fromStatement);
    }
}
