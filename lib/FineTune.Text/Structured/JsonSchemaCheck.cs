// Whether a finished text is a document of a compiled schema, in any key order and layout: what the decoder cannot
// guarantee for answers written without it (a canary's answers judged against a project's output schema).
using System.Text.Json;

namespace FineTune.Text.Structured;

public static class JsonSchemaCheck
{
    /// <summary>True when <paramref name="text"/> is JSON that <paramref name="grammar"/>'s schema accepts.</summary>
    public static bool IsValid(this JsonGrammar grammar, string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            return Matches(grammar.Root, document.RootElement, 0);
        }
        catch (JsonException)
        {
            return false;
        }
    }

    static bool Matches(SchemaNode node, JsonElement value, int depth)
    {
        if (depth > JsonGrammar.MaxNesting)
            return false;
        switch (node)
        {
            case RefNode r:
                return Matches(r.Target, value, depth + 1);
            case AnyOfNode any:
                return any.Alternatives.Any(a => Matches(a, value, depth + 1));
            case LiteralNode literal:
                // compare as values: the same JSON text once written compactly
                var text = JsonSerializer.SerializeToUtf8Bytes(value, JsonSchemaCompiler.Compact);
                return literal.Values.Any(v => v.AsSpan().SequenceEqual(text));
            case StringNode s:
                if (value.ValueKind != JsonValueKind.String)
                    return false;
                int length = value.GetString()!.EnumerateRunes().Count();
                return length >= s.MinLength && (s.MaxLength is null || length <= s.MaxLength);
            case NumberNode n:
                return value.ValueKind == JsonValueKind.Number
                    && (!n.Integer || !value.GetRawText().Any(c => c is '.' or 'e' or 'E'));
            case ArrayNode a:
                return value.ValueKind == JsonValueKind.Array && value.GetArrayLength() >= a.MinItems
                    && (a.MaxItems is null || value.GetArrayLength() <= a.MaxItems)
                    && value.EnumerateArray().All(item => Matches(a.Items, item, depth + 1));
            case ObjectNode o:
                if (value.ValueKind != JsonValueKind.Object)
                    return false;
                foreach (var p in o.Properties)
                    if (p.Required && !value.TryGetProperty(p.Name, out _))
                        return false;
                foreach (var field in value.EnumerateObject())
                {
                    var declared = o.Properties.FirstOrDefault(p => p.Name == field.Name);
                    var schema = declared?.Value ?? o.FreeValues ?? o.ExtraValues;
                    if (schema is null || !Matches(schema, field.Value, depth + 1))
                        return false;
                }
                return true;
            default:
                return false;
        }
    }
}
