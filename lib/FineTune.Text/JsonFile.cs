// Small helpers for reading Hugging Face JSON files with errors that name the file and the field.
using System.Text.Json;

namespace FineTune.Text;

internal static class JsonFile
{
    public static JsonDocument Parse(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path),
                new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new TokenizerLoadException($"{path}: not valid JSON ({e.Message})");
        }
    }

    public static JsonElement? Get(this JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name,
            out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    public static string? GetString(this JsonElement e, string name) =>
        e.Get(name) is { ValueKind: JsonValueKind.String } v ? v.GetString() : null;

    public static bool GetBool(this JsonElement e, string name, bool fallback) =>
        e.Get(name) is { ValueKind: JsonValueKind.True or JsonValueKind.False } v ? v.GetBoolean() : fallback;

    /// <summary>A token given either as a string or as an AddedToken object {"content": ...}.</summary>
    public static string? GetTokenText(this JsonElement e, string name) => e.Get(name) switch
    {
        { ValueKind: JsonValueKind.String } v => v.GetString(),
        { ValueKind: JsonValueKind.Object } v => v.GetString("content"),
        _ => null,
    };

    /// <summary>An int or a list of ints (generation_config's eos_token_id).</summary>
    public static List<int> GetIntOrList(this JsonElement e, string name, string path)
    {
        var list = new List<int>();
        switch (e.Get(name))
        {
            case null:
                break;
            case { ValueKind: JsonValueKind.Number } v:
                list.Add(v.GetInt32());
                break;
            case { ValueKind: JsonValueKind.Array } v:
                foreach (var x in v.EnumerateArray())
                    list.Add(x.ValueKind == JsonValueKind.Number ? x.GetInt32()
                        : throw new TokenizerLoadException($"{path}: {name} must be an integer or a list of integers"));
                break;
            default:
                throw new TokenizerLoadException($"{path}: {name} must be an integer or a list of integers");
        }
        return list;
    }

    public static JsonElement Require(this JsonElement e, string name, JsonValueKind kind, string path, string field) =>
        e.Get(name) is { } v && v.ValueKind == kind ? v
        : throw new TokenizerLoadException($"{path}: field '{field}' is missing or not a JSON " +
            $"{kind.ToString().ToLowerInvariant()}");
}
