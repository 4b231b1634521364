// MaxLength enforcement for single sequences and preference pairs (Right / Left / Drop), and the rule
// that an example with nothing left to train is dropped.
namespace FineTune.Data.Tokenization;

internal static class TruncationPolicy
{
    public static TokenizedExample ApplyOne(List<int> ids, byte[] mask, TokenizeOptions options, int? bosId)
    {
        bool truncated = false;
        if (options.MaxLength is { } max && ids.Count > max)
        {
            if (options.Truncation == Truncation.Drop)
                return TokenizedExample.DroppedExample;
            truncated = true;
            (ids, mask) = options.Truncation == Truncation.Right
                ? (ids.GetRange(0, max), mask[..max])
                : CutLeft(ids, mask, ids.Count - max, KeepFirst(ids, bosId));
        }
        var seq = Seal(ids, mask);
        return seq.TrainedCount == 0 ? TokenizedExample.DroppedExample : new([seq], 0, truncated, Dropped: false);
    }

    /// <summary>Left cuts the shared prompt (after BOS) of both sequences by the same count so it stays shared;
    /// whatever still does not fit is then cut from the right of each sequence.</summary>
    public static TokenizedExample ApplyPair((List<int> Ids, byte[] Mask) chosen, (List<int> Ids, byte[] Mask) rejected,
        int promptLength, TokenizeOptions options, int? bosId)
    {
        bool truncated = false;
        int longest = Math.Max(chosen.Ids.Count, rejected.Ids.Count);
        if (options.MaxLength is { } max && longest > max)
        {
            if (options.Truncation == Truncation.Drop)
                return TokenizedExample.DroppedExample;
            truncated = true;
            if (options.Truncation == Truncation.Left)
            {
                int keep = KeepFirst(chosen.Ids, bosId);
                int cut = Math.Min(longest - max, Math.Max(0, promptLength - keep));
                chosen = CutLeft(chosen.Ids, chosen.Mask, cut, keep);
                rejected = CutLeft(rejected.Ids, rejected.Mask, cut, keep);
                promptLength -= cut;
            }
            if (chosen.Ids.Count > max)
                chosen = (chosen.Ids.GetRange(0, max), chosen.Mask[..max]);
            if (rejected.Ids.Count > max)
                rejected = (rejected.Ids.GetRange(0, max), rejected.Mask[..max]);
            promptLength = Math.Min(promptLength, max);
        }
        var c = Seal(chosen.Ids, chosen.Mask);
        var r = Seal(rejected.Ids, rejected.Mask);
        return c.TrainedCount == 0 || r.TrainedCount == 0
            ? TokenizedExample.DroppedExample
            : new([c, r], promptLength, truncated, Dropped: false);
    }

    private static int KeepFirst(List<int> ids, int? bosId) => ids.Count > 0 && bosId is { } b && ids[0] == b ? 1 : 0;

    private static (List<int>, byte[]) CutLeft(List<int> ids, byte[] mask, int cut, int keep)
    {
        var outIds = new List<int>(ids.Count - cut);
        outIds.AddRange(ids.GetRange(0, keep));
        outIds.AddRange(ids.GetRange(keep + cut, ids.Count - keep - cut));
        return (outIds, [.. mask.AsSpan(0, keep), .. mask.AsSpan(keep + cut)]);
    }

    /// <summary>Nothing predicts the first token, so it is never trained.</summary>
    private static TokenizedSequence Seal(List<int> ids, byte[] mask)
    {
        if (mask.Length > 0)
            mask[0] = 0;
        return new TokenizedSequence([.. ids], mask);
    }
}
