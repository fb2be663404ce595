using Fluid;
using Fluid.Ast;

namespace AgentFlow.Templates;

/// <summary>
/// The variable paths a parsed template reads (<c>inputs.ticket</c>, <c>steps.classify.output</c>, <c>loop.iteration</c>),
/// found by walking Fluid's own AST, plus the names the template defines itself (<c>assign</c>, <c>capture</c>,
/// <c>for</c>) so those are not mistaken for unknown variables.
/// </summary>
internal sealed class TemplateReferences : AstVisitor
{
    private readonly List<IReadOnlyList<string>> _paths = [];
    private readonly HashSet<string> _locals = new(StringComparer.Ordinal);

    private TemplateReferences()
    {
    }

    /// <summary>Every identifier path read, in template order (indexers and calls end a path).</summary>
    public IReadOnlyList<IReadOnlyList<string>> Paths => _paths;

    /// <summary>Names assigned, captured or iterated inside the template.</summary>
    public IReadOnlySet<string> Locals => _locals;

    public static TemplateReferences Collect(IFluidTemplate template)
    {
        var references = new TemplateReferences();
        references.VisitTemplate(template);
        return references;
    }

    protected override Expression VisitMemberExpression(MemberExpression memberExpression)
    {
        var path = new List<string>();
        foreach (var segment in memberExpression.Segments)
        {
            if (segment is not IdentifierSegment identifier)
            {
                break;
            }

            path.Add(identifier.Identifier);
        }

        if (path.Count > 0)
        {
            _paths.Add(path);
        }

        return base.VisitMemberExpression(memberExpression);
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

    protected override Statement VisitForStatement(ForStatement forStatement)
    {
        _locals.Add(forStatement.Identifier);
        _locals.Add("forloop");
        return base.VisitForStatement(forStatement);
    }
}
