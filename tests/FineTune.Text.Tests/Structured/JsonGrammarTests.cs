// The grammar alone, byte by byte: what it accepts and refuses, random walks through it that always end in documents
// an independent checker accepts, and the shortest-completion count that the token budget relies on being exact.
using System.Text;
using System.Text.Json;
using FineTune.Text.Structured;

namespace FineTune.Text.Tests.Structured;

public sealed class JsonGrammarTests
{
    static readonly JsonGrammar Ticket = JsonSchemaCompiler.Compile(TicketSchema.Element);

    static readonly string Valid = """
        {"category":"billing","priority":2,"summary":"double charge","tags":["card","é"],
        "refund":-12.5e1,"customer":{"name":"Ann","manager":{"name":"Bo","manager":null}}}
        """.Replace("\n", "");

    [Fact]
    public void A_document_of_the_schema_is_accepted_with_whitespace_and_optional_properties()
    {
        Assert.Null(TicketSchema.Problem(Valid));
        Assert.True(Ticket.Accepts(Valid));
        Assert.True(Ticket.Accepts(Valid.Replace(",\"customer\"", ",\n  \"urgent\": true,\n  \"customer\"")));
        Assert.True(Ticket.Accepts(" " + Valid.Replace(":", ": ").Replace(",\"", ", \"")));
    }

    [Theory]
    [InlineData("\"category\":\"billing\"", "\"category\":\"refunds\"")]        // outside the enum
    [InlineData("\"priority\":2", "\"priority\":2.5")]                         // not an integer
    [InlineData("\"priority\":2", "\"priority\":02")]                          // leading zero
    [InlineData("\"double charge\"", "\"charged twice, then a third time, then again\"")] // maxLength 40
    [InlineData("[\"card\",\"é\"]", "[\"card\",\"é\",]")]                      // trailing comma
    [InlineData("[\"card\",\"é\"]", "[\"a\",\"b\",\"c\",\"d\"]")]              // maxItems 3
    [InlineData("[\"card\",\"é\"]", "[\"\"]")]                                 // minLength 1
    [InlineData("\"refund\":-12.5e1,", "")]                                    // required property missing
    [InlineData("\"manager\":null", "\"manager\":null,\"age\":3")]            // additionalProperties false
    [InlineData("\"name\":\"Bo\"", "\"name\":\"\\ud800\"")]                     // a lone surrogate escape
    [InlineData("\"name\":\"Bo\"", "\"name\":\"B\no\"")]                       // a raw control character
    [InlineData("}}}", "}}")]                                                  // unfinished
    public void A_document_that_breaks_the_schema_is_refused(string part, string replacement)
    {
        Assert.Contains(part, Valid);
        var broken = Valid.Replace(part, replacement);
        Assert.False(Ticket.Accepts(broken), broken);
    }

    [Fact]
    public void Properties_come_in_schema_order_as_structured_outputs_write_them()
    {
        var swapped = Valid.Replace("\"category\":\"billing\",\"priority\":2",
            "\"priority\":2,\"category\":\"billing\"");
        Assert.Null(TicketSchema.Problem(swapped));   // valid JSON for the schema ...
        Assert.False(Ticket.Accepts(swapped));        // ... but not the order this decoder writes
    }

    [Fact]
    public void Random_walks_end_in_documents_the_independent_checker_accepts()
    {
        var random = new Random(5);
        for (int walk = 0; walk < 300; walk++)
        {
            var text = Walk(Ticket, random, softLimit: random.Next(0, 400));
            Assert.Null(TicketSchema.Problem(text));
        }
    }

    [Fact]
    public void The_shortest_completion_count_is_exact_at_every_state()
    {
        // From any state the count falls by exactly one for some byte and by no more than one for any: so it is the
        // length of the shortest completion, which the token budget relies on.
        var random = new Random(6);
        for (int walk = 0; walk < 60; walk++)
            Walk(Ticket, random, softLimit: random.Next(0, 300), check: true);
        var anything = JsonSchemaCompiler.AnyObject();
        for (int walk = 0; walk < 60; walk++)
            JsonDocument.Parse(Walk(anything, random, softLimit: random.Next(0, 200), check: true)).Dispose();
    }

    [Fact]
    public void Json_object_mode_takes_any_object_and_nothing_else()
    {
        var any = JsonSchemaCompiler.AnyObject();
        Assert.True(any.Accepts("""{"a":[1,{"b":null},"x",true,-0.5E+3],"":{}}"""));
        Assert.True(any.Accepts("{}"));
        Assert.False(any.Accepts("[1]"));
        Assert.False(any.Accepts("\"text\""));
        Assert.False(any.Accepts("{\"a\":1}{"));
        Assert.False(any.Accepts("{\"a\" 1}"));
    }

