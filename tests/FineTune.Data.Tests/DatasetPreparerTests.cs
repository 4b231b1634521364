// The prepare stage end to end: every input record lands in exactly one output and is counted once; near-duplicates
// never straddle splits; real datasets pass with zero false rejects; config mistakes are named.
using System.Text.Json;
using System.Text.Json.Nodes;
using FineTune.Data.Cleaning;

namespace FineTune.Data.Tests;

public class DatasetPreparerTests
{
    static string Chat(string user, string assistant) =>
        JsonSerializer.Serialize(new
        {
            messages = new[] { new { role = "user", content = user },
            new { role = "assistant", content = assistant } }
        });

    static string Sentence(int i) =>
        $"Ticket {i}: the {(i % 2 == 0 ? "router" : "lamp")} number {i * 7919 % 1000} stopped working after update " +
            $"{i % 13} and the customer wants help with case {i}.";

    // 80 words drawn for record i: two records share almost no 5-word shingle, and one word added at the end of the
    // prompt changes 9 of ~85 shingles (Jaccard ~0.9), a near-duplicate with a different prompt hash.
    static string Words(int i)
    {
        var random = new Random(i);
        return string.Join(' ', Enumerable.Range(0, 80).Select(_ => $"w{random.Next(5000)}"));
    }

