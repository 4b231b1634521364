// Message lists: OpenAI chat messages (role/content/weight/name, checked as OpenAI's fine-tuning file checks do)
// and ShareGPT turns (from/value). A problem throws RecordError naming the path, e.g. "messages[2].role".
using System.Text.Json;

namespace FineTune.Data.Ingestion;

/// <summary>Why one record is rejected; caught by RecordMapper and turned into a Rejection.</summary>
internal sealed class RecordError(string code, string field, string reason) : Exception(reason)
{
    public string Code { get; } = code;
    public string Field { get; } = field;
}

internal static class MessageParser
{
    static readonly string[] Roles = ["system", "user", "assistant"];
    static readonly HashSet<string> MessageKeys = ["role", "content", "weight", "name"];

    static readonly Dictionary<string, string> ShareGptRoles = new()
    {
        ["human"] = "user", ["user"] = "user",
        ["gpt"] = "assistant", ["assistant"] = "assistant", ["model"] = "assistant",
        ["system"] = "system",
    };

    /// <summary>An OpenAI-style list. Empty lists are missing_messages_list; weights are 0/1 on assistant turns
    /// only.</summary>
    public static List<Message> OpenAi(JsonElement list, string field)
    {
        if (list.ValueKind != JsonValueKind.Array)
            throw new RecordError(field == "messages" ? RejectCodes.MissingMessagesList : RejectCodes.InvalidType,
                field,
                $"{field}: expected a list of messages, got {FormatClassifier.Kind(list.ValueKind)}");
        if (list.GetArrayLength() == 0)
            throw new RecordError(field == "messages" ? RejectCodes.MissingMessagesList : RejectCodes.MissingContent,
                field,
                $"{field}: the list is empty; expected at least one message");
        var messages = new List<Message>();
        var i = 0;
        foreach (var item in list.EnumerateArray())
        {
            messages.Add(OpenAiMessage(item, $"{field}[{i}]"));
            i++;
        }
        return messages;
    }

    static Message OpenAiMessage(JsonElement item, string path)
    {
        if (item.ValueKind != JsonValueKind.Object)
            throw new RecordError(RejectCodes.MessageMissingKey, path,
                $"{path}: expected an object with role and content, got {FormatClassifier.Kind(item.ValueKind)}");
        foreach (var key in (ReadOnlySpan<string>)["role", "content"])
            if (!item.TryGetProperty(key, out _))
                throw new RecordError(RejectCodes.MessageMissingKey, $"{path}.{key}", $"{path}: missing '{key}'");
        foreach (var property in item.EnumerateObject())
            if (!MessageKeys.Contains(property.Name))
                throw new RecordError(RejectCodes.MessageUnrecognizedKey, $"{path}.{property.Name}",
                    $"{path}: unrecognized key '{property.Name}'; a message has role, content and optionally " +
                        $"weight, name");

        var roleValue = item.GetProperty("role");
        var role = roleValue.ValueKind == JsonValueKind.String ? roleValue.GetString()! : roleValue.GetRawText();
        if (!Roles.Contains(role))
            throw new RecordError(RejectCodes.UnrecognizedRole, $"{path}.role",
                $"{path}.role: '{role}' is not one of system, user, assistant");

        var content = Content(item.GetProperty("content"), $"{path}.content");
        double? weight = null;
        if (item.TryGetProperty("weight", out var w) && w.ValueKind != JsonValueKind.Null)
        {
            if (w.ValueKind != JsonValueKind.Number || !w.TryGetDouble(out var value) || value is not (0 or 1))
                throw new RecordError(RejectCodes.InvalidWeight, $"{path}.weight",
                    $"{path}.weight: expected 0 or 1, got {w.GetRawText()}");
            if (role != "assistant")
                throw new RecordError(RejectCodes.InvalidWeight, $"{path}.weight",
                    $"{path}.weight: weight is only allowed on assistant messages (this one is {role})");
            weight = value;
        }
        return new Message(role, content, weight);
    }

    /// <summary>ShareGPT turns; a top-level "system" string, when present, becomes the first message.</summary>
    public static List<Message> ShareGpt(JsonElement record)
    {
        var messages = new List<Message>();
        if (record.TryGetProperty("system", out var system) && system.ValueKind == JsonValueKind.String
            && !string.IsNullOrWhiteSpace(system.GetString()))
            messages.Add(new Message("system", system.GetString()!));

        var list = record.GetProperty("conversations");
        if (list.ValueKind != JsonValueKind.Array || list.GetArrayLength() == 0)
            throw new RecordError(RejectCodes.MissingMessagesList, "conversations",
                $"conversations: expected a non-empty list of turns, got " +
                    $"{(list.ValueKind == JsonValueKind.Array ? "an empty list" : FormatClassifier.Kind(list.ValueKind))}");
        var i = 0;
        foreach (var turn in list.EnumerateArray())
        {
            var path = $"conversations[{i++}]";
            if (turn.ValueKind != JsonValueKind.Object)
                throw new RecordError(RejectCodes.MessageMissingKey, path,
                    $"{path}: expected an object with from and value, got {FormatClassifier.Kind(turn.ValueKind)}");
            foreach (var key in (ReadOnlySpan<string>)["from", "value"])
                if (!turn.TryGetProperty(key, out _))
                    throw new RecordError(RejectCodes.MessageMissingKey, $"{path}.{key}", $"{path}: missing '{key}'");
            var from = turn.GetProperty("from");
            var name = from.ValueKind == JsonValueKind.String ? from.GetString()! : from.GetRawText();
            if (!ShareGptRoles.TryGetValue(name.ToLowerInvariant(), out var role))
                throw new RecordError(RejectCodes.UnrecognizedRole, $"{path}.from",
                    $"{path}.from: '{name}' is not one of human, user, gpt, assistant, model, system");
            messages.Add(new Message(role, Content(turn.GetProperty("value"), $"{path}.value")));
        }
        return messages;
    }

    /// <summary>A non-blank string (missing_content otherwise, as OpenAI's check counts non-strings too).</summary>
    public static string Content(JsonElement value, string path)
    {
        if (value.ValueKind != JsonValueKind.String)
            throw new RecordError(RejectCodes.MissingContent, path,
                $"{path}: expected text, got {FormatClassifier.Kind(value.ValueKind)}");
        var text = value.GetString()!;
        if (string.IsNullOrWhiteSpace(text))
            throw new RecordError(RejectCodes.MissingContent, path, $"{path}: empty; expected text");
        return text;
    }

    public static void RequireAssistant(IReadOnlyList<Message> messages, string field)
    {
        if (!messages.Any(m => m.Role == "assistant"))
            throw new RecordError(RejectCodes.ExampleMissingAssistantMessage, field,
                $"{field}: no assistant message; an example needs at least one assistant turn to learn from");
    }
}
