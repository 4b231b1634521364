// A response schema with every construct the compiler takes (enum, integer, bounded strings and arrays, a type list
// with null, an optional property, a recursive $ref through anyOf), and an independent check of a document against
// it written with System.Text.Json, so tests never judge the grammar by the grammar.
using System.Text.Json;

namespace FineTune.Text.Tests.Structured;

internal static class TicketSchema
{
    public const string Json = """
        {
          "type": "object",
          "title": "Ticket",
          "properties": {
            "category": {"type": "string", "enum": ["billing", "shipping", "other"]},
            "priority": {"type": "integer", "description": "1 is the highest"},
            "summary": {"type": "string", "maxLength": 40},
            "tags": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 10}, "maxItems": 3},
            "refund": {"type": ["number", "null"]},
            "urgent": {"type": "boolean"},
            "customer": {"$ref": "#/$defs/person"}
          },
          "required": ["category", "priority", "summary", "tags", "refund", "customer"],
          "additionalProperties": false,
          "$defs": {
            "person": {
              "type": "object",
              "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 20},
                "manager": {"anyOf": [{"$ref": "#/$defs/person"}, {"type": "null"}]}
              },
              "required": ["name", "manager"],
              "additionalProperties": false
            }
          }
        }
        """;

    public static JsonElement Element => JsonDocument.Parse(Json).RootElement.Clone();

    /// <summary>Null when <paramref name="text"/> is a ticket, else what is wrong with it.</summary>
    public static string? Problem(string text)
    {
        JsonElement root;
        try
        {
            root = JsonDocument.Parse(text).RootElement.Clone();
        }
        catch (JsonException e)
        {
            return $"not JSON: {e.Message}";
        }
        if (root.ValueKind != JsonValueKind.Object)
            return "not an object";
        var allowed = new[] { "category", "priority", "summary", "tags", "refund", "urgent", "customer" };
        foreach (var p in root.EnumerateObject())
            if (!allowed.Contains(p.Name))
                return $"unexpected key {p.Name}";
        foreach (var name in allowed.Where(n => n != "urgent"))
            if (!root.TryGetProperty(name, out _))
                return $"missing {name}";
        if (root.GetProperty("category").GetString() is not ("billing" or "shipping" or "other"))
            return "category outside the enum";
        var priority = root.GetProperty("priority");
        if (priority.ValueKind != JsonValueKind.Number || priority.GetRawText().Any(c => c is '.' or 'e' or 'E'))
            return "priority is not an integer";
        if (root.GetProperty("summary") is not { ValueKind: JsonValueKind.String } summary
            || Characters(summary.GetString()!) > 40)
            return "summary is not a string of at most 40 characters";
        var tags = root.GetProperty("tags");
        if (tags.ValueKind != JsonValueKind.Array || tags.GetArrayLength() > 3 || tags.EnumerateArray().Any(t =>
            t.ValueKind != JsonValueKind.String || Characters(t.GetString()!) is < 1 or > 10))
            return "tags are not up to 3 strings of 1-10 characters";
        if (root.GetProperty("refund").ValueKind is not (JsonValueKind.Number or JsonValueKind.Null))
            return "refund is neither a number nor null";
        if (root.TryGetProperty("urgent", out var urgent) && urgent.ValueKind is not (JsonValueKind.True
            or JsonValueKind.False))
            return "urgent is not a boolean";
        return Person(root.GetProperty("customer"), 0);
    }

    static string? Person(JsonElement person, int depth)
    {
        if (person.ValueKind != JsonValueKind.Object || depth > 50)
            return "a person is not an object";
        if (person.EnumerateObject().Select(p => p.Name).Except(["name", "manager"]).Any())
            return "a person has an unexpected key";
        if (!person.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String
            || Characters(name.GetString()!) is < 1 or > 20)
            return "a person's name is not a string of 1-20 characters";
        if (!person.TryGetProperty("manager", out var manager))
            return "a person has no manager key";
        return manager.ValueKind == JsonValueKind.Null ? null : Person(manager, depth + 1);
    }

    static int Characters(string s) => s.EnumerateRunes().Count();
}
