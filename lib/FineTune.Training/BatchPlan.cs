// Which examples go into which row of which micro-batch, for one epoch: a pure function of the lengths, the seed and
// the epoch, so a resumed run rebuilds exactly the plan it was following and continues at the same position.
// Packing: shuffled examples fill rows of `rowLength` tokens in order (next fit). Padding: shuffled examples sorted by
// length inside windows of 64 batches (length bucketing keeps padding low), then the batches themselves shuffled;
// without bucketing, shuffled examples in batches as drawn.
namespace FineTune.Training;

/// <summary>An epoch's micro-batches; each is a list of rows; each row lists the example indices packed into
/// it.</summary>
public sealed record BatchPlan(IReadOnlyList<int[][]> MicroBatches)
{
    const int BucketWindow = 64;

    public static BatchPlan Create(IReadOnlyList<int> lengths, int microBatchSize, int rowLength, bool packing,
        int seed, int epoch, bool shuffle = true, bool bucketing = true)
    {
        var order = Enumerable.Range(0, lengths.Count).ToArray();
        // not HashCode: it is salted per process
        var rng = new Random(unchecked(seed * 1_000_003 + epoch) & int.MaxValue);
        if (shuffle)
            rng.Shuffle(order);
        List<int[]> rows;
        if (packing)
        {
            rows = [];
            var current = new List<int>();
            int used = 0;
            foreach (var i in order)
            {
                if (used + lengths[i] > rowLength && current.Count > 0)
                {
                    rows.Add([.. current]);
                    current.Clear();
                    used = 0;
                }
                current.Add(i);
                used += lengths[i];
            }
            if (current.Count > 0)
                rows.Add([.. current]);
            return new BatchPlan(rows.Chunk(microBatchSize).ToList());
        }
        var batches = new List<int[][]>();
        foreach (var window in order.Chunk(microBatchSize * BucketWindow))
        {
            var sorted = shuffle && bucketing ? window.OrderByDescending(i => lengths[i]).ToArray() : window;
            batches.AddRange(sorted.Chunk(microBatchSize).Select(b => b.Select(i => new[] { i }).ToArray()));
        }
        if (shuffle)
            rng.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(batches));
        return new BatchPlan(batches);
    }

    /// <summary>Optimizer steps in this epoch: micro-batches grouped by the accumulation count (the last group may be
    /// short).</summary>
    public int Steps(int accumulation) => (MicroBatches.Count + accumulation - 1) / accumulation;

    public IEnumerable<int[][]> MicroBatchesOfStep(int step, int accumulation) =>
        MicroBatches.Skip(step * accumulation).Take(accumulation);
}
