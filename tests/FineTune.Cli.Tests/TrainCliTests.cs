// finetune train end to end on stories260K: demo tickets → data prepare → data tokenize → train (LoRA) → generate with
// the adapter; config errors exit 2 naming the key; and a training process killed with SIGKILL mid-run, then started
// again with the same command, ends with the same adapter, byte for byte, as a run that was never interrupted.
using System.Diagnostics;
using System.Text.Json.Nodes;

namespace FineTune.Cli.Tests;

[Collection("training")]   // one training run at a time per process (libtorch's global generator and threads)
public class TrainCliTests
{
    static async Task<(string Base, string Shards)> Dataset(string root)
    {
        var checkpoint = SharedData.File("models/stories260K/stories260K.bin");
        var tokenizer = SharedData.File("models/stories260K/tok512.bin");
        string baseDir = Path.Combine(root, "base"), raw = Path.Combine(root, "raw"),
            prepared = Path.Combine(root, "prepared"), shards = Path.Combine(root, "shards");
        foreach (var args in new[]
        {
            new[] { "convert", "llama2c", checkpoint, baseDir, "--tokenizer", tokenizer },
            ["data", "demo", "--out", raw, "--train", "120", "--test", "10"],
            ["data", "prepare", Path.Combine(raw, "train.jsonl"), "--out", prepared],
            ["data", "tokenize", prepared, "--model", baseDir, "--out", shards, "--max-length", "512",
                "--chat-template", "chatml"],
        })
        {
            var (exit, _, err) = await CliRunner.Run(args);
            Assert.True(exit == 0, $"{string.Join(' ', args)}: {err}");
        }
        return (baseDir, shards);
    }

    static string Config(string root, string baseDir, string shards, string output, int maxSteps)
    {
        var path = Path.Combine(root, Path.GetFileName(output) + ".json");
        File.WriteAllText(path, new JsonObject
        {
            ["base_model"] = baseDir, ["data"] = new JsonObject { ["path"] = shards, ["max_length"] = 512 },
            ["method"] = "lora",
            ["lora"] = new JsonObject
            {
                ["rank"] = 4, ["alpha"] = 8, ["dropout"] = 0.05,
                ["target_modules"] = new JsonArray("all-linear")
            },
            ["optimizer"] = new JsonObject { ["lr"] = 3e-3 },
            ["training"] = new JsonObject { ["max_steps"] = maxSteps, ["micro_batch_size"] = 2, ["threads"] = 1 },
            ["eval"] = new JsonObject { ["every_steps"] = 4, ["max_batches"] = 2 },
            ["checkpoint"] = new JsonObject { ["every_steps"] = 3, ["keep_last"] = 2 },
            ["output_dir"] = output,
        }.ToJsonString());
        return path;
    }

