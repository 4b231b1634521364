// response_format as OpenAI defines it: {"type": "text"} (or none), {"type": "json_object"}, or {"type":
// "json_schema", "json_schema": {"name", "description"?, "schema"?, "strict"?}}. A JSON format is enforced by
// constrained decoding; a schema the decoder cannot enforce is a 400 naming the keyword and where it is.
using System.Text.Json;
using System.Text.RegularExpressions;
using FineTune.Serving.Engine;
using FineTune.Text.Structured;

namespace FineTune.Serving.Api;

internal static partial class ResponseFormats
{
    const string Field = "response_format";

    /// <summary>The format to enforce and its cache key, or null for plain text.</summary>
    public static (ConstrainedVocabulary Format, string Key)? Read(JsonElement? element, StructuredOutputs outputs)
    {
        if (element is not { } e || e.ValueKind == JsonValueKind.Null)
            return null;
        if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("type", out var type)
            || type.ValueKind != JsonValueKind.String)
            throw OpenAiError.Invalid("response_format must be an object with a 'type': text, json_object or " +
                "json_schema.", Field);
        switch (type.GetString())
        {
            case "text":
                return null;
            case "json_object":
                return (outputs.Get("json_object", JsonSchemaCompiler.AnyObject), "json_object");
            case "json_schema":
                return Schema(e, outputs);
            default:
                throw OpenAiError.Invalid($"response_format.type '{type.GetString()}' is not supported: send text, " +
                    "json_object or json_schema.", $"{Field}.type");
        }
    }

    static (ConstrainedVocabulary, string) Schema(JsonElement format, StructuredOutputs outputs)
    {
        const string At = Field + ".json_schema";
        if (!format.TryGetProperty("json_schema", out var spec) || spec.ValueKind != JsonValueKind.Object)
            throw OpenAiError.Invalid("response_format json_schema needs a 'json_schema' object: {\"name\": ..., " +
                "\"schema\": {...}}.", At);
        if (!spec.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String
            || !NamePattern().IsMatch(name.GetString()!))
            throw OpenAiError.Invalid("json_schema.name must be 1 to 64 letters, digits, underscores or dashes.",
                $"{At}.name");
        if (spec.TryGetProperty("strict", out var strict) && strict.ValueKind is not (JsonValueKind.True
            or JsonValueKind.False or JsonValueKind.Null))
            throw OpenAiError.Invalid("json_schema.strict must be a boolean.", $"{At}.strict");
        // no schema: any JSON value (OpenAI's default); strict or not, the schema is always enforced
        var schema = spec.TryGetProperty("schema", out var s) && s.ValueKind != JsonValueKind.Null
            ? s : JsonDocument.Parse("{}").RootElement;
        var key = "json_schema:" + JsonSerializer.Serialize(schema);
        try
        {
            return (outputs.Get(key, () => JsonSchemaCompiler.Compile(schema, $"{At}.schema")), key);
        }
        catch (StructuredOutputException error)
        {
            throw OpenAiError.Invalid(error.Path is { Length: > 0 } path ? $"{path}: {error.Message}" : error.Message,
                error.Path is { Length: > 0 } p ? p : $"{At}.schema");
        }
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex NamePattern();
}
