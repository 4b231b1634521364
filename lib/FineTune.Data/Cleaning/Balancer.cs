// Evens out label frequencies of the TRAIN split: either repeat minority-label records up to the majority count
// (round-robin over each label's records, so copies spread evenly and the result is deterministic) or leave the
// records alone and report a loss weight per label (majority count / label count). Unlabelled records pass through.
namespace FineTune.Data.Cleaning;

public enum BalanceMode { None, Oversample, LossWeights }

public sealed record BalanceOptions
{
    public BalanceMode Mode { get; init; } = BalanceMode.None;
}

/// <summary>Weights is empty unless Mode is LossWeights. Added counts the oversampled copies.</summary>
public sealed record BalanceResult(
    IReadOnlyList<DataRecord> Records, IReadOnlyDictionary<string, double> Weights,
    LabelDistribution Before, LabelDistribution After, long Added)
{
    public double WeightOf(DataRecord record) =>
        record.Label is not null && Weights.TryGetValue(record.Label, out var w) ? w : 1.0;
}

public sealed class Balancer(BalanceOptions? options = null)
{
    readonly BalanceOptions _options = options ?? new BalanceOptions();

    public BalanceResult Balance(IReadOnlyList<DataRecord> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        var before = LabelDistribution.Of(records);
        var weights = new SortedDictionary<string, double>(StringComparer.Ordinal);
        var output = records;
        long added = 0;

        switch (_options.Mode)
        {
            case BalanceMode.Oversample when before.Counts.Count > 1:
                var result = new List<DataRecord>(records);
                var byLabel = records.Where(r => r.Label is not null).GroupBy(r => r.Label!)
                    .OrderBy(g => g.Key, StringComparer.Ordinal);
                foreach (var group in byLabel)
                {
                    var members = group.ToArray();
                    for (var i = members.Length; i < before.MajorityCount; i++)
                        result.Add(members[i % members.Length]);
                    added += before.MajorityCount - members.Length;
                }
                output = result;
                break;
            case BalanceMode.LossWeights:
                foreach (var (label, count) in before.Counts)
                    weights[label] = (double)before.MajorityCount / count;
                break;
        }
        return new BalanceResult(output, weights, before, LabelDistribution.Of(output), added);
    }
}
