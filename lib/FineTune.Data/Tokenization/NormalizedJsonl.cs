// Reads and writes the normalised JSONL of a prepared dataset (train/validation/test.jsonl), one record a line:
// chat {"messages":[{"role","content","weight"?}],"label"?}, preference {"prompt":[…],"chosen":[…],"rejected":[…]},
// feedback {"prompt":[…],"completion":[…],"desirable":true|false}, prompt {"prompt":[…]}, text {"text":"…"}.
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace FineTune.Data.Tokenization;

public static class NormalizedJsonl
{
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping
    };

    /// <summary>Records of a file in order; blank lines are skipped; a malformed line is an InvalidDatasetException
    /// naming file and line.</summary>
    public static IEnumerable<DataRecord> Read(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        using var reader = new StreamReader(path, new UTF8Encoding(false, throwOnInvalidBytes: true));
        long line = 0;
        for (string? text; (text = reader.ReadLine()) is not null;)
        {
            line++;
            if (string.IsNullOrWhiteSpace(text))
                continue;
            DataRecord record;
            try
            {
                record = Parse(text, line);
            }
            catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException
                or KeyNotFoundException)
            {
                throw new InvalidDatasetException($"{path}:{line}: not a normalised record ({e.Message}); re-run " +
                    $"the prepare step");
            }
            yield return record;
        }
    }

    public static DataRecord Parse(string json, long line)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
            throw new FormatException("expected a JSON object");
        string? label = root.TryGetProperty("label",
            out var l) && l.ValueKind == JsonValueKind.String ? l.GetString() : null;
        if (root.TryGetProperty("messages", out var messages))
            return new DataRecord
            {
                Kind = RecordKind.Chat, Line = line, Messages = ReadMessages(messages),
                Label = label
            };
        if (root.TryGetProperty("chosen", out var chosen))
            return new DataRecord
            {
                Kind = RecordKind.Preference, Line = line, Label = label,
                Messages = ReadMessages(root.GetProperty("prompt")), Chosen = ReadMessages(chosen),
                Rejected = ReadMessages(root.GetProperty("rejected")),
            };
        if (root.TryGetProperty("completion", out var completion))
            return new DataRecord
            {
                Kind = RecordKind.Feedback, Line = line, Label = label,
                Messages = ReadMessages(root.GetProperty("prompt")), Chosen = ReadMessages(completion),
                Desirable = root.GetProperty("desirable").GetBoolean(),
            };
        if (root.TryGetProperty("prompt", out var prompt))
            return new DataRecord
            {
                Kind = RecordKind.Prompt, Line = line, Label = label, Messages = ReadMessages(prompt),
            };
        if (root.TryGetProperty("text", out var text))
            return new DataRecord
            {
                Kind = RecordKind.Text, Line = line,
                Text = text.GetString() ?? throw new FormatException("\"text\" is null"), Label = label
            };
        throw new FormatException("expected \"messages\", \"prompt\"/\"chosen\"/\"rejected\", " +
            "\"prompt\"/\"completion\"/\"desirable\" or \"text\"");
    }

    private static List<Message> ReadMessages(JsonElement array)
    {
        if (array.ValueKind != JsonValueKind.Array)
            throw new FormatException("a message list must be a JSON array");
        var list = new List<Message>(array.GetArrayLength());
        foreach (var m in array.EnumerateArray())
        {
            double? weight = m.TryGetProperty("weight",
                out var w) && w.ValueKind == JsonValueKind.Number ? w.GetDouble() : null;
            list.Add(new Message(m.GetProperty("role").GetString() ?? throw new FormatException("null role"),
                m.GetProperty("content").GetString() ?? throw new FormatException("null content"), weight));
        }
        return list;
    }

    /// <summary>One record as one line of JSON (no newline). Non-ASCII is written as is.</summary>
    public static string Serialize(DataRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            w.WriteStartObject();
            switch (record.Kind)
            {
                case RecordKind.Chat:
                    WriteMessages(w, "messages", record.Messages);
                    break;
                case RecordKind.Preference:
                    WriteMessages(w, "prompt", record.Messages);
                    WriteMessages(w, "chosen",
                        record.Chosen
                        ?? throw new ArgumentException($"line {record.Line}: preference record without chosen"));
                    WriteMessages(w, "rejected",
                        record.Rejected
                        ?? throw new ArgumentException($"line {record.Line}: preference record without rejected"));
                    break;
                case RecordKind.Feedback:
                    WriteMessages(w, "prompt", record.Messages);
                    WriteMessages(w, "completion",
                        record.Chosen
                        ?? throw new ArgumentException($"line {record.Line}: feedback record without a completion"));
                    w.WriteBoolean("desirable", record.Desirable
                        ?? throw new ArgumentException($"line {record.Line}: feedback record without a label"));
                    break;
                case RecordKind.Prompt:
                    WriteMessages(w, "prompt", record.Messages);
                    break;
                default:
                    w.WriteString("text", record.Text ?? "");
                    break;
            }
            if (record.Label is not null)
                w.WriteString("label", record.Label);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Writes records to path via path.tmp and a rename, so a reader never sees half a file.</summary>
    public static void Write(string path, IEnumerable<DataRecord> records)
    {
        string tmp = path + ".tmp";
        using (var writer = new StreamWriter(tmp, false, new UTF8Encoding(false)) { NewLine = "\n" })
            foreach (var r in records)
                writer.WriteLine(Serialize(r));
        File.Move(tmp, path, overwrite: true);
    }

    private static void WriteMessages(Utf8JsonWriter w, string name, IReadOnlyList<Message> messages)
    {
        w.WriteStartArray(name);
        foreach (var m in messages)
        {
            w.WriteStartObject();
            w.WriteString("role", m.Role);
            w.WriteString("content", m.Content);
            if (m.Weight is { } weight)
                w.WriteNumber("weight", weight);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }
}
