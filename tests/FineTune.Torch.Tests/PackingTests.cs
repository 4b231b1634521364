// Packing changes nothing but speed: a packed batch (block-diagonal attention, positions restarting per example)
// gives the same loss and the same gradients as the examples padded one per row. What this guards is the mask
// (attention leaking across examples fails it); with RoPE only relative positions matter, so the position restart
// is for float exactness at long offsets rather than something this small case can see.
using FineTune.Models.Checkpoints;

namespace FineTune.Torch.Tests;

public class PackingTests
{
    static readonly (int[] Ids, byte[] Mask)[] Examples =
    [
        ([1, 5, 9, 13, 17], [0, 0, 1, 1, 1]),
        ([1, 6, 10], [0, 1, 1]),
        ([1, 7, 11, 15, 19, 23, 27], [0, 0, 0, 1, 1, 1, 1]),
        ([1, 8, 12, 16], [0, 0, 1, 1]),
    ];

    [Fact]
    public void Pack_fills_rows_in_order_and_marks_segments()
    {
        // 5 + 3 tokens share row 0; 7 opens row 1; 4 fits neither (8 + 4, 7 + 4 > 10) and opens row 2.
        var rows = Packing.Pack(Examples, maxLength: 10);
        Assert.Equal(3, rows.Count);
        Assert.Equal([0, 0, 0, 0, 0, 1, 1, 1], rows[0].Segments);
        Assert.Equal([1, 5, 9, 13, 17, 1, 6, 10], rows[0].Ids);
        Assert.Equal(7, rows[1].Ids.Length);
        Assert.Equal(Examples.Sum(e => e.Ids.Length), rows.Sum(r => r.Ids.Length));
        Assert.Throws<ArgumentException>(() => Packing.Pack(Examples, maxLength: 6));
    }

    [Fact]
    public void Packed_and_unpacked_batches_give_the_same_loss_and_gradients()
    {
        var config = TestModels.Tiny(bias: true);
        using var model = LlamaCheckpoints.Load(config, LlamaWeights.Random(config, seed: 21, std: 0.2f));
        using var step = new SftStep(model, learningRate: 1e-3);

        double unpackedLoss = step.LossWithGradients(Packing.Unpacked(Examples));
        var unpackedGrads = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.clone());
        double packedLoss = step.LossWithGradients(Packing.Pack(Examples, maxLength: 12));

        Assert.Equal(unpackedLoss, packedLoss, 5);
        foreach (var (name, parameter) in model.named_parameters())
        {
            double diff = (parameter.grad! - unpackedGrads[name]).abs().max().item<float>();
            Assert.True(diff < 1e-5, $"gradient of {name} differs by {diff}");
        }
    }
}
