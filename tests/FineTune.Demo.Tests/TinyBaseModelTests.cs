// The tiny base model bootstrap at a very small size: the cache entry loads as tokenizer, TorchSharp model and
// inference engine, its loss fell, and a second call finds it without retraining; the publish race and reclaiming
// abandoned builds; options from JSON and --set; the pre-training corpus is deterministic and never holds the demo's
// test examples.
using System.Diagnostics;
using FineTune.Demo;
using FineTune.Text;
using FineTune.Torch;
using FineTune.Training;

namespace FineTune.Demo.Tests;

public class TinyBaseModelTests
{
    static readonly TinyBaseModelOptions Small = new()
    {
        Name = "test-base", Dim = 32, Layers = 2, Heads = 4, KvHeads = 2, Hidden = 64, Context = 64, Vocab = 384,
        CorpusBytes = 150_000, Steps = 40, Batch = 8, Lr = 1e-2, Seed = 7, Threads = 1,
    };

    sealed class Recorder : IProgress<TinyBaseModelProgress>
    {
        readonly List<TinyBaseModelProgress> _events = [];
        public List<TinyBaseModelProgress> Events
        {
            get
            {
                lock (_events)
                    return [.. _events];
            }
        }

        public void Report(TinyBaseModelProgress value)
        {
            lock (_events)
                _events.Add(value);
        }
    }

    /// <summary>Records, and holds the reporting build at <paramref name="stage"/> until <paramref name="release"/> is
    /// set.</summary>
    sealed class Paused(Recorder recorder, string stage,
        ManualResetEventSlim release) : IProgress<TinyBaseModelProgress>
    {
        public void Report(TinyBaseModelProgress value)
        {
            recorder.Report(value);
            if (value.Stage == stage)
                release.Wait(TimeSpan.FromMinutes(2));
        }
    }

