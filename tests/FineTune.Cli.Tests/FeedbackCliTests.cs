// finetune feedback PROJECT [--export DIR] over a pipeline home whose registry holds recorded answers and their
// feedback (as the Deployment service records them): the summary by version and variant, and the export, whose files
// `finetune data prepare` takes without a reject.
using System.Text.Json.Nodes;
using FineTune.Registry;

namespace FineTune.Cli.Tests;

public sealed class FeedbackCliTests
{
    [Fact]
    public async Task Feedback_is_summarised_and_exported_as_data_prepare_reads_it()
    {
        using var tmp = new TempDir();
        var home = Path.Combine(tmp.Path, "home");
        var registry = RunRegistry.Create(new RegistryOptions("sqlite",
            $"Data Source={Path.Combine(home, "registry.db")}"));
        await registry.MigrateAsync();
        var now = DateTimeOffset.UtcNow;
        string Chat(string content) => new JsonArray(new JsonObject { ["role"] = "user", ["content"] = content })
            .ToJsonString();
        await registry.WriteAsync(async s =>
        {
            await s.RecordServedRequestsAsync(
            [
                new("chatcmpl-a", 0, "shop", 3, null, null, "chat", Chat("Where is order 12?"), "No idea.", now),
                new("chatcmpl-a", 1, "shop", 3, null, null, "chat", Chat("Where is order 12?"), "It left today.", now),
                new("cmpl-b", 0, "shop", 4, "shop@v4", "candidate", "text", "\"Refund policy:\"", "30 days.", now),
            ]);
            await s.AddFeedbackAsync(new(0, "chatcmpl-a", 0, "shop", 0, "thumbs", "It ships tomorrow.", "vague", now));
            await s.AddFeedbackAsync(new(0, "chatcmpl-a", 1, "shop", 1, "thumbs", null, null, now));
            await s.AddFeedbackAsync(new(0, "cmpl-b", 0, "shop", 0.75, "stars", null, null, now));
        });

        var export = Path.Combine(tmp.Path, "feedback");
        var (exit, stdout, stderr) = await CliRunner.Run("feedback", "shop", "--export", export, "--home", home);
        Assert.True(exit == 0, stderr);
        Assert.Contains("shop: 3 recorded answers, 3 ratings (1 with a correction, 3 not exported yet)", stdout);
        Assert.Matches(@"\n\s+3\s+-\s+2\s+0\.50", stdout);             // v3: two ratings, mean 0.5
        Assert.Matches(@"\n\s+4\s+candidate\s+1\s+0\.75", stdout);
        Assert.Contains("wrote 1 SFT, 1 preference and 3 KTO examples", stdout);

        var config = Path.Combine(tmp.Path, "prepare.json");
        File.WriteAllText(config, """{"min_examples": 1}""");
        foreach (var file in new[] { "sft.jsonl", "preference.jsonl", "kto.jsonl" })
        {
            var prepared = Path.Combine(tmp.Path, "prepared-" + file);
            var (prepareExit, _, prepareErr) = await CliRunner.Run("data", "prepare", Path.Combine(export, file),
                "--out", prepared, "--config", config);
            Assert.True(prepareExit == 0, $"{file}: {prepareErr}");
            var card = JsonNode.Parse(File.ReadAllText(Path.Combine(prepared, "data_card.json")))!;
            Assert.Equal(0, card["counts"]!["rejected"]!.GetValue<long>());
        }
        var preference = JsonNode.Parse(File.ReadLines(Path.Combine(export, "preference.jsonl")).Single())!;
        Assert.Equal("It ships tomorrow.", preference["chosen"]![0]!["content"]!.GetValue<string>());
        Assert.Equal("No idea.", preference["rejected"]![0]!["content"]!.GetValue<string>());
    }
}
