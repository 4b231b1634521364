// Production feedback as training data, in the formats the data stages read (docs/data-format.md): a correction is
// an SFT example (the prompt, then the corrected answer); two answers to one prompt rated differently make a
// preference pair (the better chosen, the worse rejected; a correction is better than the answer it corrects); a
// clear rating makes a KTO example (4–5 stars or thumbs up desirable, 1–2 stars or thumbs down undesirable).
using System.Text.Json;
using System.Text.Json.Nodes;
using FineTune.Registry;

namespace FineTune.Pipeline.Feedback;

public enum FeedbackKind { Sft, Preference, Kto }

/// <summary>The lines of each file, and the feedback they came from.</summary>
public sealed record FeedbackDatasets(IReadOnlyList<string> Sft, IReadOnlyList<string> Preference,
    IReadOnlyList<string> Kto, IReadOnlyList<long> FeedbackIds)
{
    public IReadOnlyList<string> Of(FeedbackKind kind) => kind switch
    {
        FeedbackKind.Sft => Sft,
        FeedbackKind.Preference => Preference,
        _ => Kto,
    };

    public static string FileName(FeedbackKind kind) => kind switch
    {
        FeedbackKind.Sft => "sft.jsonl",
        FeedbackKind.Preference => "preference.jsonl",
        _ => "kto.jsonl",
    };
}

public static class FeedbackExport
{
    public static FeedbackDatasets Build(IReadOnlyList<FeedbackRecord> feedback,
        IReadOnlyList<ServedRequestRecord> requests)
    {
        var answers = requests.ToDictionary(r => (r.Id, r.Choice));
        var sft = new List<string>();
        var kto = new List<string>();
        var used = new List<long>();
        // per prompt: every rated answer with its mean rating (a correction rates 1)
        var byPrompt = new Dictionary<string, (ServedRequestRecord First, Dictionary<string, List<double>> Ratings)>();
        var corrections = new HashSet<string>(StringComparer.Ordinal);
        foreach (var f in feedback)
        {
            if (!answers.TryGetValue((f.CompletionId, f.Choice), out var answer))
                continue;
            used.Add(f.Id);
            if (f.Correction is { } correction)
                sft.Add(Line(answer, ("completion", correction)));
            if (f.Rating >= 0.75 || f.Rating <= 0.25)
                kto.Add(Line(answer, ("completion", answer.Answer), ("label", f.Rating >= 0.75)));
            var entry = byPrompt.TryGetValue(answer.Prompt, out var known) ? known : (answer, []);
            Add(entry.Ratings, answer.Answer, f.Rating);
            if (f.Correction is { } better)
            {
                Add(entry.Ratings, better, 1);
                corrections.Add(better);
            }
            byPrompt[answer.Prompt] = entry;
        }
        var preference = new List<string>();
        foreach (var (first, ratings) in byPrompt.Values)
        {
            // best first; on a tie, what a person wrote beats what the model wrote
            var ranked = ratings.Select(r => (Text: r.Key, Mean: r.Value.Average())).OrderByDescending(r => r.Mean)
                .ThenByDescending(r => corrections.Contains(r.Text)).ThenBy(r => r.Text, StringComparer.Ordinal)
                .ToList();
            if (ranked.Count >= 2 && ranked[0].Mean > ranked[^1].Mean)
                preference.Add(Line(first, ("chosen", ranked[0].Text), ("rejected", ranked[^1].Text)));
        }
        return new FeedbackDatasets(sft, preference, kto, used);
    }

    static void Add(Dictionary<string, List<double>> ratings, string text, double rating)
    {
        if (!ratings.TryGetValue(text, out var list))
            ratings[text] = list = [];
        list.Add(rating);
    }

    // A chat prompt is the request's messages; a text prompt its string. Answers are assistant turns for chat.
    static string Line(ServedRequestRecord request, params (string Key, object Value)[] fields)
    {
        bool chat = request.Kind == "chat";
        var line = new JsonObject { ["prompt"] = JsonNode.Parse(request.Prompt) };
        foreach (var (key, value) in fields)
            line[key] = value switch
            {
                bool b => b,
                string s when chat => new JsonArray(new JsonObject { ["role"] = "assistant", ["content"] = s }),
                string s => s,
                _ => throw new ArgumentException(key),
            };
        // SFT from chat: the whole conversation as messages
        if (chat && line["completion"] is { } completion && line["label"] is null)
        {
            var messages = (JsonArray)line["prompt"]!.DeepClone();
            messages.Add(completion[0]!.DeepClone());
            return new JsonObject { ["messages"] = messages }.ToJsonString();
        }
        return line.ToJsonString();
    }

    /// <summary>Writes sft.jsonl, preference.jsonl and kto.jsonl into <paramref name="directory"/>.</summary>
    public static async Task WriteAsync(FeedbackDatasets data, string directory, CancellationToken ct)
    {
        Directory.CreateDirectory(directory);
        foreach (var kind in Enum.GetValues<FeedbackKind>())
            await File.WriteAllLinesAsync(Path.Combine(directory, FeedbackDatasets.FileName(kind)), data.Of(kind),
                ct);
    }
}