    static JsonNode Card(string dir) => JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "data_card.json")))!;
    static int Lines(string dir, string file) => File.ReadAllLines(Path.Combine(dir, file)).Count(l => l.Length > 0);

    [Fact]
    public async Task Every_input_record_is_in_exactly_one_output_and_counted_once()
    {
        using var dir = new TempDir();
        var input = Path.Combine(dir.Path, "in.jsonl");
        var lines = new List<string>();
        for (int i = 0; i < 40; i++)
            lines.Add(Chat(Sentence(i), $"Answer {i}."));
        // exact duplicate of line 4 (the key ignores case)
        lines.Add(Chat(Sentence(3).ToUpperInvariant(), "Answer 3."));
        // near duplicate of line 6 (one shingle more)
        lines.Add(Chat(Sentence(5), "Answer 5. Thanks"));
        // example_missing_assistant_message
        lines.Add("{\"messages\": [{\"role\": \"user\", \"content\": \"no answer\"}]}");
        lines.Add("{not json");                                                         // invalid_json
        lines.Add(Chat("   ", "empty question"));                                       // missing_content
        await File.WriteAllLinesAsync(input, lines);
        var outDir = Path.Combine(dir.Path, "out");

        var result = await DatasetPreparer.PrepareAsync(input, outDir, new PrepareOptions());

        Assert.True(result.Verdict.Ok, result.Verdict.Message);
        var counts = Card(outDir)["counts"]!;
        long Count(string key) => counts[key]!.GetValue<long>();
        Assert.Equal(45, Count("input"));
        Assert.Equal(3, Count("rejected"));
        Assert.Equal(1, Count("exact_duplicates"));
        Assert.Equal(1, Count("near_duplicates"));
        Assert.Equal(40, Count("train") + Count("validation") + Count("test"));
        Assert.Equal(Count("train"), Lines(outDir, "train.jsonl"));
        Assert.Equal(Count("validation"), Lines(outDir, "validation.jsonl"));
        Assert.Equal(Count("test"), Lines(outDir, "test.jsonl"));
        Assert.Equal(3, Lines(outDir, "rejects.jsonl"));

        var rejects = File.ReadAllLines(Path.Combine(outDir, "rejects.jsonl")).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal([43L, 44L, 45L], rejects.Select(r => r["line"]!.GetValue<long>()));
        // Not JSON, so it cannot be redacted: with PII redaction on (the default) only its length and hash are kept.
        Assert.Null(rejects[1]["raw"]);
        Assert.Equal(9, rejects[1]["raw_bytes"]!.GetValue<long>());
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("{not json"u8)),
            rejects[1]["raw_sha256"]!.GetValue<string>());
        var duplicates = File.ReadAllLines(Path.Combine(outDir,
            "duplicates.jsonl")).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Contains(duplicates,
            d => d["kind"]!.GetValue<string>() == "exact" && d["line"]!.GetValue<long>() == 41
            && d["duplicate_of"]!.GetValue<long>() == 4);
        Assert.Contains(duplicates,
            d => d["kind"]!.GetValue<string>() == "near" && d["line"]!.GetValue<long>() == 42
            && d["duplicate_of"]!.GetValue<long>() == 6);
        Assert.True(File.Exists(Path.Combine(outDir, "data_card.md")));
    }

    [Fact]
    public async Task Kept_near_duplicates_share_a_split()
    {
        using var dir = new TempDir();
        var input = Path.Combine(dir.Path, "in.jsonl");
        var lines = new List<string>();
        for (int i = 0; i < 200; i++)
        {
            lines.Add(Chat(Words(i), $"Answer {i}."));
            lines.Add(Chat(Words(i) + " Please", $"Answer {i}."));   // a near-duplicate with another prompt hash
        }
        await File.WriteAllLinesAsync(input, lines);
        var outDir = Path.Combine(dir.Path, "out");
        var options = new PrepareOptions { NearDuplicates = new NearDuplicateOptions { Remove = false } };

        var result = await DatasetPreparer.PrepareAsync(input, outDir, options);

        Assert.Equal(0, result.Counts.NearDuplicates);
        var splitOf = new Dictionary<string, string>();
        foreach (var split in new[] { "train", "validation", "test" })
            foreach (var line in File.ReadAllLines(Path.Combine(outDir, split + ".jsonl")))
            {
                var user = JsonNode.Parse(line)!["messages"]![0]!["content"]!.GetValue<string>();
                var key = user.EndsWith(" Please", StringComparison.Ordinal) ? user[..^7] : user;
                if (splitOf.TryGetValue(key, out var other))
                    Assert.Equal(other, split);
                else
                    splitOf[key] = split;
            }
        Assert.Equal(200, splitOf.Count);
        Assert.True(result.Counts.Validation > 0 && result.Counts.Test > 0,
            "both held-out splits should receive groups");
    }

    [SkippableFact]
    public async Task Gsm8k_train_prepares_with_zero_rejects()
    {
        var input = SharedData.File("gsm8k/train.jsonl");
        using var dir = new TempDir();
        var result = await DatasetPreparer.PrepareAsync(input, dir.Path, new PrepareOptions());
        Assert.True(result.Verdict.Ok, result.Verdict.Message);
        Assert.Equal(7473, result.Counts.Input);
        Assert.Equal(0, result.Counts.Rejected);
        Assert.True(result.Counts.AddsUp);
        Assert.InRange(result.Counts.Train / (double)(result.Counts.Train + result.Counts.Validation
            + result.Counts.Test), 0.77, 0.83);
    }

    [Fact]
    public async Task Too_many_rejects_fail_the_verdict_and_say_so()
    {
        using var dir = new TempDir();
        var input = Path.Combine(dir.Path, "in.jsonl");
        var lines = Enumerable.Range(0,
            12).Select(i => Chat(Sentence(i), "ok")).Concat(Enumerable.Repeat("[1, 2]", 8)).ToList();
        await File.WriteAllLinesAsync(input, lines);
        var result = await DatasetPreparer.PrepareAsync(input, Path.Combine(dir.Path, "out"),
            new PrepareOptions { MaxRejectRatio = 0.1 });
        Assert.False(result.Verdict.Ok);
        Assert.Contains("8 of 20 records rejected", result.Verdict.Message);
        Assert.Equal(8, Lines(Path.Combine(dir.Path, "out"), "rejects.jsonl"));
    }

    [Fact]
    public void Unknown_config_key_is_named()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "prepare.json");
        File.WriteAllText(path,
            """{"split": {"train": 0.9, "validation": 0.05, "test": 0.05}, "near_duplicate": {"threshold": 0.7}}""");
        var e = Assert.Throws<InvalidDatasetException>(() => PrepareOptions.Load(path));
        Assert.Contains("near_duplicate", e.Message);
    }

    [Fact]
    public void Impossible_config_value_is_named()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "prepare.json");
        File.WriteAllText(path, """{"near_duplicates": {"threshold": 1.5}}""");
        var e = Assert.Throws<InvalidDatasetException>(() => PrepareOptions.Load(path));
        Assert.Contains("near_duplicates.threshold", e.Message);
    }

    [Fact]
    public void The_prepare_config_sets_the_near_duplicate_index_itself_and_an_impossible_banding_is_refused_at_load()
    {
        var options =
            PrepareOptions.Parse("""{"near_duplicates": {"permutations": 64, "bands": 16, "rows": 4, "seed": 3}}""",
            "p.json");
        var index = new NearDuplicateIndex(options.NearDuplicates);
        Assert.Equal((16, 4), (index.Banding.Bands, index.Banding.Rows));
        Assert.Equal(64, index.Signature(FineTune.Data.Tests.Cleaning.TestRecords.TextRecord(1,
            "one two three four five six seven"))!.Length);

        var e = Assert.Throws<InvalidDatasetException>(() =>
            PrepareOptions.Parse("""{"near_duplicates": {"permutations": 32, "bands": 16, "rows": 4}}""", "p.json"));
        Assert.StartsWith("p.json: near_duplicates: ", e.Message);
        Assert.Contains("32 permutations", e.Message);
        // The replay seed is the split's, not a key of its own.
        Assert.Throws<InvalidDatasetException>(() => PrepareOptions.Parse("""{"replay": {"seed": "x"}}""", "p.json"));
    }
}
