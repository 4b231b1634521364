// MinHash signatures over word shingles and the LSH banding that turns a Jaccard threshold into bands × rows.
// Hashes are seeded 64-bit mixes of FNV-1a (StableHash), so signatures are identical across runs and machines.
namespace FineTune.Data.Cleaning;

/// <summary>Near-duplicate detection: `data prepare`'s near_duplicates section and the index's parameters.</summary>
public sealed record NearDuplicateOptions
{
    public bool Enabled { get; init; } = true;
    /// <summary>Drop near-duplicates (true) or keep them, in the same split as the record they resemble
    /// (false).</summary>
    public bool Remove { get; init; } = true;
    /// <summary>Records whose estimated Jaccard similarity of shingle sets reaches this are near-duplicates.</summary>
    public double Threshold { get; init; } = 0.8;
    public int ShingleSize { get; init; } = 5;
    public int Permutations { get; init; } = 128;
    public ulong Seed { get; init; }
    /// <summary>Override the banding; both or neither. Left null, they are chosen from Threshold (see
    /// LshBanding.Choose).</summary>
    public int? Bands { get; init; }
    public int? Rows { get; init; }
}

/// <summary>
/// Two records whose signatures agree on all Rows values of at least one of Bands bands become candidates, with
/// probability P(s) = 1 − (1 − s^Rows)^Bands for Jaccard similarity s: an S-curve rising around (1/Bands)^(1/Rows).
/// Choose takes the most rows (fewest false candidates) that still catch a pair AT the threshold with P ≥ 0.95;
/// candidates are then verified on the full signature, so a low S-curve midpoint costs time, not precision.
/// 128 permutations, threshold 0.8 → 18 bands × 7 rows, midpoint 0.66: P(0.5) = 0.13, P(0.7) = 0.79,
/// P(0.8) = 0.986, P(0.9) > 0.9999. (8 rows would give P(0.8) = 0.947; 10 rows, midpoint 0.78, only 0.74.)
/// </summary>
public readonly record struct LshBanding(int Bands, int Rows)
{
    public const double RecallAtThreshold = 0.95;

    public double CandidateProbability(double similarity) => 1 - Math.Pow(1 - Math.Pow(similarity, Rows), Bands);

    public static LshBanding Choose(double threshold, int permutations)
    {
        var best = new LshBanding(permutations, 1);
        for (var rows = 1; rows <= permutations; rows++)
        {
            var banding = new LshBanding(permutations / rows, rows);
            if (banding.CandidateProbability(threshold) >= RecallAtThreshold)
                best = banding;
        }
        return best;
    }
}

internal sealed class MinHasher
{
    readonly ulong[] _seeds;
    readonly int _shingleSize;

    public MinHasher(int permutations, int shingleSize, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(permutations);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(shingleSize);
        _shingleSize = shingleSize;
        _seeds = new ulong[permutations];
        for (var i = 0; i < permutations; i++)
            _seeds[i] = StableHash.Mix(seed + 0x9E3779B97F4A7C15UL * (ulong)(i + 1));
    }

    /// <summary>Signature of the shingle set, or null when there are no words. Fewer words than a shingle → one
    /// shingle.</summary>
    public ulong[]? Signature(IReadOnlyList<string> words)
    {
        if (words.Count == 0)
            return null;
        var tokens = new ulong[words.Count];
        for (var i = 0; i < tokens.Length; i++)
            tokens[i] = StableHash.Fnv1a64(words[i]);

        var signature = new ulong[_seeds.Length];
        Array.Fill(signature, ulong.MaxValue);
        var width = Math.Min(_shingleSize, tokens.Length);
        for (var start = 0; start + width <= tokens.Length; start++)
        {
            // Order-sensitive chain of mixes: "a b c" and "c b a" are different shingles.
            ulong shingle = 0;
            for (var k = 0; k < width; k++)
                shingle = StableHash.Mix(shingle ^ tokens[start + k]);
            for (var p = 0; p < signature.Length; p++)
            {
                var h = StableHash.Mix(shingle ^ _seeds[p]);
                if (h < signature[p])
                    signature[p] = h;
            }
        }
        return signature;
    }

    /// <summary>Fraction of equal positions: an unbiased estimate of the Jaccard similarity (std ≈
    /// √(s(1−s)/n)).</summary>
    public static double EstimateJaccard(ReadOnlySpan<ulong> a, ReadOnlySpan<ulong> b)
    {
        if (a.Length != b.Length)
            throw new ArgumentException($"signatures differ in length ({a.Length} vs {b.Length}).");
        var equal = 0;
        for (var i = 0; i < a.Length; i++)
            if (a[i] == b[i])
                equal++;
        return (double)equal / a.Length;
    }

    public static ulong BandHash(ReadOnlySpan<ulong> signature, int band, int rows)
    {
        var h = StableHash.Mix((ulong)band + 1);
        foreach (var v in signature.Slice(band * rows, rows))
            h = StableHash.Mix(h ^ v);
        return h;
    }
}
