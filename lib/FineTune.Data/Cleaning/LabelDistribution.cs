// Counts of records per label (ordinal order), with unlabelled records counted apart; reported in the data card.
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
            _counts[record.Label] = _counts.GetValueOrDefault(record.Label) + 1;
    }

    internal void WriteTo(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteStartObject("counts");
        foreach (var (label, n) in _counts)
            w.WriteNumber(label, n);
        w.WriteEndObject();
        w.WriteNumber("unlabeled", Unlabeled);
        w.WriteEndObject();
    }
}
