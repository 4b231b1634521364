// Preference recipes the way a user runs them. A reward model: the demo tickets become preference pairs (the right
// triage JSON preferred to one with a wrong category), go through `data prepare` and `data tokenize` like any
// dataset, `finetune train` with objective reward_model writes a SEQ_CLS adapter, and `finetune reward score` scores
// one answer or a JSONL file — the same reward for the same text either way. What cannot be scored is refused with
// the reason. KTO: the same tickets as thumbs up (the right answer) and down (a wrong category) in TRL's unpaired
// format go through the data stages into feedback shards and train.
using System.Globalization;
using System.Text.Json.Nodes;

namespace FineTune.Cli.Tests;

[Collection("training")]
public class RewardCliTests
{
    static readonly string[] Categories = ["billing", "technical", "account", "shipping"];

    // Each demo ticket as a pair: chosen = its answer, rejected = the same answer under another category.
    static void WritePairs(string demo, string pairs)
    {
        var lines = File.ReadLines(demo).Select((line, i) =>
        {
            var messages = JsonNode.Parse(line)!["messages"]!.AsArray();
            var answer = messages[^1]!["content"]!.GetValue<string>();
            var category = (string)JsonNode.Parse(answer)!["category"]!;
            var wrong = Categories[(Array.IndexOf(Categories, category) + 1 + i % 3) % Categories.Length];
            var prompt = new JsonArray(messages.Take(messages.Count - 1).Select(m => m!.DeepClone()).ToArray());
            return new JsonObject
            {
                ["prompt"] = prompt,
                ["chosen"] = answer,
                ["rejected"] = answer.Replace($"\"{category}\"", $"\"{wrong}\"", StringComparison.Ordinal),
            }.ToJsonString();
        });
        File.WriteAllLines(pairs, lines);
    }

    static async Task Ok(params string[] args)
    {
        var (exit, _, err) = await CliRunner.Run(args);
        Assert.True(exit == 0, $"{string.Join(' ', args)}: {err}");
    }

    static Task Stories260K(string baseDir) => Ok("convert", "llama2c",
        SharedData.File("models/stories260K/stories260K.bin"), baseDir, "--tokenizer",
        SharedData.File("models/stories260K/tok512.bin"));

    // What every test here trains on: the prepared data tokenized for stories260K with ChatML.
    static Task Tokenize(string prepared, string baseDir, string shards) => Ok("data", "tokenize", prepared,
        "--model", baseDir, "--out", shards, "--max-length", "512", "--chat-template", "chatml");

