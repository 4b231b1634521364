// response_format over the real HTTP server: json_schema and json_object answers are valid by construction (checked
// by an independent checker, never by the grammar), streamed or whole, through raw HTTP and the official OpenAI
// client's structured-output call; a schema the decoder cannot enforce is a 400 naming the keyword.
using System.ClientModel;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using FineTune.Text.Tests.Structured;
using OpenAI;
using OpenAI.Chat;

namespace FineTune.Serving.Tests;

[Collection("serving")]
public sealed class StructuredOutputTests(ServingFixture fixture)
{
    ServerHandle Server => fixture.Server;

    const string SmallSchema = """
        {"type": "object", "properties": {"answer": {"type": "string", "maxLength": 8}, "ok": {"type": "boolean"},
         "n": {"type": "integer"}}, "required": ["answer", "ok", "n"], "additionalProperties": false}
        """;

    static string? SmallProblem(string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            var root = document.RootElement;
            return root.ValueKind == JsonValueKind.Object
                && root.EnumerateObject().Select(p => p.Name).SequenceEqual(["answer", "ok", "n"])
                && root.GetProperty("answer").GetString()!.EnumerateRunes().Count() <= 8
                && root.GetProperty("ok").ValueKind is JsonValueKind.True or JsonValueKind.False
                && root.GetProperty("n").TryGetInt64(out _) ? null : $"not an answer: {text}";
        }
        catch (JsonException e)
        {
            return $"not JSON ({e.Message}): {text}";
        }
    }

    [Fact]
    public async Task The_official_client_structured_output_call_returns_the_schema()
    {
        var client = new OpenAIClient(new ApiKeyCredential(ServerHandle.Key),
            new OpenAIClientOptions { Endpoint = new Uri(Server.BaseAddress, "v1") }).GetChatClient(Server.BaseName);
        var options = new ChatCompletionOptions
        {
            Temperature = 1, MaxOutputTokenCount = 60,
            ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("answer", BinaryData.FromString(SmallSchema),
                jsonSchemaIsStrict: true),
        };
        for (int i = 0; i < 5; i++)
        {
            ChatCompletion completion = await client.CompleteChatAsync([new UserChatMessage($"question {i}?")],
                options);
            Assert.Null(SmallProblem(completion.Content[0].Text));
            Assert.Equal(OpenAI.Chat.ChatFinishReason.Stop, completion.FinishReason);
        }
    }

    [Fact]
    public async Task Json_object_streamed_and_whole_on_both_endpoints_is_an_object()
    {
        foreach (var (route, prompt) in new[] { ("v1/completions", (object)"the cat sat"), ("v1/chat/completions",
            new[] { new { role = "user", content = "a cat?" } }) })
            foreach (bool stream in new[] { false, true })
            {
                var body = new Dictionary<string, object>
                {
                    ["model"] = Server.BaseName, ["max_tokens"] = 40, ["temperature"] = 1, ["seed"] = 3, ["n"] = 3,
                    ["stream"] = stream, ["response_format"] = new { type = "json_object" },
                    [route.Contains("chat") ? "messages" : "prompt"] = prompt,
                };
                using var response = await Server.Http.PostAsJsonAsync(route, body);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                var texts = stream ? Streamed(await response.Content.ReadAsStringAsync())
                    : Whole(JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement);
                Assert.Equal(3, texts.Count);
                foreach (var (text, finish) in texts)
                {
                    using var document = JsonDocument.Parse(text);
                    Assert.Equal(JsonValueKind.Object, document.RootElement.ValueKind);
                    Assert.Equal("stop", finish);
                }
            }
    }

    static List<(string Text, string Finish)> Whole(JsonElement json) =>
        [.. json.GetProperty("choices").EnumerateArray().Select(c => (
            c.TryGetProperty("message", out var m) ? m.GetProperty("content").GetString()!
                : c.GetProperty("text").GetString()!,
            c.GetProperty("finish_reason").GetString()!))];

    static List<(string Text, string Finish)> Streamed(string sse)
    {
        var texts = new SortedDictionary<int, (StringBuilder Text, string Finish)>();
        foreach (var line in sse.Split('\n').Where(l => l.StartsWith("data: {")))
            foreach (var choice in JsonDocument.Parse(line[6..]).RootElement.GetProperty("choices").EnumerateArray())
            {
                int index = choice.GetProperty("index").GetInt32();
                var (text, finish) = texts.TryGetValue(index, out var known) ? known : (new StringBuilder(), "");
                text.Append(choice.TryGetProperty("delta", out var delta)
                    ? delta.TryGetProperty("content", out var c) ? c.GetString() : ""
                    : choice.GetProperty("text").GetString());
                if (choice.GetProperty("finish_reason").GetString() is { } f)
                    finish = f;
                texts[index] = (text, finish);
            }
        return [.. texts.Values.Select(t => (t.Text.ToString(), t.Finish))];
    }

    [Theory]
    [InlineData("""{"type": "grammar"}""", "response_format.type", "not supported")]
    [InlineData("""{"type": "json_schema"}""", "response_format.json_schema", "needs a 'json_schema' object")]
    [InlineData("""{"type": "json_schema", "json_schema": {"schema": {}}}""", "response_format.json_schema.name",
        "1 to 64")]
    [InlineData("{\"type\": \"json_schema\", \"json_schema\": {\"name\": \"x\", \"schema\": {\"type\": \"object\", " +
        "\"properties\": {\"id\": {\"type\": \"string\", \"format\": \"uuid\"}}}}}",
        "response_format.json_schema.schema.properties.id.format", "'format' is not supported")]
    [InlineData("""{"type": "json_schema", "json_schema": {"name": "x", "schema": {"$ref": "#/$defs/nope"}}}""",
        "response_format.json_schema.schema", "points at nothing")]
    public async Task A_format_the_server_cannot_enforce_is_a_400_naming_where(string format, string param,
        string message)
    {
        var body = $$"""
            {"model": "{{Server.BaseName}}", "max_tokens": 4, "prompt": "hi", "response_format": {{format}}}
            """;
        using var response = await Server.Http.PostAsync("v1/completions",
            new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Contains(message, error.GetProperty("message").GetString());
    }
}

