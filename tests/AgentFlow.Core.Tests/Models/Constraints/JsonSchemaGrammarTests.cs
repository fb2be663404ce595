using System.Text;
using System.Text.Json;
using AgentFlow.Models.Constraints;
using Json.Schema;

namespace AgentFlow.Core.Tests.Models.Constraints;

public sealed class JsonSchemaGrammarTests
{
    private static readonly string[] MultiByteTokens = ["\"category\"", "bill", "ing\"", "\":\"", "abc", "},", "\\u00e9"];

    private const string OrderSchema = """
        { "type": "object",
          "properties": { "order_id": { "type": "string", "pattern": "^[A-Z0-9-]{1,20}$" }, "note": { "type": "string", "maxLength": 5 } },
          "required": ["order_id"] }
        """;

    [Theory]
    [InlineData("""{"order_id":"AB-12"}""", true)]
    [InlineData("""{"order_id":"AB-12","note":"hi"}""", true)]
    [InlineData("""{"order_id":"ab-12"}""", false)]
    [InlineData("""{"order_id":""}""", false)]
    [InlineData("""{"order_id":"ABCDEFGHIJKLMNOPQRSTU"}""", false)]
    [InlineData("""{"note":"hi"}""", false)]
    [InlineData("""{"order_id":"A","note":"toolong"}""", false)]
    [InlineData("""{"order_id":"A","extra":1}""", false)]
    [InlineData("""{"order_id":"A",}""", false)]
    public void FromSchema_ObjectWithPatternAndOptional_AcceptsExactlyTheValidTexts(string text, bool valid)
    {
        Assert.Equal(valid, Compile(OrderSchema).Matches(text));
    }

    [Theory]
    [InlineData("""{"type":"integer","minimum":0}""", "0", true)]
    [InlineData("""{"type":"integer","minimum":0}""", "-3", false)]
    [InlineData("""{"type":"integer","minimum":1}""", "0", false)]
    [InlineData("""{"type":"integer"}""", "-42", true)]
    [InlineData("""{"type":"integer"}""", "042", false)]
    [InlineData("""{"type":"number"}""", "-1.25", true)]
    [InlineData("""{"type":"number"}""", "1.", false)]
    [InlineData("""{"type":"boolean"}""", "false", true)]
    [InlineData("""{"type":"null"}""", "null", true)]
    [InlineData("""{"type":["string","null"]}""", "null", true)]
    [InlineData("""{"enum":["billing","bug",3]}""", "\"bug\"", true)]
    [InlineData("""{"enum":["billing","bug",3]}""", "3", true)]
    [InlineData("""{"enum":["billing","bug",3]}""", "\"other\"", false)]
    [InlineData("""{"const":{"a":[1,true]}}""", """{"a":[1,true]}""", true)]
    [InlineData("""{"anyOf":[{"type":"integer"},{"type":"string","maxLength":2}]}""", "\"ab\"", true)]
    [InlineData("""{"oneOf":[{"type":"integer"},{"type":"string","maxLength":2}]}""", "\"abc\"", false)]
    [InlineData("""{"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3}""", "[1,2,3]", true)]
    [InlineData("""{"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3}""", "[]", false)]
    [InlineData("""{"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3}""", "[1,2,3,4]", false)]
    [InlineData("""{"type":"string","minLength":2,"maxLength":3}""", "\"a\\\"\"", true)]
    [InlineData("""{"type":"string","minLength":2,"maxLength":3}""", "\"a\"", false)]
    [InlineData("""{"type":"string","pattern":"ab"}""", "\"xxabyy\"", true)]
    [InlineData("""{"type":"string","pattern":"^(?:cat|dog)s?$"}""", "\"dogs\"", true)]
    [InlineData("""{"type":"string","pattern":"^(?:cat|dog)s?$"}""", "\"cow\"", false)]
    [InlineData("""{"type":"string","pattern":"^\\d{3}-\\w+$"}""", "\"123-a_b\"", true)]
    [InlineData("""{"type":"string","pattern":"^[^a-z]{2}$"}""", "\"A\\\"\"", true)]
    [InlineData("""{"type":"object","properties":{"a":{"type":"object","properties":{"b":{"type":"boolean"}},"required":["b"]}},"required":["a"]}""", """{"a":{"b":true}}""", true)]
    [InlineData("""{"type":"object","properties":{"a":{"type":"boolean"},"b":{"type":"boolean"}}}""", """{"b":true}""", true)]
    [InlineData("""{"type":"object","properties":{"a":{"type":"boolean"},"b":{"type":"boolean"}}}""", "{}", true)]
    [InlineData("""{"type":"object","properties":{"a":{"type":"boolean"},"b":{"type":"boolean"}}}""", """{,"b":true}""", false)]
    public void FromSchema_Keyword_AcceptsValidAndRejectsInvalid(string schema, string text, bool valid)
    {
        Assert.Equal(valid, Compile(schema).Matches(text));
    }

