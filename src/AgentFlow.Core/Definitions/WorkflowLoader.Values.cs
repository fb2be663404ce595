using System.Globalization;
using AgentFlow.Definitions.Yaml;
using AgentFlow.Diagnostics;
using YamlDotNet.Core;

namespace AgentFlow.Definitions;

public static partial class WorkflowLoader
{
    /// <summary>Typed reads of YAML values: each reports a located AF0105 (or the code given) and returns null when the value does not fit.</summary>
    private sealed partial class Reader
    {
        // Shared by every template's source map: computing it per template made reading quadratic in the file size.
        private int[]? _lineStarts;

        /// <summary>Checks the keys of <paramref name="map"/> against <paramref name="allowed"/>, suggesting the near one.</summary>
        private Dictionary<string, YamlTreeNode> Keys(YamlTreeMapping map, string[] allowed, string what)
        {
            var keys = new Dictionary<string, YamlTreeNode>(StringComparer.Ordinal);
            foreach (var (keyNode, valueNode) in map.Entries)
            {
                var key = keyNode.Value;
                if (!allowed.Contains(key, StringComparer.Ordinal))
                {
                    Error(keyNode.Start, "AF0102", $"unknown key '{Printable(key)}' in {what}" + NameSuggestion.DidYouMean(key, allowed), $"allowed keys: {string.Join(", ", allowed)}");
                    continue;
                }

                keys[key] = valueNode;
            }

            return keys;
        }

        /// <summary>Reports a missing required key at the mapping that lacks it.</summary>
        private void Require(YamlTreeMapping map, Dictionary<string, YamlTreeNode> keys, string key, string what, string example)
        {
            if (!keys.ContainsKey(key))
            {
                Error(map.Start, "AF0103", $"{what} is missing required key '{key}'", $"add {example}");
            }
        }

        private YamlTreeMapping? Mapping(YamlTreeNode node, string what, string hint, bool allowNull = false)
        {
            switch (node)
            {
                case YamlTreeMapping map:
                    return map;
                case YamlTreeScalar { IsNull: true } when allowNull:
                    return new YamlTreeMapping([], node.Start, node.End);
                default:
                    Error(node.Start, "AF0105", $"{what} must be a mapping (key: value), not {node.Describe()}", hint);
                    return null;
            }
        }

        private string? Scalar(YamlTreeNode node, string what)
        {
            if (node is YamlTreeScalar scalar)
            {
                return scalar.Value;
            }

            Error(node.Start, "AF0105", $"'{what}' must be a single value, not {node.Describe()}", "write it on one line, quoted if it contains ':', '#', '{' or '['");
            return null;
        }

        /// <summary>A scalar that may be left empty or null (then null).</summary>
        private string? OptionalScalar(YamlTreeNode node, string what) =>
            node is YamlTreeScalar { IsNull: true } ? null : Scalar(node, what);

        /// <summary>Liquid text with its position in the file, character by character.</summary>
        private TemplateText? Template(YamlTreeNode node, string what, bool required = false)
        {
            if (Scalar(node, what) is not { } value)
            {
                return null;
            }

            var scalar = (YamlTreeScalar)node;
            if (required && string.IsNullOrWhiteSpace(value))
            {
                Error(node.Start, "AF0105", $"'{what}' is empty", what is "when" or "until" ? $"write a condition, e.g. {what}: \"steps.x.output contains 'DONE'\"" : $"write the {what} text");
                return null;
            }

            var map = TemplateSourceMap.Create(path, text, scalar, _lineStarts ??= TemplateSourceMap.LineStarts(text));
            var start = map?.At(0) ?? At(node.Start);
            return new TemplateText(value, start) { SourceMap = map };
        }

