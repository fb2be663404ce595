using System.Globalization;
using System.Text;
using System.Text.Json;

namespace AgentFlow.Tracking.MLflow.Sqlite;

/// <summary>What a filter or order-by key refers to.</summary>
internal enum SearchEntity
{
    Metric,
    Param,
    Tag,
    Attribute,
}

/// <summary>One <c>entity.key comparator value</c> clause.</summary>
/// <param name="Entity">What the key names.</param>
/// <param name="Key">Metric/param/tag key, or the runs column for an attribute.</param>
/// <param name="Comparator">Upper-case comparator: <c>= != &lt; &lt;= &gt; &gt;= LIKE ILIKE IN NOT IN</c>.</param>
/// <param name="Value">A <see cref="double"/>, a <see cref="string"/> or a list of strings (IN).</param>
internal sealed record SearchClause(SearchEntity Entity, string Key, string Comparator, object Value);

/// <summary>One order-by term.</summary>
internal sealed record SearchOrder(SearchEntity Entity, string Key, bool Ascending);

/// <summary>
/// The subset of MLflow's run search grammar (<c>mlflow/utils/search_utils.py</c>) the embedded store answers:
/// clauses joined by <c>and</c>; <c>metrics.k</c> with <c>= != &lt; &lt;= &gt; &gt;=</c> and a number;
/// <c>params.k</c> / <c>tags.k</c> with <c>= != LIKE ILIKE IN NOT IN</c> and quoted strings;
/// <c>attributes.status/run_name/run_id/user_id/artifact_uri</c> (strings) and <c>attributes.start_time/end_time</c> (numbers).
/// Keys with special characters are quoted: <c>params."model.planner"</c> or <c>params.`model.planner`</c>.
/// </summary>
internal static class SearchFilter
{
    private static readonly Dictionary<string, string> StringAttributes = new(StringComparer.OrdinalIgnoreCase)
    {
        ["run_id"] = "run_uuid",
        ["run_name"] = "name",
        ["status"] = "status",
        ["user_id"] = "user_id",
        ["artifact_uri"] = "artifact_uri",
        ["lifecycle_stage"] = "lifecycle_stage",
    };

    private static readonly Dictionary<string, string> NumericAttributes = new(StringComparer.OrdinalIgnoreCase)
    {
        ["start_time"] = "start_time",
        ["end_time"] = "end_time",
        ["created"] = "start_time",
    };

    private static readonly HashSet<string> NumericComparators = new(StringComparer.Ordinal) { "=", "!=", "<", "<=", ">", ">=" };
    private static readonly HashSet<string> StringComparators = new(StringComparer.Ordinal) { "=", "!=", "LIKE", "ILIKE", "IN", "NOT IN" };

    public static List<SearchClause> ParseFilter(string? filter)
    {
        var clauses = new List<SearchClause>();
        if (string.IsNullOrWhiteSpace(filter))
        {
            return clauses;
        }

        var scanner = new Scanner(filter);
        while (true)
        {
            clauses.Add(ParseClause(scanner, filter));
            scanner.SkipWhitespace();
            if (scanner.AtEnd)
            {
                return clauses;
            }

            if (!scanner.TryKeyword("AND"))
            {
                throw Invalid(filter, $"expected 'and' or the end at position {scanner.Position + 1}; only 'and' joins clauses");
            }
        }
    }

    public static List<SearchOrder> ParseOrderBy(IReadOnlyList<string>? orderBy)
    {
        var result = new List<SearchOrder>();
        foreach (var term in orderBy ?? [])
        {
            if (string.IsNullOrWhiteSpace(term))
            {
                continue;
            }

            var scanner = new Scanner(term);
            var (entity, key) = ParseIdentifier(scanner, term);
            entity = entity ?? SearchEntity.Attribute;
            if (entity == SearchEntity.Attribute)
            {
                key = StringAttributes.TryGetValue(key, out var column) ? column
                    : NumericAttributes.TryGetValue(key, out column) ? column
                    : throw InvalidOrder(term, $"unknown attribute '{key}'");
            }

            scanner.SkipWhitespace();
            var ascending = true;
            if (scanner.TryKeyword("DESC"))
            {
                ascending = false;
            }
            else
            {
                scanner.TryKeyword("ASC");
            }

            scanner.SkipWhitespace();
            if (!scanner.AtEnd)
            {
                throw InvalidOrder(term, "expected ASC or DESC after the key");
            }

            result.Add(new SearchOrder(entity.Value, key, ascending));
        }

        return result;
    }

