// The names config files use for a closed set of choices: an enum member in snake_case (TrainingMethod.PromptTuning
// is "prompt_tuning"), as System.Text.Json writes and reads them. For messages, reports and metric tags.
using System.Text.Json;

namespace FineTune.Training;

public static class ConfigNames
{
    public static string Of<T>(T value) where T : struct, Enum
        => JsonNamingPolicy.SnakeCaseLower.ConvertName(value.ToString());

    public static IEnumerable<string> All(Type choices) =>
        Enum.GetNames(choices).Select(JsonNamingPolicy.SnakeCaseLower.ConvertName);

    public static bool TryParse(Type choices, string name, out object? value)
    {
        value = Enum.GetNames(choices).FirstOrDefault(n
            => JsonNamingPolicy.SnakeCaseLower.ConvertName(n) == name) is { } member
            ? Enum.Parse(choices, member) : null;
        return value is not null;
    }

    /// <summary>"qlora" → TrainingMethod.Qlora; an unknown name is an ArgumentException listing the known
    /// ones.</summary>
    public static T Parse<T>(string name) where T : struct, Enum =>
        TryParse(typeof(T), name, out var value) ? (T)value!
            : throw new ArgumentException($"'{name}' is not one of {string.Join(", ", All(typeof(T)))}.", nameof(name));
}
