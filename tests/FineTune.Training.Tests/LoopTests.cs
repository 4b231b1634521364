// Pieces of the loop: gradient accumulation is the same step as one big batch, the schedules have their shapes, batch
// plans are deterministic and cover every example once, DPO raises the margin, and the metrics meter reports.

namespace FineTune.Training.Tests;

public class LoopTests
{
    [Fact]
    public void Accumulating_two_micro_batches_equals_one_batch_of_both()
    {
        using var dir = new TempDir();
        var baseModel = TinyRun.SaveBase(dir.Path);
        var data = TinyRun.WriteDataset(dir.Path);
        TrainingReport Run(int micro, int accumulation, string name)
        {
            var c = TinyRun.Config(dir.Path, baseModel, data, "full") with { OutputDir = Path.Combine(dir.Path, name) };
            using var t = Trainer.Create(c with
            {
                Training = c.Training with
                {
                    Epochs = 1,
                    MicroBatchSize = micro,
                    GradientAccumulationSteps = accumulation
                }
            });
            return t.Train();
        }
        var big = Run(4, 1, "big");
        var accumulated = Run(2, 2, "accumulated");
        Assert.Equal(big.Steps, accumulated.Steps);
        for (int i = 0; i < big.History.Count; i++)
        {
            Assert.Equal(big.History[i].TrainLoss, accumulated.History[i].TrainLoss, 5);
            Assert.Equal(big.History[i].GradNorm, accumulated.History[i].GradNorm, 4);
            Assert.Equal(big.History[i].Tokens, accumulated.History[i].Tokens);
        }
    }

    [Fact]
    public void The_chunked_loss_trains_the_same_curve_as_the_full_logits()
    {
        using var dir = new TempDir();
        var baseModel = TinyRun.SaveBase(dir.Path);
        var data = TinyRun.WriteDataset(dir.Path);
        TrainingReport Run(string chunked)
        {
            var c = TinyRun.Config(dir.Path, baseModel, data,
                "full") with
            { OutputDir = Path.Combine(dir.Path, chunked) };
            using var t = Trainer.Create(c with { Training = c.Training with { Epochs = 2, ChunkedLoss = chunked } });
            return t.Train();
        }
        var full = Run("false");
        var chunked = Run("true");
        Assert.Equal(full.History.Count, chunked.History.Count);
        for (int i = 0; i < full.History.Count; i++)
            Assert.Equal(full.History[i].TrainLoss, chunked.History[i].TrainLoss, 4);
        Assert.Equal(full.Evals[^1].ValidLoss, chunked.Evals[^1].ValidLoss, 4);
    }

