// Personal data of every kind the cleaner redacts, planted in a chat file (kept, duplicate and rejected records, JSON
// and not), and a search for it in everything a stage wrote (issue 25's tests).
using System.Text.Json;

namespace FineTune.Tests;

public static class PlantedPii
{
    public static readonly string[] Values =
    [
        "bob.planted@example.org", "+44 20 7946 0958", "4111 1111 1111 1111", "GB82 WEST 1234 5698 7654 32",
            "203.0.113.77",
        "2001:db8:85a3::8a2e:370:7334",
    ];

    static string Chat(string user, string assistant) =>
        JsonSerializer.Serialize(new
        {
            messages = new[] { new { role = "user", content = user },
            new { role = "assistant", content = assistant } }
        });

    /// <summary>A chat file where every planted value appears in kept, duplicate and rejected records.</summary>
    public static string WriteFile(string dir)
    {
        var lines = new List<string>();
        for (int i = 0; i < 30; i++)
            lines.Add(Chat($"Ticket {i}: my card {Values[2]} was charged twice, mail me at {Values[0]} (case " +
                $"{i * 7919 % 997}).",
                $"Refund issued for case {i}; we call {Values[1]} and note IP {Values[4]}, IBAN {Values[3]}."));
        // exact duplicate
        lines.Add(lines[3]);
        // no assistant
        lines.Add($"{{\"messages\": [{{\"role\": \"user\", \"content\": \"no answer, write {Values[0]} or " +
            $"{Values[5]}\"}}]}}");
        lines.Add($"broken record with email {Values[0]} and card {Values[2]}");                         // not JSON
        // role echoed in the reason
        lines.Add($"{{\"messages\": [{{\"role\": \"{Values[0]}\", \"content\": \"hi\"}}, {{\"role\": \"assistant\", " +
            $"\"content\": \"x\"}}]}}");
        // key echoed
        lines.Add($"{{\"messages\": [{{\"role\": \"user\", \"content\": \"x\", \"{Values[3]}\": 1}}, {{\"role\": " +
            $"\"assistant\", \"content\": \"y\"}}]}}");
        var path = Path.Combine(dir, "tickets.jsonl");
        File.WriteAllLines(path, lines);
        return path;
    }

    /// <summary>Planted values found in any file under <paramref name="root"/> (skipping <paramref
    /// name="except"/>).</summary>
    public static IEnumerable<string> Leaks(string root, params string[] except) =>
        from file in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
        where !except.Any(e => Path.GetFullPath(file).StartsWith(Path.GetFullPath(e), StringComparison.Ordinal))
        let text = File.ReadAllText(file)
        from value in Values
        where text.Contains(value, StringComparison.Ordinal) || text.Contains(value.Replace(" ", ""),
            StringComparison.Ordinal)
        select $"{Path.GetRelativePath(root, file)}: {value}";
}