    [SkippableFact]
    public async Task Reward_model_trains_from_preference_jsonl_and_scores_answers()
    {
        using var dir = new TempDir();
        string baseDir = Path.Combine(dir.Path, "base"), raw = Path.Combine(dir.Path, "raw"),
            pairs = Path.Combine(dir.Path, "pairs.jsonl"), prepared = Path.Combine(dir.Path, "prepared"),
            shards = Path.Combine(dir.Path, "shards"), output = Path.Combine(dir.Path, "rm");
        await Stories260K(baseDir);
        await Ok("data", "demo", "--out", raw, "--train", "60", "--test", "4");
        WritePairs(Path.Combine(raw, "train.jsonl"), pairs);
        await Ok("data", "prepare", pairs, "--out", prepared);
        await Tokenize(prepared, baseDir, shards);
        var config = Path.Combine(dir.Path, "rm.json");
        File.WriteAllText(config, new JsonObject
        {
            ["base_model"] = baseDir, ["data"] = new JsonObject { ["path"] = shards },
            ["objective"] = "reward_model", ["method"] = "lora",
            ["lora"] = new JsonObject { ["rank"] = 4, ["alpha"] = 8, ["target_modules"] = new JsonArray("all-linear") },
            ["optimizer"] = new JsonObject { ["lr"] = 3e-3 },
            ["training"] = new JsonObject { ["max_steps"] = 4, ["micro_batch_size"] = 4, ["threads"] = 1 },
            ["eval"] = new JsonObject { ["every_steps"] = 4, ["max_batches"] = 2 },
            ["output_dir"] = output,
        }.ToJsonString());
        var (exit, stdout, stderr) = await CliRunner.Run("train", config);
        Assert.True(exit == 0, stderr);
        Assert.Contains("completed at step 4/4", stdout);
        var report = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "training_report.json")))!;
        Assert.Equal("reward_model", (string)report["objective"]!);
        Assert.NotNull(report["evals"]![0]!["reward_margin"]);

        var adapter = Path.Combine(output, "adapter");
        string[] common = ["reward", "score", baseDir, "--adapter", adapter, "--chat-template", "chatml"];
        const string Ticket = "My card was charged twice for the same order.";
        const string Answer = "{\"category\":\"billing\",\"priority\":\"high\",\"summary\":\"Double charge.\"}";
        (exit, stdout, stderr) = await CliRunner.Run([.. common, "--prompt", Ticket, "--response", Answer]);
        Assert.True(exit == 0, stderr);
        double single = double.Parse(stdout.Trim(), CultureInfo.InvariantCulture);
        Assert.True(double.IsFinite(single));
        // merged into a full reward model, it scores the same without --adapter
        var merged = Path.Combine(dir.Path, "rm-merged");
        await Ok("merge", baseDir, adapter, merged);
        (exit, stdout, stderr) = await CliRunner.Run("reward", "score", merged, "--chat-template", "chatml",
            "--prompt", Ticket, "--response", Answer);
        Assert.True(exit == 0, stderr);
        Assert.Equal(single, double.Parse(stdout.Trim(), CultureInfo.InvariantCulture), 3e-4);

        var file = Path.Combine(dir.Path, "answers.jsonl");
        File.WriteAllLines(file,
        [
            new JsonObject { ["prompt"] = Ticket, ["response"] = Answer }.ToJsonString(),
            "",
            new JsonObject
            {
                ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = Ticket }),
                ["response"] = Answer.Replace("billing", "shipping", StringComparison.Ordinal),
            }.ToJsonString(),
        ]);
        (exit, stdout, stderr) = await CliRunner.Run([.. common, "--file", file]);
        Assert.True(exit == 0, stderr);
        var rows = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal([1, 3], rows.Select(r => (int)r["line"]!));
        Assert.Equal(single, (double)rows[0]["reward"]!, 5);
        Assert.NotEqual((double)rows[0]["reward"]!, (double)rows[1]["reward"]!);

        // what cannot be scored, and why
        (exit, _, stderr) = await CliRunner.Run("reward", "score", baseDir, "--prompt", "p", "--response", "r");
        Assert.Equal(1, exit);
        Assert.Contains("not a reward model", stderr);
        File.WriteAllText(file, "{\"prompt\": \"p\"}\n");
        (exit, _, stderr) = await CliRunner.Run([.. common, "--file", file]);
        Assert.Equal(1, exit);
        Assert.Contains($"{file}:1: field 'response' must be a string", stderr);
        (exit, _, stderr) = await CliRunner.Run([.. common, "--prompt", "p"]);
        Assert.Equal(1, exit);
        Assert.Contains("give --prompt and --response, or --file", stderr);
        (exit, _, stderr) = await CliRunner.Run("generate", baseDir, "--adapter", adapter, "--prompt", "Hi");
        Assert.Equal(1, exit);
        Assert.Contains("SEQ_CLS", stderr);
    }

    [SkippableFact]
    public async Task Kto_trains_from_thumbs_up_and_down_jsonl_through_the_data_stages()
    {
        using var dir = new TempDir();
        string baseDir = Path.Combine(dir.Path, "base"), raw = Path.Combine(dir.Path, "raw"),
            rated = Path.Combine(dir.Path, "rated.jsonl"), prepared = Path.Combine(dir.Path, "prepared"),
            shards = Path.Combine(dir.Path, "shards"), output = Path.Combine(dir.Path, "kto");
        await Stories260K(baseDir);
        await Ok("data", "demo", "--out", raw, "--train", "60", "--test", "4");
        var pairs = Path.Combine(dir.Path, "pairs.jsonl");
        WritePairs(Path.Combine(raw, "train.jsonl"), pairs);
        // alternate: a thumbs up on the right answer, a thumbs down on a wrong one
        File.WriteAllLines(rated, File.ReadLines(pairs).Select((line, i) =>
        {
            var pair = JsonNode.Parse(line)!;
            return new JsonObject
            {
                ["prompt"] = pair["prompt"]!.DeepClone(),
                ["completion"] = (string)pair[i % 2 == 0 ? "chosen" : "rejected"]!,
                ["label"] = i % 2 == 0,
            }.ToJsonString();
        }));
        await Ok("data", "prepare", rated, "--out", prepared);
        Assert.Contains("\"desirable\":", File.ReadLines(Path.Combine(prepared, "train.jsonl")).First());
        await Tokenize(prepared, baseDir, shards);
        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(shards, "manifest.json")))!;
        Assert.Equal("Feedback", (string)manifest["splits"]!["train"]!["kind"]!);
        var config = Path.Combine(dir.Path, "kto.json");
        File.WriteAllText(config, new JsonObject
        {
            ["base_model"] = baseDir, ["data"] = new JsonObject { ["path"] = shards },
            ["objective"] = "kto", ["method"] = "lora",
            ["kto"] = new JsonObject { ["beta"] = 0.1 },
            ["lora"] = new JsonObject { ["rank"] = 4, ["alpha"] = 8, ["target_modules"] = new JsonArray("all-linear") },
            ["training"] = new JsonObject { ["max_steps"] = 3, ["micro_batch_size"] = 4, ["threads"] = 1 },
            ["eval"] = new JsonObject { ["every_steps"] = 3, ["max_batches"] = 2 },
            ["output_dir"] = output,
        }.ToJsonString());
        var (exit, stdout, stderr) = await CliRunner.Run("train", config);
        Assert.True(exit == 0, stderr);
        Assert.Contains("completed at step 3/3", stdout);
        var report = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "training_report.json")))!;
        Assert.Equal("kto", (string)report["objective"]!);
        // policy == reference at the start: every answer costs λ σ(0) = 0.5
        Assert.Equal(0.5, (double)report["evals"]![0]!["valid_loss"]!, 5);
        Assert.True(File.Exists(Path.Combine(output, "adapter", "adapter_model.safetensors")));
    }

    [SkippableFact]
    public async Task Grpo_trains_on_chat_data_with_text_rewards_named_in_the_config()
    {
        using var dir = new TempDir();
        string baseDir = Path.Combine(dir.Path, "base"), raw = Path.Combine(dir.Path, "raw"),
            prepared = Path.Combine(dir.Path, "prepared"), shards = Path.Combine(dir.Path, "shards"),
            output = Path.Combine(dir.Path, "grpo");
        await Stories260K(baseDir);
        await Ok("data", "demo", "--out", raw, "--train", "40", "--test", "4");
        await Ok("data", "prepare", Path.Combine(raw, "train.jsonl"), "--out", prepared);
        await Tokenize(prepared, baseDir, shards);
        var config = Path.Combine(dir.Path, "grpo.json");
        File.WriteAllText(config, new JsonObject
        {
            ["base_model"] = baseDir, ["data"] = new JsonObject { ["path"] = shards },
            ["objective"] = "grpo", ["method"] = "lora",
            ["grpo"] = new JsonObject
            {
                ["num_generations"] = 2, ["max_new_tokens"] = 12, ["beta"] = 0.04,
                ["rewards"] = new JsonArray(
                    new JsonObject { ["type"] = "json_valid", ["weight"] = 0.5 },
                    new JsonObject { ["type"] = "regex", ["pattern"] = "category", ["name"] = "mentions_category" },
                    new JsonObject { ["type"] = "length", ["target"] = 8, ["penalty"] = 0.01 }),
            },
            ["training"] = new JsonObject { ["max_steps"] = 2, ["micro_batch_size"] = 2, ["threads"] = 1 },
            ["eval"] = new JsonObject { ["every_steps"] = 2, ["max_examples"] = 2 },
            ["output_dir"] = output,
        }.ToJsonString());
        var (exit, stdout, stderr) = await CliRunner.Run("train", config);
        Assert.True(exit == 0, stderr);
        Assert.Contains("completed at step 2/2", stdout);
        Assert.Matches(@"eval step 2: reward -?\d+\.\d{4} \(json_valid \d\.\d{3}, mentions_category", stderr);
        Assert.Matches(@"step 1/2 .* reward -?\d+\.\d{3} kl \d+\.\d{3}", stderr);
        var report = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "training_report.json")))!;
        Assert.Equal("grpo", (string)report["objective"]!);
        var rollout = report["history"]![0]!["rollout"]!.AsObject();
        foreach (var key in new[] { "reward", "kl", "completion_length", "reward/json_valid",
                     "reward/mentions_category", "reward/length_std", "zero_std_groups" })
            Assert.True(rollout.ContainsKey(key), $"rollout metrics lack {key}: {rollout.ToJsonString()}");
        Assert.InRange((double)rollout["completion_length"]!, 1, 12);
        var lastEval = report["evals"]!.AsArray()[^1]!;
        Assert.Equal(-(double)lastEval["rewards"]!["reward"]!, (double)lastEval["valid_loss"]!, 6);
        // two rewards of one name are refused before anything loads
        File.WriteAllText(config, File.ReadAllText(config).Replace("mentions_category", "length",
            StringComparison.Ordinal));
        (exit, _, stderr) = await CliRunner.Run("train", config);
        Assert.NotEqual(0, exit);
        Assert.Contains("2 rewards are named 'length'", stderr);
    }

    [SkippableFact]
    public async Task Prompts_alone_go_through_the_data_stages_for_grpo_and_sft_refuses_them()
    {
        using var dir = new TempDir();
        string baseDir = Path.Combine(dir.Path, "base"), raw = Path.Combine(dir.Path, "raw"),
            prompts = Path.Combine(dir.Path, "prompts.jsonl"), prepared = Path.Combine(dir.Path, "prepared"),
            shards = Path.Combine(dir.Path, "shards");
        await Stories260K(baseDir);
        await Ok("data", "demo", "--out", raw, "--train", "30", "--test", "4");
        File.WriteAllLines(prompts, File.ReadLines(Path.Combine(raw, "train.jsonl")).Select(line =>
        {
            var messages = JsonNode.Parse(line)!["messages"]!.AsArray();
            return new JsonObject { ["prompt"] = (string)messages[^2]!["content"]! }.ToJsonString();
        }));
        await Ok("data", "prepare", prompts, "--out", prepared);
        Assert.StartsWith("{\"prompt\":[", File.ReadLines(Path.Combine(prepared, "train.jsonl")).First());
        await Tokenize(prepared, baseDir, shards);
        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(shards, "manifest.json")))!;
        Assert.Equal(0, (long)manifest["splits"]!["train"]!["counts"]!["trainedTokens"]!);
        Assert.True((long)manifest["splits"]!["train"]!["counts"]!["examples"]! > 10);

        var config = Path.Combine(dir.Path, "grpo.json");
        File.WriteAllText(config, new JsonObject
        {
            ["base_model"] = baseDir, ["data"] = new JsonObject { ["path"] = shards },
            ["objective"] = "grpo", ["method"] = "lora",
            ["grpo"] = new JsonObject
            {
                ["num_generations"] = 2, ["max_new_tokens"] = 8,
                ["rewards"] = new JsonArray(new JsonObject { ["type"] = "length", ["target"] = 4 }),
            },
            ["training"] = new JsonObject { ["max_steps"] = 1, ["micro_batch_size"] = 2, ["threads"] = 1 },
            ["eval"] = new JsonObject { ["every_steps"] = 1, ["max_examples"] = 2 },
            ["output_dir"] = Path.Combine(dir.Path, "grpo"),
        }.ToJsonString());
        var (exit, stdout, stderr) = await CliRunner.Run("train", config);
        Assert.True(exit == 0, stderr);
        Assert.Contains("completed at step 1/1", stdout);
        (exit, _, stderr) = await CliRunner.Run("train", config, "--set", "objective=sft", "--set",
            $"output_dir={Path.Combine(dir.Path, "sft")}");
        Assert.NotEqual(0, exit);
        Assert.Contains("prompts are answered by objective grpo or ppo", stderr);
    }
}

