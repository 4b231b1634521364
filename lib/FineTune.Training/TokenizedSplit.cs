// One split (train, validation) of a tokenized dataset directory: its shards, in manifest order, memory-mapped; each
// example addressed by a global index and read on demand, so a dataset larger than memory trains as well.
using FineTune.Data.Tokenization;

namespace FineTune.Training;

public sealed class TokenizedSplit : IDisposable
{
    readonly ShardReader[] _shards;
    readonly (int Shard, long Index)[] _examples;

    public string Name { get; }
    public ShardKind Kind { get; }
    /// <summary>Per example: its length in tokens (the longer sequence of a pair).</summary>
    public int[] Lengths { get; }
    /// <summary>Per example: how many tokens it trains (the mask's ones; both sequences for a pair).</summary>
    public int[] TrainedTokens { get; }
    public int Count => _examples.Length;

    TokenizedSplit(string name, ShardKind kind, ShardReader[] shards, (int, long)[] examples, int[] lengths,
        int[] trained)
    {
        Name = name;
        Kind = kind;
        _shards = shards;
        _examples = examples;
        Lengths = lengths;
        TrainedTokens = trained;
    }

    /// <summary>The split, or null when the dataset has none of that name.</summary>
    public static TokenizedSplit? Open(string datasetDirectory, TokenizedManifest manifest, string split)
    {
        if (!manifest.Splits.TryGetValue(split, out var info))
            return null;
        var shards = new List<ShardReader>();
        try
        {
            foreach (var shard in info.Shards)
            {
                var reader = ShardReader.Open(Path.Combine(datasetDirectory, shard.File));   // "train/shard-00000.bin"
                shards.Add(reader);
                if (reader.Kind != info.Kind)
                    throw new InvalidDataException($"{reader.Path}: holds {reader.Kind} but the manifest says the " +
                        $"{split} split holds {info.Kind}.");
            }
            var examples = new List<(int, long)>();
            var lengths = new List<int>();
            var trained = new List<int>();
            for (int s = 0; s < shards.Count; s++)
            {
                int sequences = info.Kind == ShardKind.Pairs ? 2 : 1;
                for (long i = 0; i < shards[s].Count; i++)
                {
                    examples.Add((s, i));
                    int length = 0, ones = 0;
                    for (int q = 0; q < sequences; q++)
                    {
                        var mask = shards[s].MaskOf(i * sequences + q);
                        length = Math.Max(length, mask.Length);
                        ones += mask.Length - mask.Count((byte)0);
                    }
                    lengths.Add(length);
                    trained.Add(ones);
                }
            }
            return new TokenizedSplit(split, info.Kind, [.. shards], [.. examples], [.. lengths], [.. trained]);
        }
        catch
        {
            foreach (var s in shards)
                s.Dispose();
            throw;
        }
    }

    public TokenizedExample Read(int index)
    {
        var (shard, i) = _examples[index];
        return _shards[shard].ReadExample(i);
    }

    public void Dispose()
    {
        foreach (var s in _shards)
            s.Dispose();
    }
}
