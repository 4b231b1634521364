// Counts of records per label (ordinal order), with unlabelled records counted apart; reported in the data card, with
// how many labelled records answer with their label (a classifier's data: then a live answer is a label too). Compare
// measures live labels against the training labels: the share never seen in training and the total variation of the
// label mix (unseen labels as one more bin), the "unseen categories" of drift monitoring.
using System.Text.Json;

namespace FineTune.Data.Cleaning;

public sealed class LabelDistribution
{
    readonly SortedDictionary<string, long> _counts = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, long> Counts => _counts;
    public long Unlabeled { get; private set; }
    public long Total => Unlabeled + _counts.Values.Sum();
    /// <summary>The most frequent label (ordinal-first on ties), or null when nothing is labelled.</summary>
    public string? Majority => _counts.Count == 0 ? null : _counts.MaxBy(kv => kv.Value).Key;
    public long MajorityCount => _counts.Count == 0 ? 0 : _counts.Values.Max();
    /// <summary>Labelled records whose answer (the last assistant turn) is their label, case and outer whitespace
    /// aside.</summary>
    public long AnswerMatches { get; private set; }
    /// <summary>At least 90% of the labelled records answer with their label: the model is trained to answer with one.
    /// </summary>
    public bool AnswersAreLabels => _counts.Count > 0 && AnswerMatches >= 0.9 * (Total - Unlabeled);

    public static LabelDistribution Of(IEnumerable<DataRecord> records)
    {
        var distribution = new LabelDistribution();
        foreach (var record in records)
            distribution.Add(record);
        return distribution;
    }

    public void Add(DataRecord record)
    {
        if (record.Label is null)
            Unlabeled++;
        else
        {
            _counts[record.Label] = _counts.GetValueOrDefault(record.Label) + 1;
            if (record.Messages.LastOrDefault(m => m.Role == "assistant") is { } answer
                && Normal(answer.Content) == Normal(record.Label))
                AnswerMatches++;
        }
    }

    /// <summary>How a label is compared: trimmed, lower-cased.</summary>
    public static string Normal(string label) => label.Trim().ToLowerInvariant();

    /// <summary>Unseen: the share of <paramref name="live"/> labels no training record had; Shift: the total variation
    /// between the training and live label mixes.</summary>
    public (double Unseen, double Shift) Compare(IReadOnlyCollection<string> live)
    {
        var reference = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (label, n) in _counts)
            reference[Normal(label)] = reference.GetValueOrDefault(Normal(label)) + n;
        var current = new Dictionary<string, long>(StringComparer.Ordinal);
        long unseen = 0;
        foreach (var label in live.Select(Normal))
            if (reference.ContainsKey(label))
                current[label] = current.GetValueOrDefault(label) + 1;
            else
                unseen++;
        if (unseen > 0)
            current["\0unseen"] = unseen;
        return (live.Count == 0 ? 0 : (double)unseen / live.Count, PromptProfile.TotalVariation(reference, current));
    }

    public static LabelDistribution Read(JsonElement e)
    {
        var d = new LabelDistribution
        {
            Unlabeled = e.TryGetProperty("unlabeled", out var u) ? u.GetInt64() : 0,
            AnswerMatches = e.TryGetProperty("answer_matches", out var a) ? a.GetInt64() : 0,
        };
        foreach (var label in e.GetProperty("counts").EnumerateObject())
            d._counts[label.Name] = label.Value.GetInt64();
        return d;
    }

    public void WriteTo(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteStartObject("counts");
        foreach (var (label, n) in _counts)
            w.WriteNumber(label, n);
        w.WriteEndObject();
        w.WriteNumber("unlabeled", Unlabeled);
        w.WriteNumber("answer_matches", AnswerMatches);
        w.WriteEndObject();
    }
}
