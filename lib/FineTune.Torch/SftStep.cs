// One supervised fine-tuning step: next-token cross-entropy on the tokens the loss mask marks (responses by default),
// AdamW on the trainable parameters only (the adapters, in a LoRA model). The full training loop builds on this.
namespace FineTune.Torch;

public sealed class SftStep : IDisposable
{
    readonly Llama _model;
    readonly optim.Optimizer _optimizer;

    public SftStep(Llama model, double learningRate, double weightDecay = 0.0)
    {
        _model = model;
        var trainable = model.parameters().Where(p => p.requires_grad).ToList();
        if (trainable.Count == 0) throw new InvalidOperationException("the model has no trainable parameters.");
        _optimizer = optim.AdamW(trainable, learningRate, weight_decay: weightDecay);
    }

    /// <summary>Mean loss over the masked target tokens of the batch (right-padded), before the update.</summary>
    public double Run(IReadOnlyList<(int[] Ids, byte[] Mask)> batch) => Run(Packing.Unpacked(batch));

    /// <summary>One optimizer step on packed (or unpacked) rows; returns the loss before the update.</summary>
    public double Run(IReadOnlyList<PackedRow> rows)
    {
        using var scope = NewDisposeScope();
        var loss = LossWithGradients(rows);
        _optimizer.step();
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
        _optimizer.zero_grad();
        loss.backward();
        _model.eval();
        return loss.item<float>();
    }

    public void Dispose() => _optimizer.Dispose();
}