    [Theory]
    [InlineData("""{"type":"string","pattern":"^a+$"}""", "schema.pattern", "'pattern' is not supported")]
    [InlineData("""{"type":"object","properties":{"n":{"type":"integer","minimum":1}}}""",
        "schema.properties.n.minimum", "'minimum' is not supported")]
    [InlineData("""{"type":"object","required":["x"]}""", "schema.required", "'x'")]
    [InlineData("""{"type":"strin"}""", "schema.type", "'strin' is not a JSON Schema type")]
    [InlineData("""{"$ref":"#/$defs/missing"}""", "schema", "points at nothing")]
    [InlineData("""{"$ref":"https://example.com/s.json"}""", "schema", "only references inside this schema")]
    [InlineData("""{"type":"object","properties":{"me":{"$ref":"#"}},"required":["me"]}""", "schema",
        "no finite JSON value")]
    [InlineData("""{"anyOf":[{"type":"string"}],"type":"string"}""", "schema.type", "beside 'anyOf'")]
    [InlineData("""{"enum":[]}""", "schema.enum", "1 to 1000 values")]
    [InlineData("""{"type":"array","maxItems":-1}""", "schema.maxItems", "non-negative integer")]
    public void A_schema_the_decoder_cannot_enforce_is_refused_naming_where(string schema, string path,
        string message)
    {
        var e = Assert.Throws<StructuredOutputException>(() =>
            JsonSchemaCompiler.Compile(JsonDocument.Parse(schema).RootElement));
        Assert.Equal(path, e.Path);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void A_hostile_schema_is_bounded()
    {
        var deep = new StringBuilder();
        for (int i = 0; i < 40; i++)
            deep.Append("""{"type":"array","items":""");
        deep.Append("""{"type":"null"}""").Append('}', 40);
        var e = Assert.Throws<StructuredOutputException>(() =>
            JsonSchemaCompiler.Compile(JsonDocument.Parse(deep.ToString()).RootElement));
        Assert.Contains("deeper than 32", e.Message);

        // json_object nests, but only so far: a document that opens 60 arrays is refused on the 49th
        var any = JsonSchemaCompiler.AnyObject();
        Assert.True(any.Accepts("{\"a\":" + new string('[', 40) + new string(']', 40) + "}"));
        Assert.False(any.Accepts("{\"a\":" + new string('[', 60) + new string(']', 60) + "}"));
    }

    /// <summary>Writes a random document: random allowed bytes until <paramref name="softLimit"/> bytes, then bytes
    /// that bring the end closer. With <paramref name="check"/>, asserts the shortest-completion count at each
    /// state.</summary>
    internal static string Walk(JsonGrammar grammar, Random random, int softLimit, bool check = false)
    {
        var state = grammar.Start();
        var bytes = new List<byte>();
        while (true)
        {
            var options = new List<(byte Byte, JsonState Next)>();
            for (int b = 0; b < 256; b++)
                if (state.Step((byte)b) is { } next)
                    options.Add(((byte)b, next));
            int need = state.MinBytes;
            if (check && !(state.CanEnd && need == 0))
            {
                Assert.Contains(options, o => o.Next.MinBytes == need - 1);
                Assert.All(options, o => Assert.True(o.Next.MinBytes >= need - 1,
                    $"after {Encoding.UTF8.GetString([.. bytes])}: {o.Byte} leaves {o.Next.MinBytes} < {need - 1}"));
            }
            if (state.CanEnd && (options.Count == 0 || bytes.Count >= softLimit || random.Next(8) == 0))
                return Encoding.UTF8.GetString([.. bytes]);
            Assert.NotEmpty(options);
            var pick = bytes.Count < softLimit
                ? options[random.Next(options.Count)]
                : options.MinBy(o => o.Next.MinBytes);
            bytes.Add(pick.Byte);
            state = pick.Next;
        }
    }
}

public sealed class JsonSchemaCheckTests
{
    static readonly JsonGrammar Ticket = JsonSchemaCompiler.Compile(TicketSchema.Element);

    [Fact]
    public void A_document_is_checked_in_any_key_order_and_layout_and_against_additional_properties()
    {
        var valid = "{\"category\":\"billing\",\"priority\":2,\"summary\":\"x\",\"tags\":[],\"refund\":null," +
            "\"customer\":{\"name\":\"A\",\"manager\":null}}";
        Assert.True(Ticket.IsValid(valid));
        var reordered = "{ \"customer\": {\"manager\": null, \"name\": \"A\"}, \"refund\": 3, \"tags\": [\"t\"], " +
            "\"summary\": \"x\", \"priority\": -1, \"category\": \"other\" }";
        Assert.True(Ticket.IsValid(reordered));
        Assert.False(Ticket.Accepts(reordered));                            // not the order the decoder writes
        Assert.False(Ticket.IsValid(valid.Replace("\"tags\":[]", "\"tags\":[],\"x\":1")));   // additional false
        Assert.False(Ticket.IsValid(valid.Replace("\"priority\":2", "\"priority\":2.5")));
        Assert.False(Ticket.IsValid(valid.Replace("billing", "refunds")));
        Assert.False(Ticket.IsValid("the cat sat"));

        var open = JsonSchemaCompiler.Compile(System.Text.Json.JsonDocument.Parse(
            """{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}""").RootElement);
        Assert.True(open.IsValid("""{"b": [1], "a": 3}"""));                 // additionalProperties defaults to true
        Assert.False(open.IsValid("""{"b": 1}"""));
    }
}
