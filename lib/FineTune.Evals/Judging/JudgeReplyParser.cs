// Tolerant parsing of judge replies: code fences and chatter around the JSON are skipped, the first JSON object that
// parses is used, "score" may be a number or a numeric string, and a score outside the rubric's range is malformed.
using System.Globalization;
using System.Text.Json;

namespace FineTune.Evals.Judging;

internal static class JudgeReplyParser
{
    /// <summary>Score and reasons, or an error describing why the reply is malformed.</summary>
    public static (double? Score, string? Reasons, string? Error) ParseGrade(string? reply, Rubric rubric)
    {
        using var doc = FirstObject(reply, out var error);
        if (doc is null)
            return (null, null, error);
        var root = doc.RootElement;
        if (!TryGetProperty(root, "score", out var scoreElement))
            return (null, null, "no \"score\" field");
        double score;
        if (scoreElement.ValueKind == JsonValueKind.Number)
            score = scoreElement.GetDouble();
        else if (scoreElement.ValueKind == JsonValueKind.String &&
                 double.TryParse(scoreElement.GetString()!.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture,
                     out var parsed))
            score = parsed;
        else
            return (null, null, $"\"score\" is not a number: {scoreElement.GetRawText()}");
        if (!double.IsFinite(score) || score < rubric.Min || score > rubric.Max)
            return (null, null,
                string.Create(CultureInfo.InvariantCulture, $"score {score} outside [{rubric.Min}, {rubric.Max}]"));
        return (score, Reasons(root), null);
    }

    /// <summary>Winning position "1", "2" or "tie", or an error describing why the reply is malformed.</summary>
    public static (string? Winner, string? Reasons, string? Error) ParseCompare(string? reply)
    {
        using var doc = FirstObject(reply, out var error);
        if (doc is null)
            return (null, null, error);
        var root = doc.RootElement;
        if (!TryGetProperty(root, "winner", out var w))
            return (null, null, "no \"winner\" field");
        var text = w.ValueKind switch
        {
            JsonValueKind.String => w.GetString()!.Trim().ToLowerInvariant(),
            JsonValueKind.Number => w.GetRawText(),
            _ => null,
        };
        var winner = text switch
        {
            "1" or "response 1" or "[response 1]" => "1",
            "2" or "response 2" or "[response 2]" => "2",
            "tie" or "0" or "draw" or "equal" => "tie",
            _ => null,
        };
        return winner is null ? (null, null, $"\"winner\" is not 1, 2 or tie: {w.GetRawText()}") : (winner,
            Reasons(root), null);
    }

    static string? Reasons(JsonElement root) =>
        TryGetProperty(root, "reasons", out var r) || TryGetProperty(root, "reason", out r)
            ? r.ValueKind == JsonValueKind.String ? r.GetString() : r.GetRawText()
            : null;

    static bool TryGetProperty(JsonElement obj, string name, out JsonElement value)
    {
        foreach (var p in obj.EnumerateObject())
            if (string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                value = p.Value;
                return true;
            }
        value = default;
        return false;
    }

    /// <summary>The first balanced {...} span that parses as a JSON object; fences and prose around it are
    /// ignored.</summary>
    static JsonDocument? FirstObject(string? reply, out string? error)
    {
        error = null;
        if (string.IsNullOrWhiteSpace(reply))
        {
            error = "empty reply";
            return null;
        }
        for (var start = reply.IndexOf('{'); start >= 0; start = reply.IndexOf('{', start + 1))
        {
            var end = MatchingBrace(reply, start);
            if (end < 0)
                break;
            try
            {
                return JsonDocument.Parse(reply.AsMemory(start, end - start + 1));
            }
            catch (JsonException)
            {
            }
        }
        error = "no JSON object in reply";
        return null;
    }

    /// <summary>Index of the brace closing the one at <paramref name="start"/>, skipping braces inside JSON strings; -1
    /// if none.</summary>
    static int MatchingBrace(string s, int start)
    {
        var depth = 0;
        var inString = false;
        for (var i = start; i < s.Length; i++)
        {
            var c = s[i];
            if (inString)
            {
                if (c == '\\')
                    i++;
                else if (c == '"')
                    inString = false;
            }
            else if (c == '"')
                inString = true;
            else if (c == '{')
                depth++;
            else if (c == '}' && --depth == 0)
                return i;
        }
        return -1;
    }
}