    [Fact]
    public void Schedules_warm_up_then_decay_to_the_floor()
    {
        var cosine = new LearningRateSchedule(1.0, ScheduleType.Cosine, WarmupSteps: 4, TotalSteps: 104,
            MinLrRatio: 0.1);
        Assert.Equal(0.2, cosine.At(0), 10);
        Assert.Equal(0.8, cosine.At(3), 10);
        Assert.Equal(1.0, cosine.At(4), 10);
        Assert.Equal(0.55, cosine.At(54), 10);                       // halfway: the mean of peak and floor
        Assert.True(cosine.At(103) is > 0.1 and < 0.101);
        var linear = cosine with { Type = ScheduleType.Linear };
        Assert.Equal(0.55, linear.At(54), 10);
        Assert.Equal(1.0 - 0.9 * 25 / 100, linear.At(29), 10);
        Assert.Equal(1.0, (cosine with { Type = ScheduleType.Constant }).At(90), 10);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Batch_plans_are_deterministic_cover_each_example_once_and_reshuffle_per_epoch(bool packing)
    {
        var rng = new Random(3);
        var lengths = Enumerable.Range(0, 500).Select(_ => rng.Next(5, 120)).ToArray();
        var a = BatchPlan.Create(lengths, 4, 256, packing, seed: 9, epoch: 0);
        var b = BatchPlan.Create(lengths, 4, 256, packing, seed: 9, epoch: 0);
        var next = BatchPlan.Create(lengths, 4, 256, packing, seed: 9, epoch: 1);
        int[] Flat(BatchPlan p) => p.MicroBatches.SelectMany(m => m.SelectMany(r => r)).ToArray();
        Assert.Equal(Flat(a), Flat(b));
        Assert.NotEqual(Flat(a), Flat(next));
        Assert.Equal(Enumerable.Range(0, 500), Flat(a).Order());
        Assert.All(a.MicroBatches, m => Assert.True(m.Length <= 4));
        if (packing)
            Assert.All(a.MicroBatches.SelectMany(m => m), row => Assert.True(row.Sum(i => lengths[i]) <= 256));
        else
        {
            // Length bucketing: padding inside a batch is far below what random batches would have.
            double Padding(BatchPlan p) =>
                p.MicroBatches.Sum(m => m.Length * m.Max(r => lengths[r[0]]) - m.Sum(r => lengths[r[0]]));
            var unsorted = new BatchPlan(Enumerable.Range(0,
                125).Select(i => Enumerable.Range(i * 4, 4).Select(j => new[] { j }).ToArray()).ToList());
            Assert.True(Padding(a) < Padding(unsorted) / 4,
                $"bucketed padding {Padding(a)} vs random {Padding(unsorted)}");
        }
    }

    [Fact]
    public void Dpo_on_preference_shards_raises_the_reward_margin()
    {
        using var dir = new TempDir();
        var c = TinyRun.Config(dir.Path, TinyRun.SaveBase(dir.Path), TinyRun.WriteDataset(dir.Path, pairs: true),
            "lora") with
        {
            Objective = TrainingObjective.Dpo,
            Optimizer = new OptimizerConfig { Lr = 2e-2 },
            Training = new LoopConfig { Epochs = 6, MicroBatchSize = 4, Seed = 5, Threads = 1 },
        };
        using var trainer = Trainer.Create(c);
        var report = trainer.Train();
        Assert.Equal(Math.Log(2), report.History[0].TrainLoss, 5);   // a fresh adapter is the reference: margin 0
        Assert.True(report.History[^1].RewardMargin > 0.5, $"margin {report.History[^1].RewardMargin}");
        Assert.True(report.History[^1].TrainLoss < 0.5);
        Assert.True(report.Evals[^1].TokenAccuracy > 0.9,
            $"validation reward accuracy {report.Evals[^1].TokenAccuracy}");
    }

    [Fact]
    public void Sft_on_preference_data_is_refused_with_the_reason()
    {
        using var dir = new TempDir();
        var c = TinyRun.Config(dir.Path, TinyRun.SaveBase(dir.Path), TinyRun.WriteDataset(dir.Path, pairs: true));
        var e = Assert.Throws<InvalidDataException>(() => Trainer.Create(c));
        Assert.Contains("objective 'sft' needs sequences", e.Message);
    }

    [Fact]
    public void The_training_meter_reports_loss_tokens_and_learning_rate()
    {
        using var dir = new TempDir();
        var c = TinyRun.Config(dir.Path, TinyRun.SaveBase(dir.Path), TinyRun.WriteDataset(dir.Path));
        using var meter = new TrainingMeterReadings();
        using var trainer = Trainer.Create(c with { Training = c.Training with { Epochs = 1 } });
        var report = trainer.Train();
        Assert.Equal(report.History[^1].TrainLoss, meter.Last("finetune.training.train_loss"));
        Assert.Equal(report.Evals[^1].ValidLoss, meter.Last("finetune.training.valid_loss"));
        Assert.True(meter.Last("finetune.training.learning_rate") > 0);
        Assert.Equal(report.Tokens, meter.Sum("finetune.training.tokens"));
    }
}
