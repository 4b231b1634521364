// Issue 25: with PII redaction on, nothing `data prepare` writes carries the personal data the cleaner removes — not
// the splits, and not rejects.jsonl, duplicates.jsonl, the validation report or the data card either. Planted values of
// every kind sit in accepted, duplicate and rejected records (JSON and not); keep_raw_rejects keeps rejected text as
// read.
using System.Text.Json.Nodes;

namespace FineTune.Data.Tests.Cleaning;

public class RedactionEverywhereTests
{
    [Fact]
    public async Task No_file_data_prepare_writes_carries_a_planted_value()
    {
        using var dir = new TempDir();
        var input = PlantedPii.WriteFile(dir.Path);
        var outDir = Path.Combine(dir.Path, "out");

        var result = await DatasetPreparer.PrepareAsync(input, outDir, new PrepareOptions { MaxRejectRatio = 0.5 });

        Assert.True(result.Verdict.Ok, result.Verdict.Message);
        Assert.Empty(PlantedPii.Leaks(outDir));
        var rejects = File.ReadAllLines(Path.Combine(outDir, "rejects.jsonl")).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(4, rejects.Count);
        // JSON records stay findable and fixable: line, code and field kept, strings redacted in place.
        var missing = rejects.Single(r => r["code"]!.GetValue<string>() == "example_missing_assistant_message");
        Assert.Equal(32, missing["line"]!.GetValue<long>());
        Assert.Contains("[EMAIL]", missing["raw"]!.GetValue<string>());
        Assert.Contains("[IP_ADDRESS]", missing["raw"]!.GetValue<string>());
        Assert.True(missing["raw_redacted"]!.GetValue<bool>());
        // Text that is not JSON cannot be redacted safely: its length and hash only.
        var broken = rejects.Single(r => r["line"]!.GetValue<long>() == 33);
        Assert.Null(broken["raw"]);
        Assert.True(broken["raw_bytes"]!.GetValue<long>() > 0);
        Assert.Equal(64, broken["raw_sha256"]!.GetValue<string>().Length);
        var role = rejects.Single(r => r["line"]!.GetValue<long>() == 34);
        Assert.Contains("[EMAIL]", role["reason"]!.GetValue<string>());
        Assert.Single(File.ReadAllLines(Path.Combine(outDir, "duplicates.jsonl")));
        Assert.Equal("redacted",
            JsonNode.Parse(File.ReadAllText(Path.Combine(outDir,
            "data_card.json")))!["rejects_raw"]!.GetValue<string>());
        Assert.Contains("[CREDIT_CARD]", File.ReadAllText(Path.Combine(outDir, "train.jsonl")));
    }

    [Fact]
    public async Task Keep_raw_rejects_keeps_rejected_text_as_read_and_the_card_says_so()
    {
        using var dir = new TempDir();
        var input = PlantedPii.WriteFile(dir.Path);
        var outDir = Path.Combine(dir.Path, "out");
        var options = PrepareOptions.Parse("""{ "keep_raw_rejects": true, "max_reject_ratio": 0.5 }""", "prepare.json");

        await DatasetPreparer.PrepareAsync(input, outDir, options);

        var leaks = PlantedPii.Leaks(outDir).ToList();
        // Only the rejects and the report's examples of them: what the option is about.
        Assert.All(leaks,
            l => Assert.True(l.StartsWith("rejects.jsonl",
            StringComparison.Ordinal) || l.StartsWith("validation_report.json", StringComparison.Ordinal), l));
        Assert.Contains(leaks, l => l.EndsWith(PlantedPii.Values[0], StringComparison.Ordinal));
        var broken = File.ReadAllLines(Path.Combine(outDir,
            "rejects.jsonl")).Select(l => JsonNode.Parse(l)!).Single(r => r["line"]!.GetValue<long>() == 33);
        Assert.True(broken["raw_unredacted"]!.GetValue<bool>());
        Assert.Equal("as_read",
            JsonNode.Parse(File.ReadAllText(Path.Combine(outDir,
            "data_card.json")))!["rejects_raw"]!.GetValue<string>());
        // the splits are redacted either way
        Assert.DoesNotContain(PlantedPii.Values[2], File.ReadAllText(Path.Combine(outDir, "train.jsonl")));
    }
}
