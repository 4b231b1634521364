// Mixes records of a general dataset into the TRAIN split to limit forgetting. Fraction is the share of the mixed
// train set that is replay: n = round(f / (1 − f) × train). The n general records with the smallest seeded hash of
// their content are taken (order-independent, one streaming pass, memory O(n)) and spread evenly among train.
namespace FineTune.Data.Cleaning;

/// <summary>Replay: `data prepare`'s replay section (file, fraction); the seed is the split's.</summary>
public sealed record ReplayOptions
{
    /// <summary>A general dataset (any format the reader takes) mixed into train to guard against forgetting.</summary>
    public string? File { get; init; }
    public double Fraction { get; init; }
    internal string Seed { get; init; } = "";   // not a config key (internal, so the serializer refuses "seed")
}

/// <summary>Requested is n; Replayed can be smaller when the general dataset is.</summary>
public sealed record ReplayResult(IReadOnlyList<DataRecord> Records, long Train, long Requested, long Replayed);

public sealed class ReplayMixer
{
    readonly ReplayOptions _options;

    public ReplayMixer(ReplayOptions? options = null)
    {
        _options = options ?? new ReplayOptions();
        if (!double.IsFinite(_options.Fraction) || _options.Fraction is < 0 or >= 1)
            throw new ArgumentOutOfRangeException(nameof(options), _options.Fraction,
                "Replay:Fraction is the share of the mixed train set taken from the general dataset, in [0, 1).");
        ArgumentNullException.ThrowIfNull(_options.Seed);
    }

    public ReplayResult Mix(IReadOnlyList<DataRecord> train, IEnumerable<DataRecord> general)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(general);
        var requested = (long)Math.Round(_options.Fraction / (1 - _options.Fraction) * train.Count,
            MidpointRounding.AwayFromZero);
        if (requested == 0)
            return new ReplayResult(train, train.Count, 0, 0);

        // Max-heap of the n smallest (hash, position): the root is the current worst pick.
        var heap = new PriorityQueue<(DataRecord Record, long Position), (ulong Hash, long Position)>(
            Comparer<(ulong Hash, long Position)>.Create((a, b) => b.CompareTo(a)));
        long position = 0;
        foreach (var record in general)
        {
            var priority = (StableHash.Of(RecordText.DedupText(record), _options.Seed), position);
            if (heap.Count < requested)
                heap.Enqueue((record, position), priority);
            else if (heap.TryPeek(out _, out var worst) && priority.CompareTo(worst) < 0)
                heap.EnqueueDequeue((record, position), priority);
            position++;
        }
        var picked = heap.UnorderedItems.Select(x => x.Element).OrderBy(x => x.Position).Select(x =>
            x.Record).ToArray();

        // Merge by relative position (i + ½)/count so replay records are spread evenly; ties keep train first.
        var mixed = new List<DataRecord>(train.Count + picked.Length);
        int t = 0, p = 0;
        while (t < train.Count || p < picked.Length)
        {
            var takeTrain = p == picked.Length ||
                (t < train.Count && (t + 0.5) / train.Count <= (p + 0.5) / picked.Length);
            mixed.Add(takeTrain ? train[t++] : picked[p++]);
        }
        return new ReplayResult(mixed, train.Count, requested, picked.Length);
    }
}
