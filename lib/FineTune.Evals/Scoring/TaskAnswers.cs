// How the task suite reads an answer: as a JSON object when it is one (nothing around it but white space), and as
// normalised text otherwise (trimmed, white space collapsed, lower-case), so "Billing" and " billing" match.
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FineTune.Evals.Scoring;

public static class TaskAnswers
{
    /// <summary>Longest answer read as JSON; longer ones are not valid answers (a guard against hostile
    /// outputs).</summary>
    public const int MaxJsonChars = 64 * 1024;

    public static JsonObject? ParseObject(string text)
    {
        if (text.Length > MaxJsonChars)
            return null;
        var trimmed = text.Trim();
        if (!trimmed.StartsWith('{'))
            return null;
        try
        {
            if (JsonNode.Parse(trimmed) is not JsonObject obj)
                return null;
            _ = obj.Count;   // materialises the properties now, so a duplicate key fails here
            return obj;
        }
        catch (JsonException)
        {
            return null;
        }
        // duplicate keys
        catch (ArgumentException)
        {
            return null;
        }
    }

    public static string Normalize(string text)
    {
        var builder = new StringBuilder(text.Length);
        bool space = false;
        foreach (var c in text.Trim())
        {
            if (char.IsWhiteSpace(c))
            {
                space = true;
                continue;
            }
            if (space && builder.Length > 0)
                builder.Append(' ');
            space = false;
            builder.Append(char.ToLowerInvariant(c));
        }
        return builder.ToString();
    }

    /// <summary>A field's value as comparable text: strings normalised, numbers invariant, booleans true/false; null
    /// when the field is missing or holds an object, array or null.</summary>
    public static string? Value(JsonObject? answer, string field) =>
        answer is not null && answer.TryGetPropertyValue(field, out var node) ? node?.GetValueKind() switch
        {
            JsonValueKind.String => Normalize(node.GetValue<string>()),
            JsonValueKind.Number => node.GetValue<double>().ToString("R", CultureInfo.InvariantCulture),
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            _ => null,
        } : null;

    /// <summary>The raw string of a string field (for ROUGE on free text); empty when missing.</summary>
    public static string Text(JsonObject? answer, string field) =>
        answer is not null && answer.TryGetPropertyValue(field,
            out var node) && node?.GetValueKind() == JsonValueKind.String
            ? node.GetValue<string>() : "";

    /// <summary>The same answer in one canonical form: keys sorted, values normalised.</summary>
    public static string Canonical(JsonObject answer) => string.Join("\u001f",
        answer.OrderBy(p => p.Key,
            StringComparer.Ordinal).Select(p => $"{p.Key}\u001e{Value(answer, p.Key) ?? p.Value?.ToJsonString()}"));
}
