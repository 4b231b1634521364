// Gate rules from a JSON file: [{"metric": "task/exact_match", "kind": "improve", "threshold": 0.02}, ...].
using System.Text.Json;
using System.Text.Json.Serialization;

namespace FineTune.Evals.Gate;

public static class GateRules
{
    static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false) },
    };

    public static IReadOnlyList<GateRule> Load(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"gate rules not found: '{path}'.", path);
        try
        {
            return JsonSerializer.Deserialize<List<GateRule>>(File.ReadAllText(path), Json)
                ?? throw new JsonException("expected an array of rules");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: {e.Message} Expected [{{\"metric\": \"…\", \"kind\": " +
                $"\"improve\" or \"no_regression\", \"threshold\": 0.02}}, …].");
        }
    }
}