    [SkippableFact]
    public async Task Train_writes_an_adapter_that_generate_applies_and_a_report()
    {
        using var dir = new TempDir();
        var (baseDir, shards) = await Dataset(dir.Path);
        var output = Path.Combine(dir.Path, "run");
        var (exit, stdout, stderr) = await CliRunner.Run("train", Config(dir.Path, baseDir, shards, output, 6),
            "--set", "lora.rank=8");
        Assert.True(exit == 0, stderr);
        Assert.Contains("completed at step 6/6", stdout);
        Assert.Contains("eval step 0: valid loss", stderr);
        var report = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "training_report.json")))!;
        Assert.Equal(8, (int)report["config"]!["lora"]!["rank"]!);
        Assert.Equal(6, report["history"]!.AsArray().Count);
        Assert.Equal(6, File.ReadAllLines(Path.Combine(output, "metrics.jsonl")).Count(l => l.Contains("\"train\"")));
        var adapter = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "adapter", "adapter_config.json")))!;
        Assert.Equal(8, (int)adapter["r"]!);
        var generated = await CliRunner.Run("generate", baseDir, "--adapter", Path.Combine(output, "adapter"),
            "--prompt-ids", "1", "-n", "8", "--show-ids");
        Assert.True(generated.Exit == 0, generated.Err);

        // A prompt-tuning adapter: trained the same way, applied by generate (on the torch engine), changing the
        // output.
        var promptOutput = Path.Combine(dir.Path, "prompt");
        (exit, _, stderr) = await CliRunner.Run("train", Config(dir.Path, baseDir, shards, output, 3), "--set",
            "method=prompt_tuning",
            "--set", "prompt.num_virtual_tokens=4", "--set", $"output_dir={promptOutput}");
        Assert.True(exit == 0, stderr);
        var baseIds = CliRunner.Ids((await CliRunner.Run("generate", baseDir, "--prompt-ids", "1", "-n", "8",
            "--show-ids")).Out);
        var prompted = await CliRunner.Run("generate", baseDir, "--adapter", Path.Combine(promptOutput, "adapter"),
            "--prompt-ids", "1", "-n", "8", "--show-ids");
        Assert.True(prompted.Exit == 0, prompted.Err);
        Assert.NotEqual(baseIds, CliRunner.Ids(prompted.Out));
    }

    [Fact]
    public async Task A_bad_config_exits_2_naming_the_key()
    {
        using var dir = new TempDir();
        var config = Path.Combine(dir.Path, "c.json");
        File.WriteAllText(config,
            """{ "base_model": "b", "data": { "path": "d" }, "output_dir": "o", "lora": { "rank": 0 } }""");
        var (exit, _, stderr) = await CliRunner.Run("train", config);
        Assert.Equal(2, exit);
        Assert.Contains("lora.rank", stderr);
        (exit, _, stderr) = await CliRunner.Run("train", config, "--set", "lora.rank=4", "--set", "optimizer.lr=0");
        Assert.Equal(2, exit);
        Assert.Contains("'optimizer.lr' must be positive", stderr);
    }

    [SkippableFact]
    public async Task A_killed_training_process_restarted_with_the_same_command_ends_bit_identical()
    {
        using var dir = new TempDir();
        var (baseDir, shards) = await Dataset(dir.Path);
        string straight = Path.Combine(dir.Path, "straight"), killed = Path.Combine(dir.Path, "killed");
        const int steps = 12;
        Assert.Equal(0, await RunProcess(Config(dir.Path, baseDir, shards, straight, steps)));

        var config = Config(dir.Path, baseDir, shards, killed, steps);
        using (var process = Start(config))
        {
            // Kill -9 once the step-6 checkpoint exists: the run dies somewhere after it, mid-step or mid-write.
            var deadline = DateTime.UtcNow.AddMinutes(3);
            while (!Directory.Exists(Path.Combine(killed, "checkpoints",
                "checkpoint-000006")) && !process.HasExited && DateTime.UtcNow < deadline)
                await Task.Delay(20);
            Assert.False(process.HasExited, "the run finished before it could be killed");
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
        Assert.False(File.Exists(Path.Combine(killed, "training_report.json")));
        Assert.Equal(0, await RunProcess(config));   // the same command again: resume: auto

        var report = JsonNode.Parse(File.ReadAllText(Path.Combine(killed, "training_report.json")))!;
        Assert.NotNull((string?)report["resumed_from"]);
        foreach (var file in new[] { "adapter_model.safetensors", "adapter_config.json" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(straight, "adapter", file)),
                File.ReadAllBytes(Path.Combine(killed, "adapter", file)));
    }

    // A separate process per run: nothing else in this test process shares libtorch's generator or thread pool.
    static Process Start(string config)
    {
        var cli = Path.Combine(AppContext.BaseDirectory, "finetune.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { cli, "train", config })
            start.ArgumentList.Add(a);
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    static async Task<int> RunProcess(string config)
    {
        using var process = Start(config);
        await process.WaitForExitAsync();
        return process.ExitCode;
    }
}
