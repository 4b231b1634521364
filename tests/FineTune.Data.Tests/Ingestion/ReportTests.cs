// ValidationReport: totals, warnings, token statistics and too_long, the pass/fail verdict and its messages,
// the JSON and text renderings; and RejectsWriter's rejects.jsonl lines.
using System.Text.Json;
using FineTune.Data.Ingestion;
using static FineTune.Data.Tests.Ingestion.Ingest;

namespace FineTune.Data.Tests.Ingestion;

public sealed class ReportTests
{
    static async Task<(ValidationReport Report, List<ReadItem> Items)> Report(string jsonl,
        Func<DataRecord, int>? tokens = null, int? max = null)
    {
        using var dir = new TempDir();
        var report = new ValidationReport(tokens, max, epochs: 3);
        var items = new List<ReadItem>();
        await foreach (var item in DatasetReader.ReadAsync(Write(dir, "d.jsonl", jsonl), new ReadOptions()))
            items.Add(report.Add(item));
        return (report, items);
    }

    static string Lines(int good, params string[] bad) =>
        Jsonl([.. Enumerable.Range(0, good).Select(i => Ingest.Chat($"q{i}", new string('a', i + 1))), .. bad]);

    [Fact]
    public async Task Counts_codes_examples_and_warnings_add_up()
    {
        var (report, _) = await Report("\uFEFF" + Lines(12, "oops", "oops again", "42").Replace("\n", "\r\n") + "\r\n");
        Assert.Equal((15L, 12L, 3L), (report.InputRecords, report.AcceptedRecords, report.RejectedRecords));
        Assert.Equal(new Dictionary<string, long> { ["data_type"] = 1, ["invalid_json"] = 2 }, report.RejectedByCode);
        Assert.Equal([13L, 14L], report.Examples["invalid_json"].Select(r => r.Line));
        Assert.Equal(0.2, report.RejectRatio, 6);
        Assert.Equal(3,
            report.Warnings.Count(w => w.Contains("byte-order mark") || w.Contains("CRLF")
            || w.Contains("1 blank line")));
    }

    [Fact]
    public async Task Too_long_records_become_rejects_after_reading_and_token_stats_cover_the_rest()
    {
        // tokens = assistant length: 1..20; the limit 18 drops 19 and 20.
        var (report, items) = await Report(Lines(20), r => r.Messages[1].Content.Length, max: 18);
        Assert.Equal(2, report.RejectedByCode["too_long"]);
        Assert.Equal([19L, 20L], items.OfType<Rejected>().Select(r => r.Rejection.Line));
        var t = report.Tokens!;
        Assert.Equal((1, 18, 18, 171L), (t.Min, t.P95, t.Max, t.Total));
        Assert.Equal(9.5, t.Mean, 6);
        Assert.Equal(513, t.EstimatedTrainingTokens);
    }

    [Fact]
    public async Task Fewer_than_ten_usable_examples_fails_with_the_count()
    {
        var (report, _) = await Report(Lines(9));
        var verdict = report.Passed(0.5);
        Assert.False(verdict.Ok);
        Assert.Equal("only 9 usable examples; at least 10 are needed", verdict.Message);
        Assert.True(report.Passed(0.5, minExamples: 9).Ok);
    }

    [Fact]
    public async Task A_reject_ratio_over_the_limit_fails_saying_the_ratio_and_the_limit()
    {
        var (report, _) = await Report(Lines(10, "x", "y", "z", "w", "v"));
        var verdict = report.Passed(0.25);
        Assert.False(verdict.Ok);
        Assert.StartsWith("33.3% of the records were rejected (5 of 15); the limit is 25.0%", verdict.Message);
        Assert.True(report.Passed(0.34).Ok);
    }

    [Fact]
    public async Task ToJson_uses_snake_case_keys_and_ToText_shows_codes_and_first_examples()
    {
        var (report, _) = await Report(Lines(10, "{bad"), r => 5);
        using var json = JsonDocument.Parse(report.ToJson());
        var root = json.RootElement;
        Assert.Equal(11, root.GetProperty("input_records").GetInt32());
        Assert.Equal(1, root.GetProperty("rejected_by_code").GetProperty("invalid_json").GetInt32());
        Assert.Equal("chat", root.GetProperty("source").GetProperty("format").GetString());
        Assert.Equal(150, root.GetProperty("tokens").GetProperty("estimated_training_tokens").GetInt32());
        Assert.Equal(11, root.GetProperty("examples").GetProperty("invalid_json")[0].GetProperty("line").GetInt32());
        var text = report.ToText();
        Assert.Contains("invalid_json", text);
        Assert.Contains("line 11: not valid JSON", text);
        Assert.Contains("(9.1%)", text);
    }

    [Fact]
    public async Task RejectsWriter_appends_one_json_line_per_rejection_with_the_original_text()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "rejects.jsonl");
        await using (var writer = new RejectsWriter(path))
        {
            await writer.WriteAsync(new Rejection(3, "invalid_json", "not valid JSON", "{\"a\": 1"));
            writer.Write(new Rejection(7, "invalid_utf8", "byte 0xFF", "caf\uFFFD"));
        }
        await using (var again = new RejectsWriter(path))
            await again.WriteAsync(new Rejection(9, "data_type", "not an object", "42", "x"));
        var lines = File.ReadAllLines(path).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal([3, 7, 9], lines.Select(l => l.GetProperty("line").GetInt32()));
        Assert.Equal("{\"a\": 1", lines[0].GetProperty("raw").GetString());
        Assert.Equal("caf\uFFFD", lines[1].GetProperty("raw").GetString());
        Assert.Contains("not valid UTF-8", lines[1].GetProperty("note").GetString());
        Assert.Equal(["line", "reason", "code", "raw"], lines[0].EnumerateObject().Select(p => p.Name));
    }
}
