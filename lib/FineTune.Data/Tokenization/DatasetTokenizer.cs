// The tokenize stage: prepared train/validation/test.jsonl → <out>/<split>/shard-NNNNN.bin + manifest.json.
// Records are tokenized in parallel batches and written in input order, so the shards do not depend on thread count.
using FineTune.Text;

namespace FineTune.Data.Tokenization;

public sealed record TokenizeProgress(string Split, long Records, long Tokens);

public static class DatasetTokenizer
{
    public static readonly string[] SplitNames = ["train", "validation", "test"];
    private const int BatchSize = 512;

    public static Task<TokenizedManifest> TokenizeAsync(string preparedDir, string modelOrTokenizerDir, string outDir,
        TokenizeOptions options, IProgress<TokenizeProgress>? progress = null,
            CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(preparedDir);
        ArgumentException.ThrowIfNullOrWhiteSpace(modelOrTokenizerDir);
        ArgumentException.ThrowIfNullOrWhiteSpace(outDir);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return Task.Run(() => Run(preparedDir, modelOrTokenizerDir, outDir, options, progress, cancellationToken),
            cancellationToken);
    }

    private static TokenizedManifest Run(string preparedDir, string tokenizerPath, string outDir,
        TokenizeOptions options,
        IProgress<TokenizeProgress>? progress, CancellationToken ct)
    {
        var splits = SplitNames.Select(s => (Name: s,
            File: Path.Combine(preparedDir, s + ".jsonl"))).Where(s => File.Exists(s.File)).ToList();
        if (splits.Count == 0)
            throw new InvalidDatasetException($"{preparedDir}: no train.jsonl, validation.jsonl or test.jsonl (did " +
                $"the prepare step run?)");
        var tokenizer = TokenizerLoader.Load(tokenizerPath);
        var template = options.Template is { } kind ? ChatTemplate.For(kind) : tokenizer.ChatTemplate;
        var example = new ExampleTokenizer(tokenizer, template ?? ChatTemplate.For(ChatTemplateKind.ChatMl), options);
        var parallel = new ParallelOptions
        {
            CancellationToken = ct,
            MaxDegreeOfParallelism = options.Threads > 0 ? options.Threads : Environment.ProcessorCount
        };

        Directory.CreateDirectory(outDir);
        var totals = new TokenizeStats();
        var manifests = new Dictionary<string, SplitManifest>();
        foreach (var (name, file) in splits)
        {
            string dir = Path.Combine(outDir, name);
            if (Directory.Exists(dir))
                foreach (var stale in Directory.EnumerateFiles(dir, "shard-*.bin*"))
                    File.Delete(stale);
            var stats = new TokenizeStats();
            ShardWriter? writer = null;
            var batch = new List<DataRecord>(BatchSize);
            var results = new TokenizedExample[BatchSize];

            void FlushBatch()
            {
                if (batch.Count == 0)
                    return;
                if (template is null && batch.Find(r => r.Kind != RecordKind.Text) is { } chat)
                    throw new InvalidDatasetException($"{file}:{chat.Line}: a {chat.Kind} record needs a chat " +
                        $"template, and the tokenizer at " +
                        $"'{tokenizerPath}' declares none; choose one with --chat-template chatml, llama2, llama3 " +
                            $"or alpaca (TokenizeOptions.Template)");
                Parallel.For(0, batch.Count, parallel, i => results[i] = example.Tokenize(batch[i]));
                for (int i = 0; i < batch.Count; i++)
                {
                    var kind = batch[i].Kind switch
                    {
                        RecordKind.Preference => ShardKind.Pairs,
                        RecordKind.Feedback => ShardKind.Feedback,
                        _ => ShardKind.Sequences,
                    };
                    writer ??= new ShardWriter(dir, tokenizer.VocabSize, kind, options.ShardTokens);
                    if (kind != writer.Kind)
                        throw new InvalidDatasetException($"{file}:{batch[i].Line}: a {batch[i].Kind} record among " +
                            $"records of another kind; " +
                            "a split holds preference records, feedback records or chat/text records, one kind only");
                    Count(stats, results[i]);
                    writer.Add(results[i]);
                }
                progress?.Report(new TokenizeProgress(name, stats.Examples + stats.Dropped, stats.Tokens));
                batch.Clear();
            }

            foreach (var record in NormalizedJsonl.Read(file))
            {
                ct.ThrowIfCancellationRequested();
                batch.Add(record);
                if (batch.Count == BatchSize)
                    FlushBatch();
            }
            FlushBatch();
            writer ??= new ShardWriter(dir, tokenizer.VocabSize, ShardKind.Sequences, options.ShardTokens);
            var shards = writer.Complete().Select(s => s with { File = $"{name}/{s.File}" }).ToList();
            manifests[name] = new SplitManifest(writer.Kind, stats, shards);
            totals.Add(stats);
        }

        var manifest = new TokenizedManifest
        {
            TokenizerFiles = TokenizedManifest.DigestTokenizer(tokenizerPath),
            Template = template?.Kind.ToString().ToLowerInvariant(),
            VocabSize = tokenizer.VocabSize,
            TokenDtype = ShardHeader.TokenBytesFor(tokenizer.VocabSize) == 2 ? "uint16" : "int32",
            Options = options,
            Totals = totals,
            Splits = manifests,
            InexactBoundaries = example.InexactBoundaries,
        };
        manifest.Write(outDir);
        return manifest;
    }

    private static void Count(TokenizeStats stats, TokenizedExample result)
    {
        if (result.Dropped)
        {
            stats.Dropped++;
            return;
        }
        stats.Examples++;
        if (result.Truncated)
            stats.Truncated++;
        stats.AddLength(result.Sequences.Select(s => s.Length).DefaultIfEmpty().Max());
        foreach (var s in result.Sequences)
        {
            stats.Tokens += s.Length;
            stats.TrainedTokens += s.TrainedCount;
        }
    }
}
