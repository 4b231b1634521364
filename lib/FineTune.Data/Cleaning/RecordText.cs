// Views of a DataRecord's text: its content fields with their paths, the normalised text that de-duplication
// hashes, the normalised prompt that split assignment hashes, and a compact JSON rendering for rejections.
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace FineTune.Data.Cleaning;

internal static class RecordText
{
    public static readonly JsonWriterOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Every content field in reading order: (path, role, content). Text records have one field, role
    /// "text".</summary>
    public static IEnumerable<(string Path, string Role, string Content)> Contents(DataRecord record)
    {
        if (record.Text is not null)
            yield return ("text", "text", record.Text);
        foreach (var (name, list) in Sections(record))
            for (var i = 0; i < list.Count; i++)
                yield return ($"{name}[{i}].content", list[i].Role, list[i].Content ?? "");
    }

    public static IEnumerable<(string Name, IReadOnlyList<Message> Messages)> Sections(DataRecord record)
    {
        yield return ("messages", record.Messages);
        if (record.Chosen is not null)
            yield return (record.Kind == RecordKind.Feedback ? "completion" : "chosen", record.Chosen);
        if (record.Rejected is not null)
            yield return ("rejected", record.Rejected);
    }

    /// <summary>Kind, section, role and key text of each field, so the same conversation matches whatever its spacing
    /// or case.</summary>
    public static string DedupText(DataRecord record)
    {
        var sb = new StringBuilder();
        sb.Append(record.Kind).Append(record.Desirable switch { true => "+", false => "-", _ => "" }).Append('\u001e');
        foreach (var (path, role, content) in Contents(record))
            sb.Append(path.AsSpan(0, path.IndexOf('[') is var b and >= 0 ? b : path.Length))
              .Append('\u001f').Append(role.ToLowerInvariant()).Append('\u001f')
                  .Append(TextNormalizer.KeyText(content)).Append('\u001e');
        return sb.ToString();
    }

    /// <summary>The non-assistant turns of the conversation (the prompt of a preference pair); a text record's whole
    /// text.</summary>
    public static string PromptText(DataRecord record)
    {
        if (record.Kind == RecordKind.Text)
            return TextNormalizer.KeyText(record.Text ?? "");
        var sb = new StringBuilder();
        foreach (var m in record.Messages)
        {
            if (string.Equals(m.Role, "assistant", StringComparison.OrdinalIgnoreCase))
                continue;
            sb.Append(m.Role.ToLowerInvariant()).Append('\u001f').Append(TextNormalizer.KeyText(m.Content
                ?? "")).Append('\u001e');
        }
        return sb.ToString();
    }

    /// <summary>Role markers and words, the token stream near-duplicate shingles are built from.</summary>
    public static List<string> Words(DataRecord record)
    {
        var words = new List<string>();
        foreach (var (_, role, content) in Contents(record))
        {
            words.Add("<" + role.ToLowerInvariant() + ">");
            TextNormalizer.AppendWords(content, words);
        }
        return words;
    }
}