    [Theory]
    [InlineData("""{"type":"object","properties":{"a":{"allOf":[{"type":"string"}]}}}""", "/properties/a", "allOf")]
    [InlineData("""{"type":"object","properties":{"a":{"$ref":"#/x"}}}""", "/properties/a", "$ref")]
    [InlineData("""{"type":"integer","maximum":5}""", "", "maximum")]
    [InlineData("""{"type":"integer","minimum":5}""", "/minimum", "minimum")]
    [InlineData("""{"type":"string","pattern":"^(a)\\1$"}""", "/pattern", "backreferences")]
    [InlineData("""{"type":"string","pattern":"^(?=a)$"}""", "/pattern", "lookaround")]
    [InlineData("""{"type":"string","maxLength":100000}""", "/maxLength", "maxLength")]
    [InlineData("""{"type":"object","required":["x"]}""", "/required", "'x'")]
    [InlineData("""{"type":"date"}""", "/type", "unknown type")]
    public void FromSchema_Unsupported_ThrowsWithPathAndKeyword(string schema, string path, string mention)
    {
        using var document = JsonDocument.Parse(schema);

        var error = Assert.Throws<UnsupportedSchemaException>(() => JsonSchemaGrammar.FromSchema(document.RootElement));

        Assert.Equal(path, error.Path);
        Assert.Contains(mention, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TokenConstraint_RandomLogitsAndTightBudget_EveryOutputIsSchemaValid()
    {
        // A byte vocabulary plus some multi-byte tokens, random logits: the constraint alone must keep every output
        // valid JSON under the schema, even when the token limit is barely above the shortest valid answer.
        const string schema = """
            { "type": "object",
              "properties": {
                "category": { "enum": ["billing", "bug", "other"] },
                "summary": { "type": "string", "maxLength": 40 },
                "tags": { "type": "array", "items": { "type": "string", "pattern": "^[a-z]{1,8}$" }, "maxItems": 4 },
                "priority": { "type": "integer", "minimum": 1 },
                "refund": { "anyOf": [{ "type": "number" }, { "type": "null" }] } },
              "required": ["category", "summary", "tags", "priority"] }
            """;
        var texts = Enumerable.Range(0, 256).Select(b => new[] { (byte)b })
            .Concat(MultiByteTokens.Select(Encoding.ASCII.GetBytes))
            .ToList();
        var end = texts.Count;
        texts.Add([]);
        var vocabulary = new TokenVocabulary(texts, [end]);
        var automaton = Compile(schema);
        var validator = JsonSchema.FromText(schema);
        var random = new Random(7);
        for (var run = 0; run < 40; run++)
        {
            var maxTokens = automaton.MinimumLength + run * 3;
            var constraint = new TokenConstraint(automaton, vocabulary, maxTokens);
            var output = new List<byte>();
            for (var i = 0; i < maxTokens && !constraint.IsComplete; i++)
            {
                var logits = Enumerable.Range(0, vocabulary.Count).Select(_ => (float)random.NextDouble()).ToArray();
                constraint.Mask(logits);
                var token = Array.IndexOf(logits, logits.Max());
                constraint.Accept(token);
                if (token == end)
                {
                    break;
                }

                output.AddRange(vocabulary.Text(token).ToArray());
            }

            var json = Encoding.UTF8.GetString([.. output]);
            using var document = JsonDocument.Parse(json);
            Assert.True(validator.Evaluate(document.RootElement).IsValid, json);
        }
    }

    [Fact]
    public void TokenConstraint_LimitBelowShortestAnswer_ThrowsSayingRaiseMaxTokens()
    {
        var vocabulary = new TokenVocabulary(Enumerable.Range(0, 256).Select(b => new[] { (byte)b }).ToList(), []);

        var error = Assert.Throws<AgentFlowException>(() => new TokenConstraint(Compile(OrderSchema), vocabulary, 5));

        Assert.Contains("raise max_tokens", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TextNotStartingWith_Prefix_RejectsOnlyTextsStartingWithIt()
    {
        var automaton = ByteAutomaton.Compile(GrammarNode.TextNotStartingWith("<tool_call>"));

        Assert.True(automaton.Matches("hello"));
        Assert.True(automaton.Matches("<tool"));
        Assert.True(automaton.Matches("<tool_cal x"));
        Assert.True(automaton.Matches(""));
        Assert.False(automaton.Matches("<tool_call>"));
        Assert.False(automaton.Matches("<tool_call>{}"));
    }

    private static ByteAutomaton Compile(string schema)
    {
        using var document = JsonDocument.Parse(schema);
        return ByteAutomaton.Compile(JsonSchemaGrammar.FromSchema(document.RootElement));
    }
}
