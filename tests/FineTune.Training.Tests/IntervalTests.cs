// Evaluation and checkpoint intervals that follow the dataset (per_epoch), a capped validation subset (max_examples),
// the time left in every progress report, and examples longer than the model's context refused before any step.
namespace FineTune.Training.Tests;

public class IntervalTests
{
    [Theory]
    [InlineData(null, null, 743, 50, 50)]     // nothing set: the fixed default
    [InlineData(20, null, 743, 50, 20)]
    [InlineData(0, null, 743, 50, 0)]         // only at the end
    [InlineData(null, 4, 743, 50, 186)]       // four an epoch of 743 steps
    [InlineData(null, 4, 3, 50, 1)]           // never less than every step
    public void An_interval_comes_from_every_steps_or_per_epoch(int? every, int? perEpoch, int stepsPerEpoch,
        int fallback, int expected) =>
        Assert.Equal(expected, StepInterval.Resolve(every, perEpoch, stepsPerEpoch, fallback));

    [Fact]
    public void Per_epoch_evaluations_and_checkpoints_follow_the_dataset_and_max_examples_caps_the_validation_subset()
    {
        using var dir = new TempDir();
        var config = TinyRun.Config(dir.Path, TinyRun.SaveBase(dir.Path),
            TinyRun.WriteDataset(dir.Path, train: 24, validation: 8)) with
        {
            Data = new DataConfig { Path = Path.Combine(dir.Path, "data"), Packing = false },
            Training = new LoopConfig { Epochs = 2, MicroBatchSize = 2, Seed = 5, Threads = 1 },   // 12 steps an epoch
            Eval = new EvalConfig { PerEpoch = 3, MaxExamples = 4, OnStart = false },
            Checkpoint = new CheckpointConfig { PerEpoch = 2, KeepLast = 10 },
        };
        using var trainer = Trainer.Create(config);
        var progress = new List<TrainingProgress>();
        var report = trainer.Train(new Recorder(progress.Add));

        Assert.Equal(24, report.Steps);
        Assert.Equal([4, 8, 12, 16, 20, 24], report.Evals.Select(e => e.Step));
        Assert.Equal([6, 12, 18, 24], TrainingCheckpoints.List(config.OutputDir).Select(c => c.Step));
        // Four validation examples of 6..9 tokens, 3 of them trained each: the evaluation never read the other four.
        Assert.All(report.Evals, e => Assert.InRange(e.Tokens, 4 * 3, 4 * 6));
        Assert.All(progress.Where(p => p.Metrics is not null), p => Assert.NotNull(p.Remaining));
        Assert.Equal(TimeSpan.Zero, progress.Last(p => p.Metrics is not null).Remaining);
    }

    [Fact]
    public void Examples_longer_than_the_models_context_are_refused_before_training()
    {
        using var dir = new TempDir();
        var model = TinyRun.Config() with { MaxPositionEmbeddings = 8 };
        var config = TinyRun.Config(dir.Path, TinyRun.SaveBase(dir.Path, model),
            TinyRun.WriteDataset(dir.Path, minLength: 6));
        var e = Assert.Throws<InvalidDataException>(() => Trainer.Create(config));
        Assert.Contains("has 12 tokens, more than the model's context of 8", e.Message);
        Assert.Contains("--max-length 8", e.Message);
    }

    sealed class Recorder(Action<TrainingProgress> add) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => add(value);
    }
}
