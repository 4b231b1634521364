// Writes already-tokenized examples as a tokenized dataset directory (shards per split + manifest.json), the layout
// `finetune data tokenize` produces: for corpora made in code (synthetic pre-training text, benchmarks, tests).
namespace FineTune.Data.Tokenization;

public static class TokenizedDatasetWriter
{
    /// <param name="splits">split name (train, validation, test) → its examples, all sequences or all pairs</param>
    public static TokenizedManifest Write(string outDir, IReadOnlyDictionary<string,
        IEnumerable<TokenizedExample>> splits, int vocabSize,
        IReadOnlyList<FileDigest>? tokenizerFiles = null, string? template = null)
    {
        var manifests = new Dictionary<string, SplitManifest>();
        var totals = new TokenizeStats();
        foreach (var (name, examples) in splits)
        {
            var stats = new TokenizeStats();
            ShardWriter? writer = null;
            foreach (var example in examples)
            {
                var kind = example.Kind;
                writer ??= new ShardWriter(Path.Combine(outDir, name), vocabSize, kind);
                if (kind != writer.Kind)
                    throw new ArgumentException($"split '{name}' mixes {writer.Kind} and {kind} examples.",
                        nameof(splits));
                writer.Add(example);
                stats.Examples++;
                stats.Tokens += example.Sequences.Sum(s => s.Length);
                stats.TrainedTokens += example.Sequences.Sum(s => s.TrainedCount);
                stats.AddLength(example.Sequences.Select(s => s.Length).DefaultIfEmpty().Max());
            }
            writer ??= new ShardWriter(Path.Combine(outDir, name), vocabSize, ShardKind.Sequences);
            manifests[name] = new SplitManifest(writer.Kind, stats,
                writer.Complete().Select(s => s with { File = $"{name}/{s.File}" }).ToList());
            totals.Add(stats);
        }
        var manifest = new TokenizedManifest
        {
            TokenizerFiles = tokenizerFiles ?? [], Template = template, VocabSize = vocabSize,
            TokenDtype = vocabSize <= ushort.MaxValue ? "uint16" : "int32", Options = new TokenizeOptions(),
            Totals = totals, Splits = manifests,
        };
        manifest.Write(outDir);
        return manifest;
    }
}
