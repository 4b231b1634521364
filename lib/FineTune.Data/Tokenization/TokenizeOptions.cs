// How records become training sequences: length limit and truncation, BOS/EOS, what is trained,
// template override and shard size. Serialized into manifest.json as given.
using System.Text.Json.Serialization;
using FineTune.Text;

namespace FineTune.Data.Tokenization;

[JsonConverter(typeof(JsonStringEnumConverter<Truncation>))]
public enum Truncation { Right, Left, Drop }

public sealed record TokenizeOptions
{
    /// <summary>Longest sequence kept, in tokens; null = no limit.</summary>
    public int? MaxLength { get; init; } = 2048;

    /// <summary>What happens to a sequence longer than MaxLength: cut its end, cut its start (after BOS), or drop
    /// it.</summary>
    public Truncation Truncation { get; init; } = Truncation.Right;

    /// <summary>Train on every token (prompts and template markup too), not only on assistant turns. Weight-0 messages
    /// stay untrained.</summary>
    public bool TrainOnInputs { get; init; }

    /// <summary>Text records start with BOS; chat records get BOS when the template does not already emit it.</summary>
    public bool AddBos { get; init; } = true;

    /// <summary>Text records end with EOS; chat records get EOS when the template does not close the conversation with
    /// a stop token.</summary>
    public bool AddEos { get; init; } = true;

    /// <summary>Chat template to use instead of the tokenizer's own (needed for a bare tokenizer.model).</summary>
    [JsonConverter(typeof(JsonStringEnumConverter<ChatTemplateKind>))]
    public ChatTemplateKind? Template { get; init; }

    /// <summary>A shard is closed before the example that would take it past this many tokens.</summary>
    public long ShardTokens { get; init; } = 1L << 24;

    /// <summary>Worker threads; 0 = all cores. Output does not depend on it.</summary>
    [JsonIgnore]
    public int Threads { get; init; }

    internal void Validate()
    {
        if (MaxLength is { } max)
            ArgumentOutOfRangeException.ThrowIfLessThan(max, 2, nameof(MaxLength));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ShardTokens, nameof(ShardTokens));
        ArgumentOutOfRangeException.ThrowIfNegative(Threads, nameof(Threads));
        if (!Enum.IsDefined(Truncation))
            throw new ArgumentOutOfRangeException(nameof(Truncation), Truncation, "unknown truncation policy");
    }
}

/// <summary>Counts over a set of records. Truncated = kept but shortened; Dropped = left out (too long under Drop, or
/// nothing left to train). Lengths: kept examples by token length (the longest sequence of a pair), keyed by the
/// lower bound of their LengthBuckets bucket.</summary>
public sealed record TokenizeStats
{
    public long Examples { get; set; }
    public long Tokens { get; set; }
    public long TrainedTokens { get; set; }
    public long Truncated { get; set; }
    public long Dropped { get; set; }
    public SortedDictionary<int, long> Lengths { get; set; } = [];

    /// <summary>Counts one kept example of <paramref name="length"/> tokens in Lengths.</summary>
    public void AddLength(int length)
    {
        int bucket = LengthBuckets.Lower(length);
        Lengths[bucket] = Lengths.GetValueOrDefault(bucket) + 1;
    }

    public void Add(TokenizeStats other)
    {
        Examples += other.Examples;
        Tokens += other.Tokens;
        TrainedTokens += other.TrainedTokens;
        Truncated += other.Truncated;
        Dropped += other.Dropped;
        foreach (var (bucket, count) in other.Lengths)
            Lengths[bucket] = Lengths.GetValueOrDefault(bucket) + count;
    }

    // equal counts, the histogram compared bucket by bucket (a manifest read back equals the one written)
    public bool Equals(TokenizeStats? other) => other is not null && Examples == other.Examples
        && Tokens == other.Tokens && TrainedTokens == other.TrainedTokens && Truncated == other.Truncated
        && Dropped == other.Dropped && Lengths.SequenceEqual(other.Lengths);

    public override int GetHashCode() => HashCode.Combine(Examples, Tokens, TrainedTokens, Truncated, Dropped,
        Lengths.Count);
}

/// <summary>Token-length buckets a histogram of any length range can share: one per length below 16, then eight
/// per doubling (16-17, 18-19, ..., 30-31, 32-35, ..., 256-287, ...), so every bucket is within 12.5% of its lower
/// bound and histograms of different runs add up bucket by bucket.</summary>
public static class LengthBuckets
{
    public static int Lower(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (length < 16)
            return length;
        int width = Width(length);
        return length / width * width;
    }

    /// <summary>The last length in the bucket that starts at <paramref name="lower"/>.</summary>
    public static int Upper(int lower) => lower < 16 ? lower : lower + Width(lower) - 1;

    static int Width(int length) => 1 << (System.Numerics.BitOperations.Log2((uint)length) - 3);
}
