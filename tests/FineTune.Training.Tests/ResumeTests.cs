// Exact resume: a run stopped part-way (cancellation writes a checkpoint; so does the periodic schedule a kill falls
// back to) and continued by a new Trainer ends with the same weights, optimizer moments and loss curve, bit for bit,
// as one run straight through. Dropout is on, so the RNG state has to travel in the checkpoint too.
using FineTune.Models.Checkpoints;

namespace FineTune.Training.Tests;

public class ResumeTests
{

    static TrainingConfig Config(string root, string method, string outName)
    {
        var c = TinyRun.Config(root, Path.Combine(root, "base"), Path.Combine(root, "data"), method);
        return c with
        {
            OutputDir = Path.Combine(root, outName),
            Lora = c.Lora with { Dropout = 0.1 },
            Data = c.Data with { Packing = method != "full" },   // both batch planners
            Training = c.Training with { Epochs = 3, GradientAccumulationSteps = 2, MicroBatchSize = 2 },
            Checkpoint = new CheckpointConfig { EverySteps = 3, KeepLast = 1 },
        };
    }

    [Theory]
    [InlineData("lora")]
    [InlineData("full")]
    public void A_run_stopped_and_resumed_ends_bit_identical_to_an_uninterrupted_one(string method)
    {
        using var dir = new TempDir();
        TinyRun.SaveBase(dir.Path);
        TinyRun.WriteDataset(dir.Path);

        TrainingReport straight;
        using (var trainer = Trainer.Create(Config(dir.Path, method, "straight")))
            straight = trainer.Train();

        var resumedConfig = Config(dir.Path, method, "resumed");
        using (var cts = new CancellationTokenSource())
        using (var first = Trainer.Create(resumedConfig))
        {
            var partial = first.Train(new StopAtStep(4, cts), cts.Token);
            Assert.Equal("cancelled", partial.StopReason);
            Assert.Equal(4, partial.Steps);
        }
        TrainingReport resumed;
        using (var second = Trainer.Create(resumedConfig))
        {
            Assert.Equal(4, second.State.Step);
            resumed = second.Train();
        }

        Assert.NotNull(resumed.ResumedFrom);
        Assert.Equal(straight.Steps, resumed.Steps);
        Assert.Equal(straight.History.Select(h => h.TrainLoss), resumed.History.Select(h => h.TrainLoss));
        Assert.Equal(straight.History.Select(h => h.GradNorm), resumed.History.Select(h => h.GradNorm));
        Assert.Equal(straight.Evals.Select(e => e.ValidLoss), resumed.Evals.Select(e => e.ValidLoss));
        AssertSameFiles(straight.Output, resumed.Output);
        var last = TrainingCheckpoints.List(Path.Combine(dir.Path, "straight"))[^1].Path;
        var lastResumed = TrainingCheckpoints.List(Path.Combine(dir.Path, "resumed"))[^1].Path;
        AssertSameFiles(last, lastResumed, TrainingCheckpoints.OptimizerFile);
    }

    [Fact]
    public void A_kill_between_checkpoints_replays_from_the_last_one_to_the_same_result()
    {
        using var dir = new TempDir();
        TinyRun.SaveBase(dir.Path);
        TinyRun.WriteDataset(dir.Path);
        TrainingReport straight;
        using (var trainer = Trainer.Create(Config(dir.Path, "lora", "straight")))
            straight = trainer.Train();

        // Simulate a kill at step 5: stop at 6 with a checkpoint, then delete it, leaving the periodic one of step 3
        // and a metrics file that ran ahead of it.
        var config = Config(dir.Path, "lora",
            "killed") with
        { Checkpoint = new CheckpointConfig { EverySteps = 3, KeepLast = 2 } };
        using (var cts = new CancellationTokenSource())
        using (var first = Trainer.Create(config))
            first.Train(new StopAtStep(5, cts), cts.Token);
        Directory.Delete(TrainingCheckpoints.PathOf(config.OutputDir, 5), recursive: true);
        Assert.Equal(3, TrainingCheckpoints.List(config.OutputDir)[^1].Step);

        TrainingReport resumed;
        using (var second = Trainer.Create(config))
            resumed = second.Train();
        Assert.Equal(straight.History.Select(h => h.TrainLoss), resumed.History.Select(h => h.TrainLoss));
        AssertSameFiles(straight.Output, resumed.Output);
        var lines = File.ReadAllLines(Path.Combine(config.OutputDir,
            "metrics.jsonl")).Count(l => l.Contains("\"train\""));
        Assert.Equal(straight.Steps, lines);   // the replayed steps are not listed twice
    }

    [Fact]
    public void A_kill_inside_the_best_weights_swap_leaves_the_previous_best_in_place()
    {
        using var dir = new TempDir();
        var best = Path.Combine(dir.Path, "best");
        Directory.CreateDirectory(best + ".old");
        File.WriteAllText(Path.Combine(best + ".old", "adapter_config.json"), "{}");
        Directory.CreateDirectory(best + ".tmp");   // the half-written new copy
        TrainingCheckpoints.RecoverInterruptedSwap(best);
        Assert.True(File.Exists(Path.Combine(best, "adapter_config.json")));
        Assert.False(Directory.Exists(best + ".old"));
    }

    [Fact]
    public void Resume_refuses_a_checkpoint_written_with_another_config()
    {
        using var dir = new TempDir();
        TinyRun.SaveBase(dir.Path);
        TinyRun.WriteDataset(dir.Path);
        var config = Config(dir.Path, "lora", "run");
        using (var cts = new CancellationTokenSource())
        using (var first = Trainer.Create(config))
            first.Train(new StopAtStep(2, cts), cts.Token);
        var changed = config with { Lora = config.Lora with { Rank = 8 } };
        var e = Assert.Throws<TrainingConfigException>(() => Trainer.Create(changed));
        Assert.Contains("'lora.rank' was 4, now 8", e.Message);
        using var fresh = Trainer.Create(changed with { Resume = "never" });
        Assert.Equal(0, fresh.State.Step);
        Assert.Empty(TrainingCheckpoints.List(config.OutputDir));
    }

    internal static void AssertSameFiles(string a, string b, params string[] extra)
    {
        var names = new[] { "adapter_model.safetensors",
            "model.safetensors" }.Concat(extra).Where(n => File.Exists(Path.Combine(a, n))).ToList();
        Assert.NotEmpty(names);
        foreach (var name in names)
        {
            using var fa = SafeTensorsFile.Open(Path.Combine(a, name));
            using var fb = SafeTensorsFile.Open(Path.Combine(b, name));
            foreach (var t in fa.Tensors)
                Assert.True(fa.Read(t.Name).Bytes.AsSpan().SequenceEqual(fb.Read(t.Name).Bytes),
                    $"{name}: '{t.Name}' differs");
        }
    }
}
