// `finetune data …` end to end: demo data through check, prepare and tokenize; a failing dataset exits 2.
using System.Text.Json.Nodes;
using FineTune.Data.Tokenization;

namespace FineTune.Cli.Tests;

public class DataCliTests
{
    [SkippableFact]
    public async Task Demo_data_goes_through_check_prepare_and_tokenize()
    {
        var tokenizer = SharedData.File("models/llama3-tokenizer");
        using var dir = new TempDir();
        string raw = Path.Combine(dir.Path, "raw"), prepared = Path.Combine(dir.Path, "prepared"),
            shards = Path.Combine(dir.Path, "shards");

        Assert.Equal(0, (await CliRunner.Run("data", "demo", "--out", raw, "--train", "120", "--test", "20")).Exit);
        var check = await CliRunner.Run("data", "check", Path.Combine(raw, "train.jsonl"), "--model", tokenizer,
            "--report", Path.Combine(dir.Path, "report.json"));
        Assert.True(check.Exit == 0, check.Out + check.Err);
        Assert.Contains("Accepted                                 120", check.Out);
        Assert.Equal(120,
            JsonNode.Parse(File.ReadAllText(Path.Combine(dir.Path, "report.json")))!["accepted"]!.GetValue<long>());

        var prepare = await CliRunner.Run("data", "prepare", Path.Combine(raw, "train.jsonl"), "--out", prepared,
            "--model", tokenizer);
        Assert.True(prepare.Exit == 0, prepare.Out + prepare.Err);
        var card = JsonNode.Parse(File.ReadAllText(Path.Combine(prepared, "data_card.json")))!;
        var counts = card["counts"]!;
        long kept = counts["train"]!.GetValue<long>() + counts["validation"]!.GetValue<long>()
            + counts["test"]!.GetValue<long>();

        var tokenize = await CliRunner.Run("data", "tokenize", prepared, "--model", tokenizer, "--out", shards);
        Assert.True(tokenize.Exit == 0, tokenize.Out + tokenize.Err);
        var manifest = TokenizedManifest.Read(shards);
        Assert.Equal(kept, manifest.Totals.Examples);
        // The card's token statistics count the same template-formatted sequences the shards hold.
        Assert.Equal(manifest.Splits["train"].Counts.Tokens, card["tokens"]!["train"]!["total"]!.GetValue<long>());
        using var reader = ShardReader.Open(Directory.GetFiles(Path.Combine(shards, "train"), "*.bin")[0]);
        Assert.Equal(counts["train"]!.GetValue<long>(), reader.Count);
    }

    [SkippableFact]
    public async Task Tokenizing_chats_for_a_model_without_a_template_says_which_option_to_pass()
    {
        var tokenizer = SharedData.File("models/stories260K/tok512.bin");   // a llama2.c tokenizer: no chat template
        using var dir = new TempDir();
        string raw = Path.Combine(dir.Path, "raw"), prepared = Path.Combine(dir.Path, "prepared");
        Assert.Equal(0, (await CliRunner.Run("data", "demo", "--out", raw, "--train", "60", "--test", "5")).Exit);
        Assert.Equal(0,
            (await CliRunner.Run("data", "prepare", Path.Combine(raw, "train.jsonl"), "--out", prepared)).Exit);
        var (exit, _, err) = await CliRunner.Run("data", "tokenize", prepared, "--model", tokenizer, "--out",
            Path.Combine(dir.Path, "shards"));
        Assert.Equal(1, exit);
        Assert.StartsWith("error: ", err);
        Assert.Contains("train.jsonl:1", err);
        Assert.Contains("--chat-template", err);
        Assert.DoesNotContain("   at ", err);   // a message, not a stack trace
    }

    [SkippableFact]
    public async Task Tokenize_defaults_to_the_models_context_and_refuses_a_longer_max_length()
    {
        using var dir = new TempDir();
        string model = Path.Combine(dir.Path, "model"), raw = Path.Combine(dir.Path, "raw"),
            prepared = Path.Combine(dir.Path, "prepared");
        Assert.Equal(0,
            (await CliRunner.Run("convert", "llama2c", SharedData.File("models/stories260K/stories260K.bin"), model,
            "--tokenizer", SharedData.File("models/stories260K/tok512.bin"))).Exit);   // context 512
        Assert.Equal(0, (await CliRunner.Run("data", "demo", "--out", raw, "--train", "40", "--test", "5")).Exit);
        Assert.Equal(0,
            (await CliRunner.Run("data", "prepare", Path.Combine(raw, "train.jsonl"), "--out", prepared)).Exit);

        var refused = await CliRunner.Run("data", "tokenize", prepared, "--model", model, "--out",
            Path.Combine(dir.Path, "long"),
            "--max-length", "1024", "--chat-template", "chatml");
        Assert.Equal(1, refused.Exit);
        Assert.Contains("--max-length 1024 is longer than the model's context of 512 tokens", refused.Err);

        var shards = Path.Combine(dir.Path, "shards");
        var ok = await CliRunner.Run("data", "tokenize", prepared, "--model", model, "--out", shards,
            "--chat-template", "chatml");
        Assert.True(ok.Exit == 0, ok.Err);
        Assert.Equal(512, TokenizedManifest.Read(shards).Options.MaxLength);
    }

    [Fact]
    public async Task A_dataset_over_the_reject_limit_exits_with_2_and_says_why()
    {
        using var dir = new TempDir();
        var file = Path.Combine(dir.Path, "bad.jsonl");
        await File.WriteAllLinesAsync(file, Enumerable.Repeat("{\"messages\": []}", 12));
        var (exit, output, _) = await CliRunner.Run("data", "check", file);
        Assert.Equal(2, exit);
        Assert.Contains("FAILED", output);
        Assert.Contains("missing_messages_list", output);
    }

    [Fact]
    public async Task Unknown_prepare_config_key_is_an_error_naming_it()
    {
        using var dir = new TempDir();
        var config = Path.Combine(dir.Path, "prepare.json");
        await File.WriteAllTextAsync(config, """{"splits": {"train": 1}}""");
        var data = Path.Combine(dir.Path, "d.jsonl");
        await File.WriteAllTextAsync(data, "{\"text\": \"hello\"}\n");
        var (exit, _, err) = await CliRunner.Run("data", "prepare", data, "--out", Path.Combine(dir.Path, "out"),
            "--config", config);
        Assert.Equal(1, exit);
        Assert.Contains("splits", err);
    }
}