    /// <summary>MLflow's page token: base64 of <c>{"offset": N}</c>.</summary>
    public static string CreatePageToken(int offset) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes("{\"offset\": " + offset.ToString(CultureInfo.InvariantCulture) + "}"));

    public static int ParsePageToken(string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return 0;
        }

        try
        {
            using var document = JsonDocument.Parse(Convert.FromBase64String(token));
            var offset = document.RootElement.GetProperty("offset");
            var value = offset.ValueKind == JsonValueKind.String
                ? int.Parse(offset.GetString()!, NumberStyles.Integer, CultureInfo.InvariantCulture)
                : offset.GetInt32();
            return value >= 0 ? value : throw new FormatException("negative offset");
        }
        catch (Exception e) when (e is FormatException or JsonException or KeyNotFoundException or InvalidOperationException or OverflowException)
        {
            throw new MlflowValidationException($"Invalid page token '{token}'.");
        }
    }

    private static SearchClause ParseClause(Scanner scanner, string filter)
    {
        scanner.SkipWhitespace();
        var (entity, key) = ParseIdentifier(scanner, filter);
        scanner.SkipWhitespace();
        var comparator = ParseComparator(scanner, filter);
        scanner.SkipWhitespace();
        var value = ParseValue(scanner, filter, comparator);

        switch (entity ?? SearchEntity.Attribute)
        {
            case SearchEntity.Metric:
                if (!NumericComparators.Contains(comparator) || value is not double)
                {
                    throw Invalid(filter, $"metrics.{key} needs one of = != < <= > >= and a number");
                }

                return new SearchClause(SearchEntity.Metric, key, comparator, value);

            case SearchEntity.Param or SearchEntity.Tag:
                if (!StringComparators.Contains(comparator) || value is double)
                {
                    throw Invalid(filter, $"{(entity == SearchEntity.Param ? "params" : "tags")}.{key} needs one of = != LIKE ILIKE IN and a quoted string");
                }

                return new SearchClause(entity!.Value, key, comparator, value);

            default:
                if (StringAttributes.TryGetValue(key, out var column))
                {
                    if (!StringComparators.Contains(comparator) || value is double)
                    {
                        throw Invalid(filter, $"attributes.{key} needs one of = != LIKE ILIKE IN and a quoted string");
                    }

                    return new SearchClause(SearchEntity.Attribute, column, comparator, value);
                }

                if (NumericAttributes.TryGetValue(key, out column))
                {
                    if (!NumericComparators.Contains(comparator) || value is not double)
                    {
                        throw Invalid(filter, $"attributes.{key} needs one of = != < <= > >= and a number (Unix milliseconds)");
                    }

                    return new SearchClause(SearchEntity.Attribute, column, comparator, value);
                }

                throw Invalid(filter, $"unknown attribute '{key}' (known: {string.Join(", ", StringAttributes.Keys.Concat(NumericAttributes.Keys).Distinct(StringComparer.OrdinalIgnoreCase))})");
        }
    }

    private static (SearchEntity? Entity, string Key) ParseIdentifier(Scanner scanner, string text)
    {
        scanner.SkipWhitespace();
        if (scanner.Peek is '"' or '`')
        {
            return (null, scanner.ReadQuoted(text));
        }

        var word = scanner.ReadWhile(c => char.IsLetterOrDigit(c) || c == '_');
        if (word.Length == 0)
        {
            throw Invalid(text, $"expected a key at position {scanner.Position + 1}");
        }

        if (scanner.Peek != '.')
        {
            return (null, word);
        }

        scanner.Advance();
        var entity = word.ToLowerInvariant() switch
        {
            "metric" or "metrics" => SearchEntity.Metric,
            "param" or "params" or "parameter" or "parameters" => SearchEntity.Param,
            "tag" or "tags" => SearchEntity.Tag,
            "attribute" or "attributes" or "attr" or "run" => SearchEntity.Attribute,
            _ => throw Invalid(text, $"unknown entity '{word}' (use metrics., params., tags. or attributes.)"),
        };

        string key;
        if (scanner.Peek is '"' or '`')
        {
            key = scanner.ReadQuoted(text);
        }
        else
        {
            key = scanner.ReadWhile(c => char.IsLetterOrDigit(c) || c is '_' or '.' or '-' or '/' or ':');
        }

        if (key.Length == 0)
        {
            throw Invalid(text, $"'{word}.' must be followed by a key");
        }

        return (entity, key);
    }

    private static string ParseComparator(Scanner scanner, string filter)
    {
        foreach (var symbol in new[] { "!=", "<=", ">=", "=", "<", ">" })
        {
            if (scanner.TrySymbol(symbol))
            {
                return symbol;
            }
        }

        if (scanner.TryKeyword("LIKE"))
        {
            return "LIKE";
        }

        if (scanner.TryKeyword("ILIKE"))
        {
            return "ILIKE";
        }

        if (scanner.TryKeyword("IN"))
        {
            return "IN";
        }

        if (scanner.TryKeyword("NOT"))
        {
            scanner.SkipWhitespace();
            if (scanner.TryKeyword("IN"))
            {
                return "NOT IN";
            }
        }

        throw Invalid(filter, $"expected a comparator (= != < <= > >= LIKE ILIKE IN NOT IN) at position {scanner.Position + 1}");
    }

    private static object ParseValue(Scanner scanner, string filter, string comparator)
    {
        if (comparator is "IN" or "NOT IN")
        {
            if (!scanner.TrySymbol("("))
            {
                throw Invalid(filter, $"{comparator} needs a parenthesized list of quoted strings");
            }

            var items = new List<string>();
            while (true)
            {
                scanner.SkipWhitespace();
                if (scanner.Peek is not ('\'' or '"'))
                {
                    throw Invalid(filter, $"{comparator} lists hold quoted strings");
                }

                items.Add(scanner.ReadQuoted(filter));
                scanner.SkipWhitespace();
                if (scanner.TrySymbol(")"))
                {
                    return items;
                }

                if (!scanner.TrySymbol(","))
                {
                    throw Invalid(filter, $"expected ',' or ')' in the {comparator} list");
                }
            }
        }

        if (scanner.Peek is '\'' or '"')
        {
            return scanner.ReadQuoted(filter);
        }

        var number = scanner.ReadWhile(c => char.IsDigit(c) || c is '.' or '-' or '+' or 'e' or 'E');
        if (number.Length > 0 && double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }

        throw Invalid(filter, $"expected a number or a quoted string at position {scanner.Position + 1}");
    }

    private static MlflowValidationException Invalid(string filter, string why) =>
        new($"Invalid search filter '{filter}': {why}.");

    private static MlflowValidationException InvalidOrder(string term, string why) =>
        new($"Invalid order_by clause '{term}': {why}.");

    private sealed class Scanner(string text)
    {
        public int Position { get; private set; }

        public bool AtEnd => Position >= text.Length;

        public char Peek => AtEnd ? '\0' : text[Position];

        public void Advance() => Position++;

        public void SkipWhitespace()
        {
            while (!AtEnd && char.IsWhiteSpace(text[Position]))
            {
                Position++;
            }
        }

        public string ReadWhile(Func<char, bool> predicate)
        {
            var start = Position;
            while (!AtEnd && predicate(text[Position]))
            {
                Position++;
            }

            return text[start..Position];
        }

        /// <summary>Reads a '…', "…" or `…` literal; a doubled quote character stands for itself.</summary>
        public string ReadQuoted(string whole)
        {
            var quote = text[Position++];
            var builder = new StringBuilder();
            while (true)
            {
                if (AtEnd)
                {
                    throw Invalid(whole, $"unterminated {quote} quote");
                }

                var c = text[Position++];
                if (c == quote)
                {
                    if (!AtEnd && text[Position] == quote)
                    {
                        builder.Append(quote);
                        Position++;
                        continue;
                    }

                    return builder.ToString();
                }

                builder.Append(c);
            }
        }

        public bool TrySymbol(string symbol)
        {
            if (string.CompareOrdinal(text, Position, symbol, 0, symbol.Length) == 0)
            {
                Position += symbol.Length;
                return true;
            }

            return false;
        }

        /// <summary>Consumes a case-insensitive keyword that ends at a non-letter.</summary>
        public bool TryKeyword(string keyword)
        {
            if (Position + keyword.Length > text.Length ||
                string.Compare(text, Position, keyword, 0, keyword.Length, StringComparison.OrdinalIgnoreCase) != 0)
            {
                return false;
            }

            var end = Position + keyword.Length;
            if (end < text.Length && (char.IsLetterOrDigit(text[end]) || text[end] == '_'))
            {
                return false;
            }

            Position = end;
            return true;
        }
    }
}
