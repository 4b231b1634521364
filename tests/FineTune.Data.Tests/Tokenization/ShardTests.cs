// Shard files: round trips in both id widths and both kinds, rolling, clear errors on corrupt files,
// and byte-identical output from repeated (parallel) tokenization.
using FineTune.Data.Tokenization;

namespace FineTune.Data.Tests.Tokenization;

public class ShardTests
{
    private static TokenizedExample One(Random rng, int vocab, int length)
    {
        var ids = Enumerable.Range(0, length).Select(_ => rng.Next(vocab)).ToArray();
        var mask = Enumerable.Range(0, length).Select(i => (byte)(i == 0 ? 0 : rng.Next(2))).ToArray();
        mask[^1] = 1;
        return new([new TokenizedSequence(ids, mask)], 0, false, false);
    }

    [Theory]
    [InlineData(32000, 2)]
    [InlineData(65535, 2)]
    [InlineData(65536, 4)]
    [InlineData(128256, 4)]
    public void Sequences_read_back_equal_in_either_id_width(int vocab, int tokenBytes)
    {
        using var dir = new TempDir();
        var rng = new Random(vocab);
        var examples = Enumerable.Range(0, 50).Select(i => One(rng, vocab, 1 + rng.Next(40))).ToList();
        // the largest id survives
        examples[3] = One(rng, vocab, 2) with { Sequences = [new([vocab - 1, 0], [0, 1])] };
        var writer = new ShardWriter(dir.Path, vocab, ShardKind.Sequences, maxTokens: 300);
        foreach (var e in examples)
            writer.Add(e);
        var shards = writer.Complete();
        Assert.True(shards.Count > 1);   // rolled past 300 tokens
        Assert.All(shards.SkipLast(1), s => Assert.True(s.Tokens <= 300));
        var back = new List<TokenizedSequence>();
        foreach (var s in shards)
        {
            using var r = ShardReader.Open(Path.Combine(dir.Path, s.File));
            Assert.Equal(tokenBytes, r.TokenBytes);
            Assert.Equal(s.Examples, r.Count);
            for (long i = 0; i < r.Count; i++)
                back.Add(r.ReadExample(i).Sequences.Single());
        }
        Assert.Equal(examples.Count, back.Count);
        for (int i = 0; i < back.Count; i++)
        {
            Assert.Equal(examples[i].Sequences[0].Ids, back[i].Ids);
            Assert.Equal(examples[i].Sequences[0].Mask, back[i].Mask);
        }
        Assert.Empty(Directory.EnumerateFiles(dir.Path, "*.tmp"));
    }

    [Fact]
    public void Pairs_read_back_with_their_prompt_length()
    {
        using var dir = new TempDir();
        var pair = new TokenizedExample([new([1, 5, 6, 7], [0, 0, 1, 1]), new([1, 5, 9], [0, 0, 1])], 2, false, false);
        var writer = new ShardWriter(dir.Path, 100, ShardKind.Pairs);
        writer.Add(pair);
        writer.Add(pair with { PromptLength = 1 });
        Assert.Throws<ArgumentException>(() => writer.Add(pair with { Sequences = [pair.Sequences[0]] }));
        writer.Complete();
        using var r = ShardReader.Open(Path.Combine(dir.Path, "shard-00000.bin"));
        Assert.Equal((ShardKind.Pairs, 2L, 14L), (r.Kind, r.Count, r.TokenCount));
        var back = r.ReadExample(0);
        Assert.Equal(2, back.PromptLength);
        Assert.Equal(pair.Sequences[1].Ids, back.Sequences[1].Ids);
        Assert.Equal(pair.Sequences[0].Mask, back.Sequences[0].Mask);
        Assert.Equal(1, r.ReadExample(1).PromptLength);
    }

