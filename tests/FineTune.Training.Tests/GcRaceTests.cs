// TorchSharp drops a Scalar's managed object while libtorch still reads its handle; a garbage collection on another
// thread then frees it mid-call (see lib/FineTune.Torch/ScalarOps.cs). This forces collections and finalizers in a
// loop while stories260K trains on 500-token rows: before ScalarOps, any implicit Scalar left on the training path
// crashed the process within a few dozen steps ("Expected false to be true … Scalar.h").
using FineTune.Models.Checkpoints;

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
        var data = TinyRun.WriteDataset(dir.Path, train: 40, validation: 4, pairs: objective == "dpo", vocab: model.VocabSize, minLength: 240);
        var config = TinyRun.Config(dir.Path, baseDir, data, method) with
        {
            Objective = objective,
            Data = new DataConfig { Path = data, MaxLength = 512 },
            Lora = new LoraConfig { Rank = 8, Alpha = 16, Dropout = 0.1, TargetModules = ["all-linear"] },
            Training = new LoopConfig { Epochs = 4, MicroBatchSize = 4, Seed = 5, Threads = 2 },
            Eval = new EvalConfig { EverySteps = 3 },
        };
        using var stop = new CancellationTokenSource();
        var collector = new Thread(() =>
        {
            while (!stop.IsCancellationRequested) { GC.Collect(); GC.WaitForPendingFinalizers(); Thread.Sleep(1); }
        }) { IsBackground = true };
        collector.Start();
        try
        {
            using var trainer = Trainer.Create(config);
            var report = trainer.Train();
            Assert.Equal("completed", report.StopReason);
            Assert.All(report.History, h => Assert.True(double.IsFinite(h.TrainLoss)));
        }
        finally { stop.Cancel(); collector.Join(); }
    }
}
