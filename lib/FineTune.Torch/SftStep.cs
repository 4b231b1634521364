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
    public double Run(IReadOnlyList<(int[] Ids, byte[] Mask)> batch)
    {
        _model.train();
        using var scope = NewDisposeScope();
        int length = batch.Max(b => b.Ids.Length) - 1;
        var inputs = new long[batch.Count * length];
        var targets = new long[batch.Count * length];
        for (int b = 0; b < batch.Count; b++)
            for (int t = 0; t < length; t++)
            {
                bool real = t + 1 < batch[b].Ids.Length;
                inputs[b * length + t] = real ? batch[b].Ids[t] : 0;
                // Position t predicts token t+1; unmasked and padded targets are ignored by the loss.
                targets[b * length + t] = real && batch[b].Mask[t + 1] != 0 ? batch[b].Ids[t + 1] : -100;
            }
        var ids = tensor(inputs, [batch.Count, length]);
        var positions = arange(length, dtype: ScalarType.Int64).unsqueeze(0).expand(batch.Count, length);
        var logits = _model.forward(ids, positions, Llama.CausalMask(length));                   // (B, T, V)
        var loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[^1]), tensor(targets), ignore_index: -100);
        _optimizer.zero_grad();
        loss.backward();
        _optimizer.step();
        _model.eval();
        return loss.item<float>();
    }

    public void Dispose() => _optimizer.Dispose();
}