    [Fact]
    public async Task Builds_a_loadable_model_whose_loss_fell_and_finds_it_again_without_training()
    {
        using var temp = new TempDir();
        var first = new Recorder();
        var dir = await TinyBaseModel.EnsureAsync(temp.Path, Small, first);

        Assert.Equal(Path.Combine(temp.Path, TinyBaseModel.DirectoryName(Small)), dir);
        Assert.Contains(first.Events, e => e.Stage == "train" && e.Training?.Metrics is not null);
        Assert.Equal([dir], Directory.GetDirectories(temp.Path));   // the build directory is gone
        var report = TinyBaseModel.ReadReport(dir);
        Assert.Equal(40, report.Steps);
        Assert.True(report.FinalTrainLoss < report.InitialValidLoss - 0.5,
            $"train loss {report.FinalTrainLoss} vs initial {report.InitialValidLoss}");
        Assert.True(report.FinalValidLoss < report.InitialValidLoss - 0.5,
            $"valid loss {report.FinalValidLoss} vs initial {report.InitialValidLoss}");
        Assert.InRange(report.InitialValidLoss, Math.Log(384) - 0.3, Math.Log(384) + 0.3);

        var tokenizer = TokenizerLoader.Load(dir);
        Assert.Equal(384, tokenizer.VocabSize);
        Assert.Equal(ChatTemplateKind.ChatMl, tokenizer.ChatTemplate?.Kind);
        Assert.Equal(tokenizer.TokenToId(BpeTrainer.EndOfText), tokenizer.BosId);
        var prompt = tokenizer.Encode("<|im_start|>user\nMy order never arrived.<|im_end|>\n", addBos: true);
        using (var model = LlamaCheckpoints.Load(dir))
        {
            Assert.True(model.Config.TieWordEmbeddings);
            Assert.Equal((32, 2, 384, 64),
                (model.Config.HiddenSize, model.Config.NumHiddenLayers, model.Config.VocabSize,
                model.Config.MaxPositionEmbeddings));
        }
        using (var cpu = Engines.Open(dir, EngineKind.Cpu))
        using (var torchEngine = Engines.Open(dir, EngineKind.Torch))
        {
            var a = cpu.Forward(prompt)[^1];
            var b = torchEngine.Forward(prompt)[^1];
            Assert.All(a, v => Assert.True(float.IsFinite(v)));
            Assert.True(a.Zip(b).Max(p => Math.Abs(p.First - p.Second)) < 1e-3, "the cpu and torch engines disagree");
        }

        var reportBytes = File.ReadAllBytes(Path.Combine(dir, TinyBaseModel.ReportFile));
        var weights = File.GetLastWriteTimeUtc(Path.Combine(dir, "model.safetensors"));
        var again = new Recorder();
        var clock = Stopwatch.StartNew();
        // threads are not part of the key
        Assert.Equal(dir, await TinyBaseModel.EnsureAsync(temp.Path, Small with { Threads = 2 }, again));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"the cached lookup took {clock.Elapsed}");
        Assert.Equal(["cached"], again.Events.Select(e => e.Stage));
        Assert.Equal(reportBytes, File.ReadAllBytes(Path.Combine(dir, TinyBaseModel.ReportFile)));
        Assert.Equal(weights, File.GetLastWriteTimeUtc(Path.Combine(dir, "model.safetensors")));
    }

    [Fact]
    public async Task A_second_caller_waits_for_the_first_build_instead_of_training_again()
    {
        using var temp = new TempDir();
        var options = Small with { Steps = 5, Seed = 8 };
        Recorder a = new(), b = new();
        // The first build pauses, holding the lock, at its tokenizer step until the second caller is waiting (however
        // fast the machine: a 5-step build could otherwise finish before the second call starts).
        using var release = new ManualResetEventSlim();
        var first = Task.Run(() => TinyBaseModel.EnsureAsync(temp.Path, options, new Paused(a, "tokenizer", release)));
        while (!a.Events.Any(e => e.Stage == "tokenizer") && !first.IsCompleted)
            await Task.Delay(10);
        var second = Task.Run(() => TinyBaseModel.EnsureAsync(temp.Path, options, b));
        while (!b.Events.Any(e => e.Stage == "waiting") && !second.IsCompleted)
            await Task.Delay(10);
        release.Set();
        Assert.Equal(await first, await second);
        Assert.Contains(b.Events, e => e.Stage == "waiting");
        Assert.DoesNotContain(b.Events, e => e.Stage == "train");
        Assert.Equal("cached", b.Events[^1].Stage);
    }

    [Fact]
    public void The_second_publisher_keeps_the_first_ones_model_and_a_broken_entry_is_replaced()
    {
        using var temp = new TempDir();
        string Staged(string marker)
        {
            var dir = Path.Combine(temp.Path, $".staged-{marker}");
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, TinyBaseModel.ReportFile), marker);
            return dir;
        }
        var final = Path.Combine(temp.Path, "base-abc");
        Assert.Equal(final, TinyBaseModel.Publish(Staged("winner"), final, null));
        Assert.Equal(final, TinyBaseModel.Publish(Staged("loser"), final, null));
        Assert.Equal("winner", File.ReadAllText(Path.Combine(final, TinyBaseModel.ReportFile)));

        var broken = Path.Combine(temp.Path, "base-broken");
        Directory.CreateDirectory(broken);
        File.WriteAllText(Path.Combine(broken, "model.safetensors"), "half a file");
        Assert.Equal(broken, TinyBaseModel.Publish(Staged("fresh"), broken, null));
        Assert.Equal("fresh", File.ReadAllText(Path.Combine(broken, TinyBaseModel.ReportFile)));
        Assert.False(File.Exists(Path.Combine(broken, "model.safetensors")));
    }

    [Fact]
    public void Build_directories_of_dead_processes_are_reclaimed_and_live_ones_kept()
    {
        using var temp = new TempDir();
        string Build(string owner)
        {
            var dir = Path.Combine(temp.Path, $".base-0123456789ab.{Guid.NewGuid():n}.tmp");
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, TinyBaseModel.OwnerFile), owner);
            return dir;
        }
        var dead = Build($"{Environment.MachineName}\n{int.MaxValue}\n");
        var live = Build($"{Environment.MachineName}\n{Environment.ProcessId}\n");
        var elsewhere = Build($"another-host-{Guid.NewGuid():n}\n{int.MaxValue}\n");
        var foreign = Path.Combine(temp.Path, ".not-ours.tmp");
        Directory.CreateDirectory(foreign);
        TinyBaseModel.ReclaimAbandoned(temp.Path);
        Assert.False(Directory.Exists(dead));
        Assert.True(Directory.Exists(live));
        Assert.True(Directory.Exists(elsewhere));
        Assert.True(Directory.Exists(foreign));
    }

    [Fact]
    public void Options_bind_from_json_and_set_and_errors_name_the_key()
    {
        using var temp = new TempDir();
        var file = Path.Combine(temp.Path, "pretrain.json");
        File.WriteAllText(file, """
            { "dim": 64, "kv_heads": 1, // comments and trailing commas are fine
              "corpus_bytes": 500000, }
            """);
        var options = TinyBaseModel.LoadOptions(file, ["steps=99", "lr=0.001", "name=mini"]);
        Assert.Equal(new TinyBaseModelOptions
        {
            Dim = 64, KvHeads = 1, CorpusBytes = 500_000, Steps = 99, Lr = 0.001,
            Name = "mini"
        }, options);
        Assert.Equal(new TinyBaseModelOptions(), TinyBaseModel.LoadOptions(null));

        Assert.Contains("'layer'",
            Assert.Throws<TrainingConfigException>(() => TinyBaseModel.LoadOptions(null, ["layer=3"])).Message);
        Assert.Contains("'kv_heads'",
            Assert.Throws<TrainingConfigException>(() => TinyBaseModel.LoadOptions(null, ["kv_heads=3"])).Message);
        Assert.Contains("'heads'",
            Assert.Throws<TrainingConfigException>(() => TinyBaseModel.LoadOptions(null, ["heads=3"])).Message);
        Assert.Contains("'steps'",
            Assert.Throws<TrainingConfigException>(() => TinyBaseModel.LoadOptions(null, ["steps=many"])).Message);
        Assert.Contains("'name'",
            Assert.Throws<TrainingConfigException>(() => TinyBaseModel.LoadOptions(null, ["name=../up"])).Message);

        var name = TinyBaseModel.DirectoryName(Small);
        Assert.StartsWith("test-base-", name);
        Assert.Equal(name, TinyBaseModel.DirectoryName(Small with { Threads = 8 }));
        Assert.NotEqual(name, TinyBaseModel.DirectoryName(Small with { Steps = 41 }));
        // a base pre-trained in bf16 is another model; float32, the default, keeps the key it always had
        Assert.NotEqual(name, TinyBaseModel.DirectoryName(Small with { Bf16 = true }));
        Assert.DoesNotContain("Bf16", System.Text.Json.JsonSerializer.Serialize(Small));
        Assert.True(TinyBaseModel.LoadOptions(null, ["bf16=true"]).Bf16);
        Assert.Contains("'bf16'",
            Assert.Throws<TrainingConfigException>(() => TinyBaseModel.LoadOptions(null, ["bf16=often"])).Message);
    }

    [Fact]
    public async Task Corpus_is_deterministic_covers_the_template_and_never_holds_a_demo_test_example()
    {
        var defaults = new TinyBaseModelOptions();
        var corpus = PretrainCorpus.Generate(defaults.Seed, defaults.CorpusBytes).ToList();
        Assert.Equal(corpus.Take(500), PretrainCorpus.Generate(defaults.Seed, 400_000).Take(500));
        Assert.NotEqual(corpus.Take(20), PretrainCorpus.Generate(defaults.Seed + 1, 400_000).Take(20));
        var text = string.Join("\n", corpus);
        Assert.InRange(System.Text.Encoding.UTF8.GetByteCount(text), defaults.CorpusBytes,
            defaults.CorpusBytes + 20_000);
        Assert.Contains("<|im_start|>assistant\n", text);
        Assert.Contains("\"category\":", text);

        using var temp = new TempDir();
        await SupportTickets.WriteAsync(temp.Path, 1000, 200, 42);   // `finetune data demo` defaults
        var demo = new HashSet<string>();
        foreach (var line in File.ReadLines(Path.Combine(temp.Path,
            "test.jsonl")).Concat(File.ReadLines(Path.Combine(temp.Path, "train.jsonl"))))
        {
            using var json = System.Text.Json.JsonDocument.Parse(line);
            var messages = json.RootElement.GetProperty("messages");
            var answer = messages[2].GetProperty("content").GetString()!;
            demo.Add(messages[1].GetProperty("content").GetString()!);
            demo.Add(answer);
            using var parsed = System.Text.Json.JsonDocument.Parse(answer);
            demo.Add(parsed.RootElement.GetProperty("summary").GetString()!);
        }
        Assert.All(demo, example => Assert.DoesNotContain(example, text, StringComparison.Ordinal));
    }
}
