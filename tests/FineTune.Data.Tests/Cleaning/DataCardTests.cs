// The data card of a small end-to-end run: every input record counted once, files written, id from outputs.
using System.Text.Json;
using FineTune.Data.Cleaning;
using static FineTune.Data.Tests.Cleaning.TestRecords;

namespace FineTune.Data.Tests.Cleaning;

public class DataCardTests
{
    [Fact]
    public async Task Counts_add_up_over_a_whole_run_and_both_files_are_written()
    {
        using var temp = new TempDir();
        var input = new List<DataRecord>();
        for (var i = 1; i <= 300; i++)
            input.Add(Chat(i, $"question {i} " + string.Join(' ', Words(i * 100, 80)), $"answer {i}",
                label: i % 3 == 0 ? "rare" : "common"));
        // exact duplicate of 1
        input.Add(Chat(301, "QUESTION 1 " + string.Join(' ', Words(100, 80)), "Answer 1"));
        // near duplicate of 2
        input.Add(Chat(302, "question 2 " + string.Join(' ', Words(200, 80)) + " w99999", "answer 2"));
        input.Add(Chat(303, "   ", "empty prompt"));                                                       // rejected
        input.Add(Chat(304, "mail a@b.com", "ok"));

        var cleaner = new TextCleaner();
        var exact = new ExactDeduplicator();
        var near = new NearDuplicateIndex();
        var splits = new SplitAssigner(new SplitOptions());
        var counts = new DataCardCounts();
        var kept = new List<DataRecord>();
        foreach (var record in input)
        {
            counts.Input++;
            var cleaned = cleaner.Clean(record);
            if (!cleaned.IsKept)
            {
                counts.CountRejected(cleaned.Rejection.Code);
                continue;
            }
            if (!exact.TryAdd(cleaned.Record, out _))
            {
                counts.ExactDuplicates++;
                continue;
            }
            if (!near.TryAdd(cleaned.Record, out _))
            {
                counts.NearDuplicates++;
                continue;
            }
            kept.Add(cleaned.Record);
        }
        foreach (var record in kept)
            counts.Count(splits.Assign(record));
        var train = kept.Where(r => splits.Assign(r) == DataSplit.Train).ToList();
        var balanced = new Balancer(new BalanceOptions { Mode = BalanceMode.Oversample }).Balance(train);
        counts.OversampledAdded = balanced.Added;

        var output = Path.Combine(temp.Path, "train.jsonl");
        await File.WriteAllLinesAsync(output, balanced.Records.Select(r => r.Line.ToString()));
        var card = new DataCard
        {
            Name = "unit", Sources = [new SourceFile("in.jsonl", new string('0', 64), 1)],
            Outputs = [await SourceFile.FromFileAsync(output)], Counts = counts, Cleaning = cleaner.Stats,
            Labels = balanced.Before,
            Tokens = new Dictionary<string, TokenStatistics> { ["train"] = TokenStatistics.From([3, 1, 2, 10]) },
        };
        await card.WriteAsync(temp.Path);

        Assert.Equal((304L, 1L, 1L, 1L),
            (counts.Input, counts.Rejected, counts.ExactDuplicates, counts.NearDuplicates));
        Assert.True(counts.AddsUp);
        var json = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(temp.Path,
            "data_card.json"))).RootElement;
        var c = json.GetProperty("counts");
        long Count(string name) => c.GetProperty(name).GetInt64();
        Assert.Equal(Count("input"),
            Count("rejected") + Count("exact_duplicates") + Count("near_duplicates") + Count("train")
            + Count("validation") + Count("test"));
        Assert.Equal(1, c.GetProperty("rejected_by_code").GetProperty("missing_content").GetInt64());
        Assert.Equal(Count("train") + balanced.Added, json.GetProperty("splits").GetProperty("train").GetInt64());
        Assert.Equal(1, json.GetProperty("cleaning").GetProperty("pii_redacted").GetProperty("email").GetInt64());
        Assert.Equal(64, json.GetProperty("dataset_id").GetString()!.Length);
        Assert.Equal(10, json.GetProperty("tokens").GetProperty("train").GetProperty("max").GetInt32());
        Assert.Contains("| near_duplicates | 1 |",
            await File.ReadAllTextAsync(Path.Combine(temp.Path, "data_card.md")));
    }

    [Fact]
    public void Counts_that_do_not_add_up_are_refused()
    {
        var card = new DataCard
        {
            Name = "bad", Sources = [], Outputs = [],
            Counts = new DataCardCounts { Input = 10, Train = 8, Validation = 1 },
        };
        var error = Assert.Throws<InvalidOperationException>(card.ToJson);
        Assert.Contains("input 10", error.Message);
    }

    [Fact]
    public void Dataset_id_depends_on_output_contents_not_their_order()
    {
        SourceFile F(string name, char hash) => new(name, new string(hash, 64), 1);
        DataCard Card(params SourceFile[] outputs) =>
            new() { Name = "x", Sources = [], Outputs = outputs, Counts = new() };
        Assert.Equal(Card(F("train.jsonl", 'a'), F("test.jsonl", 'b')).DatasetId,
            Card(F("test.jsonl", 'b'), F("train.jsonl", 'a')).DatasetId);
        Assert.NotEqual(Card(F("train.jsonl", 'a')).DatasetId, Card(F("train.jsonl", 'c')).DatasetId);
    }
}