/// <summary>The issue's proof on the tiny pre-trained base model: 100 of 100 sampled answers at temperature 1 are
/// valid documents of a schema with nested, recursive, bounded and optional parts.</summary>
public sealed class TinyBaseStructuredOutputTests
{
    [Fact]
    public async Task Json_schema_at_temperature_1_is_valid_for_100_of_100_prompts()
    {
        await using var server = await ServerHandle.StartAsync(await TestBaseModel.DirectoryAsync(), [],
            o => o with { MaxQueueLength = 128 });
        var format = new
        {
            type = "json_schema",
            json_schema = new { name = "ticket", strict = true, schema = TicketSchema.Element },
        };
        var topics = "refund,late parcel,broken screen,password reset,invoice copy".Split(',');
        var answers = await Task.WhenAll(Enumerable.Range(0, 25).Select(async i =>
        {
            var body = new
            {
                model = server.BaseName, temperature = 1, n = 4, max_tokens = 200, seed = i,
                messages = new[] { new { role = "user", content = $"Ticket {i}: {topics[i % topics.Length]}. " +
                    "Answer as JSON." } },
                response_format = format,
            };
            using var response = await server.Http.PostAsJsonAsync("v1/chat/completions", body);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
            return json.GetProperty("choices").EnumerateArray().Select(c => (
                Text: c.GetProperty("message").GetProperty("content").GetString()!,
                Finish: c.GetProperty("finish_reason").GetString()!)).ToList();
        }));
        var all = answers.SelectMany(a => a).ToList();
        Assert.Equal(100, all.Count);
        var problems = all.Select(a => TicketSchema.Problem(a.Text) is { } p ? $"{p}: {a.Text}" : null)
            .OfType<string>().ToList();
        Assert.True(problems.Count == 0, $"{problems.Count} of 100 invalid:\n{string.Join("\n", problems.Take(5))}");
        Assert.All(all, a => Assert.Equal("stop", a.Finish));
        // sampled, not one answer a hundred times
        Assert.True(all.Select(a => a.Text).Distinct().Count() > 50);
    }
}
