// Sample packing: several tokenized examples share one row, with attention kept inside each example (block-diagonal
// causal mask) and positions restarting at 0 for each, so a packed row computes exactly what the examples would alone.
namespace FineTune.Torch;

/// <summary>A training row: ids, loss mask, and the example each token belongs to (-1 for padding).</summary>
public sealed record PackedRow(int[] Ids, byte[] Mask, int[] Segments);

public static class Packing
{
    /// <summary>Greedy first fit, in input order, into rows of at most <paramref name="maxLength"/> tokens.</summary>
    public static IReadOnlyList<PackedRow> Pack(IEnumerable<(int[] Ids, byte[] Mask)> examples, int maxLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 2);
        var rows = new List<(List<int> Ids, List<byte> Mask, List<int> Segments, int Count)>();
        foreach (var (ids, mask) in examples)
        {
            if (ids.Length > maxLength)
                throw new ArgumentException($"an example of {ids.Length} tokens does not fit rows of {maxLength}; " +
                    $"truncate it when tokenizing.");
            var row = rows.FirstOrDefault(r => r.Ids.Count + ids.Length <= maxLength);
            if (row.Ids is null)
            {
                row = ([], [], [], 0);
                rows.Add(row);
            }
            int index = rows.FindIndex(r => ReferenceEquals(r.Ids, row.Ids));
            row.Ids.AddRange(ids);
            row.Mask.AddRange(mask);
            row.Segments.AddRange(Enumerable.Repeat(row.Count, ids.Length));
            rows[index] = row with { Count = row.Count + 1 };
        }
        return rows.Select(r => new PackedRow([.. r.Ids], [.. r.Mask], [.. r.Segments])).ToList();
    }

    /// <summary>One example per row (the padded baseline packing must match).</summary>
    public static IReadOnlyList<PackedRow> Unpacked(IEnumerable<(int[] Ids, byte[] Mask)> examples) =>
        examples.Select(e => new PackedRow(e.Ids, e.Mask, new int[e.Ids.Length])).ToList();
}
