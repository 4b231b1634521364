// One supervised fine-tuning step: next-token cross-entropy on the tokens the loss mask marks (responses by default),
// AdamW on the trainable parameters only (the adapters, in a LoRA model). The full training loop builds on this.
namespace FineTune.Torch;

public sealed class SftStep : IDisposable
{
    readonly Llama _model;
    readonly AdamWOptimizer _optimizer;
    readonly double _learningRate;

    public SftStep(Llama model, double learningRate, double weightDecay = 0.0)
    {
        _model = model;
        // Our AdamW, not TorchSharp's: its implicit Scalars can be freed mid-call (see ScalarOps).
        _optimizer = new AdamWOptimizer(model.named_parameters().Where(p => p.parameter.requires_grad).Select(p =>
            (p.name, p.parameter)),
            weightDecay, 0.9, 0.999, 1e-8);
        _learningRate = learningRate;
    }

    /// <summary>Mean loss over the masked target tokens of the batch (right-padded), before the update.</summary>
    public double Run(IReadOnlyList<(int[] Ids, byte[] Mask)> batch) => Run(Packing.Unpacked(batch));

    /// <summary>One optimizer step on packed (or unpacked) rows; returns the loss before the update.</summary>
    public double Run(IReadOnlyList<PackedRow> rows)
    {
        using var scope = NewDisposeScope();
        var loss = LossWithGradients(rows);
        _optimizer.Update(_learningRate);
        return loss;
    }

    /// <summary>
    /// Forward and backward without the update, leaving gradients on the trainable parameters (for accumulation and
    /// for tests). Position t predicts token t+1 only within the same example and where the mask trains it.
    /// </summary>
    public double LossWithGradients(IReadOnlyList<PackedRow> rows)
    {
        _model.train();
        using var scope = NewDisposeScope();
        var batch = SftLoss.Compute(_model, rows);
        var loss = batch.Sum.Times(1.0 / Math.Max(1, batch.Tokens));
        _optimizer.ZeroGrad();
        loss.backward();
        _model.eval();
        return loss.item<float>();
    }

    public void Dispose() => _optimizer.Dispose();
}
