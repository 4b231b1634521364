// Turns one raw record into an Accepted DataRecord or a Rejected with a reason, given the file's format.
// The field mappings (alpaca, prompt/completion, chat, sharegpt, preference, text) are listed in README.md here.
using System.Text.Json;

namespace FineTune.Data.Ingestion;

internal static class RecordMapper
{
    public static ReadItem Map(RawRecord raw, Detection file)
    {
        if (raw.Error is { } error)
            return new Rejected(error);
        if (raw.Text is { } text)
            return new Accepted(new DataRecord { Kind = RecordKind.Text, Line = raw.Line, Text = text }, raw.Raw);
        using var doc = raw.Doc!;
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
            return Reject(raw, RejectCodes.DataType, null,
                $"the record is {FormatClassifier.Kind(root.ValueKind)}; expected a JSON object");
        if (FormatClassifier.Classify(root) is { } own && own != file.Format)
            return Reject(raw, RejectCodes.MixedFormat, null,
                $"the record has the fields of {FormatClassifier.Name(own)} ({FormatClassifier.Fields(own)}) but " +
                    $"the file is " +
                $"{FormatClassifier.Name(file.Format)} ({Origin(file)}; expected " +
                    $"{FormatClassifier.Fields(file.Format)})");
        try
        {
            var record = file.Format switch
            {
                SourceFormat.Alpaca => Alpaca(root, raw.Line),
                SourceFormat.PromptCompletion => PromptCompletion(root, raw.Line),
                SourceFormat.Chat => Chat(root, raw.Line),
                SourceFormat.ShareGpt => ShareGpt(root, raw.Line),
                SourceFormat.Preference => Preference(root, raw.Line),
                SourceFormat.Feedback => Feedback(root, raw.Line),
                SourceFormat.Prompts => PromptOnly(root, raw.Line),
                SourceFormat.Text => TextRecord(root, raw.Line),
                _ => throw new ArgumentOutOfRangeException(nameof(file), file.Format,
                    "the format must be detected before mapping"),
            };
            return new Accepted(record with { Label = FormatClassifier.Label(root) }, raw.Raw);
        }
        catch (RecordError e)
        {
            return Reject(raw, e.Code, e.Field, e.Message);
        }
    }

    static string Origin(Detection file) =>
        file.DetectedAtLine is { } line ? $"detected from record {line}" : file.FormatGuessed ? "guessed"
            : "as declared";

    static Rejected Reject(RawRecord raw, string code, string? field, string reason) =>
        new(new Rejection(raw.Line, code, reason, raw.Raw, field));

    // user = instruction, plus "\n\n" + input when input is not blank; assistant = output.
    static DataRecord Alpaca(JsonElement r, long line)
    {
        const string needs = "an alpaca record needs instruction and output (input is optional)";
        var instruction = Required(r, "instruction", needs);
        var input = Optional(r, "input");
        var user = string.IsNullOrWhiteSpace(input) ? instruction : $"{instruction}\n\n{input}";
        return Chat(line, [new Message("user", user), new Message("assistant", Required(r, "output", needs))]);
    }

    // user = context + "\n\n" + prompt when context is not blank (the material first, then the request); assistant =
    // completion. question/answer (GSM8K) is an alias of prompt/completion.
    static DataRecord PromptCompletion(JsonElement r, long line)
    {
        var (p, c) = FormatClassifier.Has(r, "prompt") || FormatClassifier.Has(r, "completion") ? ("prompt",
            "completion") : ("question", "answer");
        var needs = $"a prompt/completion record needs {p} and {c}";
        var prompt = Required(r, p, needs);
        var context = Optional(r, "context");
        var user = string.IsNullOrWhiteSpace(context) ? prompt : $"{context}\n\n{prompt}";
        return Chat(line, [new Message("user", user), new Message("assistant", Required(r, c, needs))]);
    }

    static DataRecord Chat(JsonElement r, long line)
    {
        if (!r.TryGetProperty("messages", out var list) || list.ValueKind == JsonValueKind.Null)
            throw new RecordError(RejectCodes.MissingMessagesList, "messages",
                "messages: missing; a chat record needs a list of messages");
        var messages = MessageParser.OpenAi(list, "messages");
        MessageParser.RequireAssistant(messages, "messages");
        return Chat(line, messages);
    }

    static DataRecord ShareGpt(JsonElement r, long line)
    {
        if (!FormatClassifier.Has(r, "conversations"))
            throw new RecordError(RejectCodes.MissingField, "conversations",
                "conversations: missing; a sharegpt record needs a conversations list");
        var messages = MessageParser.ShareGpt(r);
        MessageParser.RequireAssistant(messages, "conversations");
        return Chat(line, messages);
    }

    static DataRecord Chat(long line, List<Message> messages) =>
        new() { Kind = RecordKind.Chat, Line = line, Messages = messages };

