// The loop end to end on a tiny model: loss falls for every method, adapters leave the base bit-identical, outputs
// land where the report says, and early stopping keeps the best weights.
using FineTune.Models.Checkpoints;
using FineTune.Torch;
using Xunit.Abstractions;

namespace FineTune.Training.Tests;

public class TrainerTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("full")]
    [InlineData("lora")]
    [InlineData("dora")]
    [InlineData("qlora")]
    [InlineData("ia3")]
    [InlineData("prompt_tuning")]
    [InlineData("prefix_tuning")]
    public void Every_method_lowers_the_validation_loss_and_trains_only_its_own_tensors(string method)
    {
        using var dir = new TempDir();
        // Few-parameter methods take the larger rates their papers use (prompt tuning: 0.3).
        var config = TinyRun.Config(dir.Path, TinyRun.SaveBase(dir.Path), TinyRun.WriteDataset(dir.Path), method) with
        {
            Optimizer = new OptimizerConfig
            {
                Lr = method switch
                {
                    "ia3" => 0.1,
                    "prompt_tuning" or "prefix_tuning" => 0.3,
                    _ => 1e-2
                }
            },
        };
        using var trainer = Trainer.Create(config);
        var baseBefore = trainer.Model.named_parameters().Where(p => !p.parameter.requires_grad)
            .ToDictionary(p => p.name, p => p.parameter.detach().clone());
        var report = trainer.Train();
        output.WriteLine($"{method}: train {report.History[0].TrainLoss:F3} -> {report.History[^1].TrainLoss:F3}, " +
            $"valid {report.Evals[0].ValidLoss:F3} -> {report.Evals[^1].ValidLoss:F3}, trainable " +
            $"{report.ParametersTrainable}");

        Assert.Equal("completed", report.StopReason);
        // Methods with a few hundred parameters on a random base move less than those that adapt whole matrices.
        double ratio = method is "ia3" or "prompt_tuning" or "prefix_tuning" ? 0.95 : 0.8;
        Assert.True(report.History[^1].TrainLoss < report.History[0].TrainLoss * ratio,
            $"{method}: train loss {report.History[0].TrainLoss} -> {report.History[^1].TrainLoss}");
        Assert.Equal(0, report.Evals[0].Step);   // the base, before any step
        Assert.True(report.Evals.Min(e => e.ValidLoss) < report.Evals[0].ValidLoss,
            $"{method}: validation loss never improved on the base");
        foreach (var (name, before) in baseBefore)
            Assert.True(Bits(before).SequenceEqual(Bits(trainer.Model.named_parameters().First(p => p.name
                == name).parameter)), $"{method}: frozen '{name}' changed");
        if (method == "full")
            Assert.Empty(baseBefore);
        else
            Assert.All(report.TrainableTensors, n => Assert.Matches(@"lora_|ia3_l|prompt_embeddings", n));
        var outputDir = Path.Combine(config.OutputDir, method == "full" ? "model" : "adapter");
        Assert.Equal(outputDir, report.Output);
        Assert.True(File.Exists(Path.Combine(outputDir,
            method == "full" ? "model.safetensors" : "adapter_model.safetensors")));
        Assert.True(File.Exists(Path.Combine(config.OutputDir, TrainingReport.FileName)));
    }

    static float[] Bits(TorchSharp.torch.Tensor t) => t.detach().contiguous().data<float>().ToArray();

    [Fact]
    public void Early_stopping_ends_the_run_and_delivers_the_best_step()
    {
        using var dir = new TempDir();
        // A learning rate far too high: validation loss rises after the first evaluations.
        var config = TinyRun.Config(dir.Path, TinyRun.SaveBase(dir.Path), TinyRun.WriteDataset(dir.Path), "full") with
        {
            Optimizer = new OptimizerConfig { Lr = 0.5, MaxGradNorm = null },
            Schedule = new ScheduleConfig { Type = ScheduleType.Constant },
            Training = new LoopConfig
            {
                Epochs = 20, MicroBatchSize = 2, GradientAccumulationSteps = 1, Seed = 5,
                Threads = 1
            },
            Eval = new EvalConfig { EverySteps = 2, EarlyStoppingPatience = 2 },
        };
        using var trainer = Trainer.Create(config);
        var report = trainer.Train();
        output.WriteLine(string.Join(", ", report.Evals.Select(e => $"{e.Step}:{e.ValidLoss:F3}")));
        Assert.Equal("early_stopped", report.StopReason);
        Assert.True(report.Steps < report.TotalSteps);
        var best = report.Evals.MinBy(e => e.ValidLoss)!;
        Assert.Equal(best.Step, report.BestStep);
        // The delivered model is the best step's, not the last one's.
        using var delivered = HfCheckpoint.Open(report.Output);
        using var bestCheckpoint = HfCheckpoint.Open(Path.Combine(config.OutputDir, "best"));
        Assert.Equal(bestCheckpoint.Read("lm_head.weight").Bytes, delivered.Read("lm_head.weight").Bytes);
        var last = trainer.Model.named_parameters().First(p => p.name
            == "lm_head.weight").parameter.detach().contiguous().data<float>().ToArray();
        Assert.NotEqual(last, delivered.Read("lm_head.weight").ToFloat32());
    }
}
