// TorchSharp drops a Scalar's managed object while libtorch still reads its handle; a garbage collection on another
// thread then frees it mid-call (see lib/FineTune.Torch/ScalarOps.cs). The same holds for a tensor made outside a
// dispose scope (NativeLifetimeTests). These force collections and finalizers in a loop while stories260K trains on
// 500-token rows, while every training method trains a small model with an evaluation and a checkpoint every other
// step, and while the torch engine generates and scores: before ScalarOps, any implicit Scalar left on the training
// path crashed the process within a few dozen steps ("Expected false to be true … Scalar.h").
using FineTune.Models.Checkpoints;
using FineTune.Models.Generation;
using FineTune.Torch;

namespace FineTune.Training.Tests;

public class GcRaceTests
{
    [SkippableTheory]
    [InlineData("dora", "sft")]
    [InlineData("full", "sft")]
    [InlineData("lora", "dpo")]
    public void Training_survives_garbage_collections_racing_its_native_calls(string method, string objective)
    {
        var checkpoint = SharedData.File("models/stories260K/stories260K.bin");
        using var dir = new TempDir();
        var (model, tensors) = Llama2cCheckpoint.Read(checkpoint);
        var baseDir = Path.Combine(dir.Path, "base");
        var byName = tensors.ToDictionary(t => t.Name);
        HfCheckpoint.Save(baseDir, model, tensors.Select(t => t.Info).ToList(), info => byName[info.Name].Bytes);
        var data = TinyRun.WriteDataset(dir.Path, train: 40, validation: 4, pairs: objective == "dpo",
            vocab: model.VocabSize, minLength: 240);
        var config = TinyRun.Config(dir.Path, baseDir, data, method) with
        {
            Objective = ConfigNames.Parse<TrainingObjective>(objective),
            Data = new DataConfig { Path = data, MaxLength = 512 },
            Lora = new LoraSettings(Rank: 8, Alpha: 16, TargetModules: ["all-linear"], Dropout: 0.1),
            Training = new LoopConfig { Epochs = 4, MicroBatchSize = 4, Seed = 5, Threads = 2 },
            Eval = new EvalConfig { EverySteps = 3 },
        };
        using var stop = new CancellationTokenSource();
        var collector = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                Thread.Sleep(1);
            }
        })
        { IsBackground = true };
        collector.Start();
        try
        {
            using var trainer = Trainer.Create(config);
            var report = trainer.Train();
            Assert.Equal("completed", report.StopReason);
            Assert.All(report.History, h => Assert.True(double.IsFinite(h.TrainLoss)));
        }
        finally
        {
            stop.Cancel();
            collector.Join();
        }
    }

    [Theory]
    [MemberData(nameof(TinyRun.RacedMethods), MemberType = typeof(TinyRun))]
    public void Every_method_survives_collections_through_steps_evaluations_and_checkpoints(string method,
        string objective)
    {
        using var dir = new TempDir();
        // GRPO and PPO sample at every step, far slower under the collection loop: one epoch (12 steps) of them
        bool sampling = objective is "grpo" or "ppo";
        var config = TinyRun.Busy(dir.Path, method, objective, new LoopConfig
        {
            Epochs = sampling ? 1 : 12, MicroBatchSize = 2,
            Seed = 5, Threads = 2
        });
        using var collector = new Collector();
        using var trainer = Trainer.Create(config);
        var report = trainer.Train();
        Assert.Equal("completed", report.StopReason);
        Assert.True(report.Steps >= (sampling ? 12 : 40), $"{report.Steps} steps");
        Assert.All(report.History, h => Assert.True(double.IsFinite(h.TrainLoss)));
    }

    [Fact]
    public async Task The_torch_engine_survives_collections_while_generating_and_scoring()
    {
        using var dir = new TempDir();
        var baseModel = TinyRun.SaveBase(dir.Path);
        using var engine = Engines.Open(baseModel, EngineKind.Torch, threads: 2);
        using var collector = new Collector();
        var generator = new Generator(engine);
        for (int round = 0; round < 40; round++)
        {
            var outputs = await generator.GenerateAsync([[1, 2 + round % 50, 9], [1, 7]],
                new GenerationOptions { MaxNewTokens = 24 });
            Assert.All(outputs, o => Assert.NotEmpty(o.Tokens));
            Assert.All(engine.Forward([1, 5, 9, 11, 3 + round % 40]),
                row => Assert.All(row, v => Assert.True(float.IsFinite(v))));
        }
    }

    // Collections and finalizers back to back on another thread for as long as it lives.
    sealed class Collector : IDisposable
    {
        readonly CancellationTokenSource _stop = new();
        readonly Thread _thread;

        public Collector()
        {
            _thread = new Thread(() =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    GC.Collect();
                    GC.WaitForPendingFinalizers();
                    Thread.Sleep(1);
                }
            })
            { IsBackground = true };
            _thread.Start();
        }

        public void Dispose()
        {
            _stop.Cancel();
            _thread.Join();
            _stop.Dispose();
        }
    }
}