    [Fact]
    public void Corrupt_shards_fail_with_errors_naming_the_file()
    {
        using var dir = new TempDir();
        var writer = new ShardWriter(dir.Path, 1000, ShardKind.Sequences);
        writer.Add(One(new Random(1), 1000, 30));
        string path = Path.Combine(dir.Path, writer.Complete()[0].File);
        byte[] good = File.ReadAllBytes(path);

        string bad = Path.Combine(dir.Path, "bad-magic.bin");
        File.WriteAllBytes(bad, [.. "NOTSHARD"u8, .. good[8..]]);
        var e = Assert.Throws<InvalidDataException>(() => ShardReader.Open(bad));
        Assert.Contains("bad-magic.bin", e.Message);
        Assert.Contains("magic", e.Message);

        string cut = Path.Combine(dir.Path, "truncated.bin");
        File.WriteAllBytes(cut, good[..(good.Length - 8)]);
        e = Assert.Throws<InvalidDataException>(() => ShardReader.Open(cut));
        Assert.Contains("truncated.bin", e.Message);
        Assert.Contains("truncated", e.Message);

        File.WriteAllBytes(cut, good[..20]);
        Assert.Contains("header", Assert.Throws<InvalidDataException>(() => ShardReader.Open(cut)).Message);

        byte[] version = [.. good];
        version[8] = 9;
        File.WriteAllBytes(bad, version);
        Assert.Contains("version 9", Assert.Throws<InvalidDataException>(() => ShardReader.Open(bad)).Message);
    }

    [SkippableFact]
    public async Task Tokenizing_twice_with_different_thread_counts_gives_byte_identical_shards()
    {
        using var dir = new TempDir();
        string prepared = Path.Combine(dir.Path, "prepared");
        Directory.CreateDirectory(prepared);
        var records = File.ReadLines(SharedData.File("gsm8k/test.jsonl")).Take(1100).Select((line, i) =>
        {
            using var doc = System.Text.Json.JsonDocument.Parse(line);
            string q = doc.RootElement.GetProperty("question").GetString()!,
                a = doc.RootElement.GetProperty("answer").GetString()!;
            return new DataRecord
            {
                Kind = RecordKind.Chat, Line = i + 1,
                Messages = [new("user", q), new("assistant", a)]
            };
        }).ToList();
        NormalizedJsonl.Write(Path.Combine(prepared, "train.jsonl"), records);
        string model = SharedData.File("models/llama2-tokenizer/tokenizer.model");
        var o = new TokenizeOptions
        {
            Template = FineTune.Text.ChatTemplateKind.Llama2, ShardTokens = 50_000,
            MaxLength = 256
        };
        var a = await DatasetTokenizer.TokenizeAsync(prepared, model, Path.Combine(dir.Path, "a"),
            o with { Threads = 2 });
        var b = await DatasetTokenizer.TokenizeAsync(prepared, model, Path.Combine(dir.Path, "b"),
            o with { Threads = 1 });
        Assert.True(a.Splits["train"].Shards.Count > 1);
        Assert.Equal("uint16", a.TokenDtype);
        foreach (var s in a.Splits["train"].Shards)
            Assert.Equal(File.ReadAllBytes(Path.Combine(dir.Path, "a", s.File)),
                File.ReadAllBytes(Path.Combine(dir.Path, "b", s.File)));
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir.Path, "a", "manifest.json")),
            File.ReadAllBytes(Path.Combine(dir.Path, "b", "manifest.json")));
        Assert.Equal(1100, a.Totals.Examples + a.Totals.Dropped);
        Assert.Equal(0, a.InexactBoundaries);
    }

    [Fact]
    public void Normalized_jsonl_round_trips_every_kind()
    {
        DataRecord[] records =
        [
            new() { Kind = RecordKind.Chat, Line = 1,
                Messages = [new("user", "héllo \"q\""), new("assistant", "a", 0)], Label = "x" },
            new() { Kind = RecordKind.Preference, Line = 2, Messages = [new("user", "p")],
                Chosen = [new("assistant", "c")], Rejected = [new("assistant", "r")] },
            new() { Kind = RecordKind.Text, Line = 3, Text = "line\nbreak" },
        ];
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "x.jsonl");
        NormalizedJsonl.Write(path, records);
        var back = NormalizedJsonl.Read(path).ToList();
        Assert.Equal(records.Select(NormalizedJsonl.Serialize), back.Select(NormalizedJsonl.Serialize));
        Assert.Equal(0.0, back[0].Messages[1].Weight);
        Assert.Equal(RecordKind.Preference, back[1].Kind);
        File.AppendAllText(path, "{\"nope\": 1}\n");
        var e = Assert.Throws<InvalidDatasetException>(() => NormalizedJsonl.Read(path).ToList());
        Assert.Contains("x.jsonl:4", e.Message);
    }
}
