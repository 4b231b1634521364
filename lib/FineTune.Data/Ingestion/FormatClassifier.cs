// Which known format a JSON object's fields belong to, the names used in messages, and the optional label field.
// Precedence when fields of several formats are present: preference > chat > sharegpt > alpaca > feedback (a
// completion with a true/false label, TRL's unpaired preference format for KTO) > prompt/completion > prompts (a
// prompt alone, for GRPO and PPO) > text.
using System.Text.Json;

namespace FineTune.Data.Ingestion;

internal static class FormatClassifier
{
    public static SourceFormat? Classify(JsonElement record)
    {
        if (Has(record, "chosen") || Has(record, "rejected"))
            return SourceFormat.Preference;
        if (Has(record, "messages"))
            return SourceFormat.Chat;
        if (Has(record, "conversations"))
            return SourceFormat.ShareGpt;
        if (Has(record, "instruction") || Has(record, "output"))
            return SourceFormat.Alpaca;
        if (Has(record, "completion") && record.TryGetProperty("label", out var label)
            && label.ValueKind is JsonValueKind.True or JsonValueKind.False)
            return SourceFormat.Feedback;
        if (Has(record, "completion") || Has(record, "question") || Has(record, "answer"))
            return SourceFormat.PromptCompletion;
        if (Has(record, "prompt"))
            return SourceFormat.Prompts;
        if (Has(record, "text"))
            return SourceFormat.Text;
        return null;
    }

    public static string Name(SourceFormat format) => format switch
    {
        SourceFormat.Alpaca => "alpaca",
        SourceFormat.PromptCompletion => "prompt/completion",
        SourceFormat.Chat => "chat",
        SourceFormat.ShareGpt => "sharegpt",
        SourceFormat.Preference => "preference",
        SourceFormat.Feedback => "feedback",
        SourceFormat.Prompts => "prompts",
        SourceFormat.Text => "text",
        _ => "auto",
    };

    /// <summary>The fields that make a record of this format, as a user would look for them.</summary>
    public static string Fields(SourceFormat format) => format switch
    {
        SourceFormat.Alpaca => "instruction, input, output",
        SourceFormat.PromptCompletion => "prompt, completion (or question, answer)",
        SourceFormat.Chat => "messages",
        SourceFormat.ShareGpt => "conversations",
        SourceFormat.Preference => "prompt, chosen, rejected",
        SourceFormat.Feedback => "prompt, completion, label (true or false)",
        SourceFormat.Prompts => "prompt (alone)",
        SourceFormat.Text => "text",
        _ => "",
    };

    /// <summary>The first of label, category, class that is present and not null or empty, as a string.</summary>
    public static string? Label(JsonElement record)
    {
        foreach (var name in (ReadOnlySpan<string>)["label", "category", "class"])
        {
            if (!record.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
                continue;
            var text = value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText();
            if (text.Length > 0)
                return text;
        }
        return null;
    }

    public static bool Has(JsonElement record, string name) =>
        record.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null;

    public static string Kind(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };
}
