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
        int B = rows.Count, T = rows.Max(r => r.Ids.Length) - 1;
        var inputs = new long[B * T];
        var targets = new long[B * T];
        var positions = new long[B * T];
        var mask = new float[B * T * T];
        for (int b = 0; b < B; b++)
        {
            var row = rows[b];
            int segmentStart = 0;
            for (int t = 0; t < T; t++)
            {
                int segment = t < row.Ids.Length ? row.Segments[t] : -1;
                if (t > 0 && t < row.Ids.Length && row.Segments[t] != row.Segments[t - 1]) segmentStart = t;
                inputs[b * T + t] = segment >= 0 ? row.Ids[t] : 0;
                positions[b * T + t] = segment >= 0 ? t - segmentStart : 0;
                bool trained = t + 1 < row.Ids.Length && row.Segments[t + 1] == segment && row.Mask[t + 1] != 0;
                targets[b * T + t] = trained ? row.Ids[t + 1] : -100;
                for (int j = 0; j <= t; j++)
                {
                    // Causal within the example; padding sees only itself so its softmax stays finite.
                    bool allowed = segment >= 0 ? j < row.Ids.Length && row.Segments[j] == segment : j == t;
                    mask[(b * T + t) * T + j] = allowed ? 0f : float.NegativeInfinity;
                }
                for (int j = t + 1; j < T; j++) mask[(b * T + t) * T + j] = float.NegativeInfinity;
            }
        }
        var logits = _model.forward(tensor(inputs, [B, T]), tensor(positions, [B, T]), tensor(mask, [B, 1, T, T])); // (B, T, V)
        var loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[^1]), tensor(targets), ignore_index: -100);
        _optimizer.zero_grad();
        loss.backward();
        _model.eval();
        return loss.item<float>();
    }

    public void Dispose() => _optimizer.Dispose();
}
