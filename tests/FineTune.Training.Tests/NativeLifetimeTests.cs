// The rule that keeps TorchSharp's native memory safe from the garbage collector: every tensor created while training
// or evaluating is created inside a dispose scope, which holds it until the scope ends. A tensor outside any scope is
// held only by the expression that made it, and TorchSharp passes its bare handle to libtorch: a collection on another
// thread can finalize (free) it mid-call — the rare segmentation fault of issue 26. TorchSharp counts such tensors per
// thread, so each training method and the evaluation paths are run here and the count must stay zero.
using FineTune.Models.Generation;
using FineTune.Torch;
using TorchSharp;

namespace FineTune.Training.Tests;

public class NativeLifetimeTests
{
    [Theory]
    [MemberData(nameof(TinyRun.EveryMethod), MemberType = typeof(TinyRun))]
    public void Training_creates_no_tensor_outside_a_dispose_scope(string method, string objective)
    {
        using var dir = new TempDir();
        var config = TinyRun.Busy(dir.Path, method, objective, new LoopConfig
        {
            Epochs = 1, MaxSteps = 4,
            MicroBatchSize = 2, Seed = 5, Threads = 1
        });
        AssertSetupKeepsOnlyWhatItOwns(config, $"{method}/{objective} setup");
        using (var trainer = Trainer.Create(config))
        {
            DisposeScopeManager.Statistics.Reset();
            var report = trainer.Train();
            Assert.Equal("completed", report.StopReason);
            Assert.True(DisposeScopeManager.Statistics.CreatedOutsideScopeCount == 0,
                $"{method}/{objective}: {DisposeScopeManager.Statistics}");
        }
        // Resuming restores weights, optimizer moments and the generator from the checkpoint: the same rule holds.
        AssertSetupKeepsOnlyWhatItOwns(config with { Training = config.Training with { MaxSteps = 6 } },
            $"{method}/{objective} resume");
    }

    // Setup legitimately creates the tensors that outlive it: the model's parameters and buffers, the optimizer's two
    // moments per trainable parameter, the frozen reference copy of DPO, KTO, GRPO and PPO, and a recipe's own
    // parameters (PPO's value head). Anything else made outside a scope is a temporary at the collector's mercy.
    static void AssertSetupKeepsOnlyWhatItOwns(TrainingConfig config, string what)
    {
        var statistics = DisposeScopeManager.Statistics;
        statistics.Reset();
        using var trainer = Trainer.Create(config);
        long owned = trainer.Model.parameters().Count() + trainer.Model.buffers().Count()
                     + 2 * trainer.Model.parameters().Count(p => p.requires_grad)
                         + (trainer.ReferenceModel?.parameters().Count() ?? 0)
                         + 3 * trainer.RecipeParameters.Count();   // PPO's value head, with its two moments
        Assert.True(statistics.CreatedOutsideScopeCount - statistics.DisposedOutsideScopeCount == owned,
            $"{what}: {owned} owned; {statistics}");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("prompt_tuning")]
    public void Evaluation_on_the_torch_engine_leaves_no_tensor_outside_a_dispose_scope(string? adapterMethod)
    {
        using var dir = new TempDir();
        var config = TinyRun.Config(TinyRun.Config(), dir.Path, adapterMethod ?? "lora", "sft") with
        {
            Training = new LoopConfig { Epochs = 1, MaxSteps = 2, MicroBatchSize = 2, Seed = 5, Threads = 1 },
        };
        string? adapter = null;
        if (adapterMethod is not null)
        {
            using var trainer = Trainer.Create(config);
            trainer.Train();
            adapter = Path.Combine(config.OutputDir, "adapter");
        }
        using var engine = Engines.Open(config.BaseModel, EngineKind.Torch, threads: 1, adapterDirectory: adapter);
        Assert.IsType<TorchLlamaEngine>(engine);
        SingleThread.Run(async () =>
        {
            DisposeScopeManager.Statistics.Reset();
            var generated = await new Generator(engine).GenerateAsync([[1, 5, 9], [1, 7]],
                new GenerationOptions { MaxNewTokens = 6 });
            var logits = engine.Forward([1, 5, 9, 11]);

            Assert.Equal(2, generated.Count);
            Assert.Equal(4, logits.Length);
            var s = DisposeScopeManager.Statistics; // a session's KV cache is made outside a scope and disposed with it
            Assert.True(s.CreatedInScopeCount > 0, "the generation ran on this thread: " + s);
            Assert.True(s.CreatedOutsideScopeCount == s.DisposedOutsideScopeCount, s.ToString());
        });
    }
}
