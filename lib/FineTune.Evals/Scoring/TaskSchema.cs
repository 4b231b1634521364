// The shape a task's JSON answers take: the fields every answer has and the kind of value each holds. Inferred from
// the training answers (a field counts when every JSON-object answer has it, with one kind of value), or read from a
// JSON Schema's "properties" and "required" (types string, number, integer, boolean). Used by the task suite to say
// whether an answer is schema-valid and to score it field by field.
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FineTune.Evals.Scoring;

public enum FieldKind { String, Number, Boolean }

public sealed record TaskSchema(IReadOnlyDictionary<string, FieldKind> Fields)
{
    /// <summary>The fields every answer that is a JSON object has, with the one kind each holds; null when fewer than
    /// all answers are JSON objects, or they share no field.</summary>
    public static TaskSchema? Infer(IEnumerable<string> answers)
    {
        Dictionary<string, FieldKind?>? common = null;
        int count = 0;
        foreach (var answer in answers)
        {
            if (TaskAnswers.ParseObject(answer) is not { } obj)
                return null;
            count++;
            var fields = obj.Where(p => Kind(p.Value) is not null).ToDictionary(p => p.Key, p => Kind(p.Value));
            if (common is null)
            {
                common = fields;
                continue;
            }
            foreach (var key in common.Keys.ToList())
                if (!fields.TryGetValue(key, out var kind) || kind != common[key])
                    common.Remove(key);
        }
        return count == 0 || common is not { Count: > 0 } ? null
            : new TaskSchema(common.ToDictionary(p => p.Key, p => p.Value!.Value));
    }

    /// <summary>A JSON Schema file's required properties and their types (string, number, integer, boolean).</summary>
    public static TaskSchema Load(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"schema file not found: '{path}'.", path);
        JsonObject root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path)) as JsonObject
            ?? throw new InvalidDataException($"{path}: expected a JSON object.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message}).");
        }
        if (root["properties"] is not JsonObject properties)
            throw new InvalidDataException($"{path}: expected \"properties\": {{\"field\": {{\"type\": " +
                $"\"string\"}}, …}}.");
        var required = root["required"] is JsonArray r ? r.Select(n
            => n?.GetValue<string>()).OfType<string>().ToHashSet() : null;
        var fields = new Dictionary<string, FieldKind>();
        foreach (var (name, node) in properties)
        {
            if (required is not null && !required.Contains(name))
                continue;
            var type = node?["type"]?.GetValue<string>();
            fields[name] = type switch
            {
                "string" => FieldKind.String,
                "number" or "integer" => FieldKind.Number,
                "boolean" => FieldKind.Boolean,
                _ => throw new InvalidDataException($"{path}: properties.{name}.type is '{type}'; expected string, " +
                    $"number, integer or boolean."),
            };
        }
        if (fields.Count == 0)
            throw new InvalidDataException($"{path}: no required properties to score.");
        return new TaskSchema(fields);
    }

    /// <summary>The answer has every field, each with its kind.</summary>
    public bool Accepts(JsonObject answer) =>
        Fields.All(f => answer.TryGetPropertyValue(f.Key, out var value) && Kind(value) == f.Value);

    public JsonObject ToJson() => new()
    {
        ["type"] = "object",
        ["properties"] = new JsonObject(Fields.Select(f => KeyValuePair.Create(f.Key,
            (JsonNode?)new JsonObject { ["type"] = f.Value.ToString().ToLowerInvariant() }))),
        ["required"] = new JsonArray(Fields.Keys.Select(k => (JsonNode?)JsonValue.Create(k)).ToArray()),
    };

    static FieldKind? Kind(JsonNode? node) => node?.GetValueKind() switch
    {
        JsonValueKind.String => FieldKind.String,
        JsonValueKind.Number => FieldKind.Number,
        JsonValueKind.True or JsonValueKind.False => FieldKind.Boolean,
        _ => null,
    };
}