    // prompt: a string (one user message) or a message list ending with a user turn. chosen/rejected: a string (one
    // assistant message) or a message list; a list that repeats the prompt first (full conversations) has it removed.
    static DataRecord Preference(JsonElement r, long line)
    {
        const string needs = "a preference record needs prompt, chosen and rejected";
        var prompt = Turns(r, "prompt", "user", needs);
        if (prompt[^1].Role != "user")
            throw new RecordError(RejectCodes.InvalidPrompt, "prompt",
                $"prompt: the last message is {prompt[^1].Role}; a preference prompt must end with a user turn");
        var chosen = Continuation(prompt, Turns(r, "chosen", "assistant", needs), "chosen");
        var rejected = Continuation(prompt, Turns(r, "rejected", "assistant", needs), "rejected");
        if (chosen.SequenceEqual(rejected))
            throw new RecordError(RejectCodes.IdenticalPreference, "rejected",
                "chosen and rejected are identical; a preference pair needs two different responses");
        return new DataRecord
        {
            Kind = RecordKind.Preference, Line = line, Messages = prompt, Chosen = chosen,
            Rejected = rejected
        };
    }

    // TRL's unpaired format: prompt (a string or messages ending with a user turn), completion (a string or assistant
    // turns), label true (desirable, thumbs up) or false.
    static DataRecord Feedback(JsonElement r, long line)
    {
        const string needs = "a feedback record needs prompt, completion and label (true or false)";
        var prompt = Turns(r, "prompt", "user", needs);
        if (prompt[^1].Role != "user")
            throw new RecordError(RejectCodes.InvalidPrompt, "prompt",
                $"prompt: the last message is {prompt[^1].Role}; a feedback prompt must end with a user turn");
        var completion = Continuation(prompt, Turns(r, "completion", "assistant", needs), "completion");
        var label = r.GetProperty("label");
        if (label.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            throw new RecordError(RejectCodes.InvalidType, "label",
                $"label: {FormatClassifier.Kind(label.ValueKind)}; {needs}");
        return new DataRecord
        {
            Kind = RecordKind.Feedback, Line = line, Messages = prompt, Chosen = completion,
            Desirable = label.ValueKind == JsonValueKind.True,
        };
    }

    // A prompt for GRPO or PPO to answer: a string (one user turn) or messages ending with a user turn.
    static DataRecord PromptOnly(JsonElement r, long line)
    {
        var prompt = Turns(r, "prompt", "user", "a prompts record needs a prompt");
        if (prompt[^1].Role != "user")
            throw new RecordError(RejectCodes.InvalidPrompt, "prompt",
                $"prompt: the last message is {prompt[^1].Role}; a prompt must end with a user turn");
        return new DataRecord { Kind = RecordKind.Prompt, Line = line, Messages = prompt };
    }

    static List<Message> Turns(JsonElement r, string field, string role, string needs)
    {
        if (!r.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
            throw new RecordError(RejectCodes.MissingField, field, $"{field}: missing; {needs}");
        return value.ValueKind == JsonValueKind.String
            ? [new Message(role, MessageParser.Content(value, field))]
            : MessageParser.OpenAi(value, field);
    }

    static List<Message> Continuation(List<Message> prompt, List<Message> turns, string field)
    {
        if (turns.Count > prompt.Count && turns.Take(prompt.Count).SequenceEqual(prompt))
            turns = turns[prompt.Count..];
        MessageParser.RequireAssistant(turns, field);
        return turns;
    }

    static DataRecord TextRecord(JsonElement r, long line)
    {
        if (!r.TryGetProperty("text", out var value) || value.ValueKind == JsonValueKind.Null)
            throw new RecordError(RejectCodes.MissingField, "text", "text: missing; a text record needs a text field");
        if (value.ValueKind != JsonValueKind.String)
            throw new RecordError(RejectCodes.InvalidType, "text",
                $"text: expected a string, got {FormatClassifier.Kind(value.ValueKind)}");
        var text = value.GetString()!;
        if (string.IsNullOrWhiteSpace(text))
            throw new RecordError(RejectCodes.EmptyText, "text", "text: empty; a text record needs a document");
        return new DataRecord { Kind = RecordKind.Text, Line = line, Text = text };
    }

    static string Required(JsonElement r, string field, string needs)
    {
        if (!r.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
            throw new RecordError(RejectCodes.MissingField, field, $"{field}: missing; {needs}");
        if (value.ValueKind != JsonValueKind.String)
            throw new RecordError(RejectCodes.InvalidType, field,
                $"{field}: expected a string, got {FormatClassifier.Kind(value.ValueKind)}");
        var text = value.GetString()!;
        if (string.IsNullOrWhiteSpace(text))
            throw new RecordError(RejectCodes.MissingContent, field, $"{field}: empty; expected text");
        return text;
    }

    static string? Optional(JsonElement r, string field)
    {
        if (!r.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        return value.ValueKind == JsonValueKind.String ? value.GetString()
            : throw new RecordError(RejectCodes.InvalidType, field,
                $"{field}: expected a string, got {FormatClassifier.Kind(value.ValueKind)}");
    }
}