        private int? Int(YamlTreeNode node, string what, int min, int max)
        {
            if (Scalar(node, what) is not { } value)
            {
                return null;
            }

            if (!int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number) || number < min || number > max)
            {
                var range = max == int.MaxValue ? (min == 1 ? "a positive integer" : $"an integer of at least {min}") : $"an integer from {min} to {max}";
                Error(node.Start, "AF0105", $"'{what}' must be {range}, got '{value}'", $"e.g. {what}: {Math.Max(min, 1)}");
                return null;
            }

            return number;
        }

        private double? Number(YamlTreeNode node, string what, double min, double max)
        {
            if (Scalar(node, what) is not { } value)
            {
                return null;
            }

            if (!TryNumber(value, out var number) || number < min || number > max)
            {
                var (low, high) = (min.ToString(CultureInfo.InvariantCulture), max.ToString(CultureInfo.InvariantCulture));
                Error(node.Start, "AF0105", $"'{what}' must be a number from {low} to {high}, got '{value}'", $"e.g. {what}: {low}");
                return null;
            }

            return number;
        }

        private bool? Bool(YamlTreeNode node, string what)
        {
            if (Scalar(node, what) is not { } value)
            {
                return null;
            }

            if (TryBool(value, out var flag))
            {
                return flag;
            }

            Error(node.Start, "AF0105", $"'{what}' must be true or false, got '{value}'", $"{what}: true");
            return null;
        }

        private List<string> Strings(YamlTreeNode node, string what)
        {
            switch (node)
            {
                case YamlTreeScalar scalar:
                    return [scalar.Value];
                case YamlTreeSequence sequence:
                    return [.. sequence.Items.Select(c => Scalar(c, what)).OfType<string>()];
                default:
                    Error(node.Start, "AF0105", $"'{what}' must be a list of strings, not {node.Describe()}", $"{what}: [\"one\", \"two\"]");
                    return [];
            }
        }

        /// <summary>A positive duration, at most <paramref name="max"/> when given (callers with a lower bound check it themselves).</summary>
        private TimeSpan? Duration(YamlTreeNode node, string what, TimeSpan? max = null)
        {
            if (Scalar(node, what) is not { } value)
            {
                return null;
            }

            if (!DurationText.TryParse(value, out var duration) || duration <= TimeSpan.Zero)
            {
                Error(node.Start, "AF0105", $"'{what}' must be a positive duration such as 500ms, 30s, 5m, 2h or 1d, got '{value}'", $"e.g. {what}: 30s");
                return null;
            }

            if (duration > max)
            {
                Error(node.Start, "AF0105", $"'{what}' must be a positive duration of at most {DurationText.Format(max.Value)}, got '{value}'", $"e.g. {what}: 30s");
                return null;
            }

            return duration;
        }

        private T Invalid<T>(YamlTreeNode node, string code, string message, string hint, T fallback)
        {
            Error(node.Start, code, message, hint);
            return fallback;
        }

        /// <summary>Shows invisible characters of a name as \uXXXX, so "unknown key" messages explain themselves.</summary>
        private static string Printable(string name) =>
            name.Any(char.IsControl) ? string.Concat(name.Select(c => char.IsControl(c) ? $"\\u{(int)c:X4}" : c.ToString())) : name;

        private static bool TryNumber(string value, out double number) =>
            double.TryParse(value, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out number)
            && double.IsFinite(number);

        private static bool TryBool(string value, out bool flag)
        {
            flag = value is "true" or "True" or "TRUE";
            return flag || value is "false" or "False" or "FALSE";
        }

        private static bool Fits(InputType type, string value) => type switch
        {
            InputType.Integer => long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _),
            InputType.Number => TryNumber(value, out _),
            InputType.Boolean => TryBool(value, out _),
            _ => true,
        };

        private void Error(Mark mark, string code, string message, string? hint) =>
            diagnostics.Add(new Diagnostic(At(mark), code, message, hint));

        private void Warning(Mark mark, string code, string message, string? hint) =>
            diagnostics.Add(new Diagnostic(At(mark), code, message, hint, DiagnosticSeverity.Warning));

        private SourceLocation At(Mark mark) => YamlTree.At(path, mark);
    }
}
