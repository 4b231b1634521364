// DPO on a LoRA model: at the start policy = reference (rewards 0, loss ln 2); training raises the chosen-minus-
// rejected margin until every pair is ranked right; the adapters-off reference stays the base model throughout.
using FineTune.Models.Checkpoints;

namespace FineTune.Torch.Tests;

public class DpoTests
{
    static readonly PreferencePair[] Pairs =
    [
        new([1, 5, 9, 20, 21, 22], [0, 0, 0, 1, 1, 1], [1, 5, 9, 30, 31, 32], [0, 0, 0, 1, 1, 1]),
        new([1, 6, 10, 23, 24], [0, 0, 0, 1, 1], [1, 6, 10, 33, 34], [0, 0, 0, 1, 1]),
        new([1, 7, 11, 25, 26, 27, 28], [0, 0, 0, 1, 1, 1, 1], [1, 7, 11, 35, 36], [0, 0, 0, 1, 1]),
    ];

    [Fact]
    public void Dpo_raises_the_margin_and_the_reference_stays_the_base()
    {
        TorchSharp.torch.manual_seed(3);
        var config = TestModels.Tiny(bias: false);
        var weights = LlamaWeights.Random(config, seed: 13, std: 0.2f);
        using var baseModel = new TorchLlamaEngine(LlamaCheckpoints.Load(config, weights));
        using var model = LlamaCheckpoints.Load(config, weights, adapter: new LoraSettings(8, 16, ["all-linear"]));
        using var dpo = new DpoStep(model, learningRate: 5e-3, beta: 0.5);

        var first = dpo.Run(Pairs);
        Assert.Equal(Math.Log(2), first.Loss, 4);          // policy == reference before any update
        Assert.Equal(0, first.Margin, 6);
        DpoMetrics last = first;
        for (int i = 0; i < 30; i++)
            last = dpo.Run(Pairs);
        Assert.True(last.Margin > 0.5, $"margin should grow: {first.Margin} -> {last.Margin}");
        Assert.Equal(1.0, last.RewardAccuracy);
        Assert.True(last.Loss < first.Loss);

        int[] tokens = [1, 5, 9, 20];
        using (model.AdaptersDisabled())
        {
            using var reference = new TorchLlamaEngine(model);
            Assert.Equal(baseModel.Forward(tokens)[^1], reference.Forward(tokens)[^1]);
        }
    }

    [Fact]
    public void Dpo_needs_a_lora_model()
    {
        var config = TestModels.Tiny(bias: false);
        using var model = LlamaCheckpoints.Load(config, LlamaWeights.Random(config, 1));
        Assert.Throws<ArgumentException>(() => new DpoStep(model, 1e-3));
    }
}
