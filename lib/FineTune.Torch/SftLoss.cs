// The supervised fine-tuning objective on a batch of rows: next-token cross-entropy summed over the tokens the loss
// mask trains, with position t predicting token t+1 only inside the same packed example. Returns the sum (so callers
// can normalise by the tokens of a whole accumulated step) with the token count and the argmax hits.
namespace FineTune.Torch;

/// <summary>Summed cross-entropy over the trained tokens (attached to the graph), their count, and argmax
/// hits.</summary>
public sealed record SftBatchLoss(Tensor Sum, long Tokens, long Correct);

public static class SftLoss
{
    /// <summary>Model inputs for right-padded rows: ids, positions (restarting per packed example), mask, targets (-100
    /// = untrained).</summary>
    public static (Tensor Inputs, Tensor Positions, Tensor Mask, Tensor Targets) Build(IReadOnlyList<PackedRow> rows,
        Device? device = null)
    {
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
                if (t > 0 && t < row.Ids.Length && row.Segments[t] != row.Segments[t - 1])
                    segmentStart = t;
                inputs[b * T + t] = segment >= 0 ? row.Ids[t] : 0;
                positions[b * T + t] = segment >= 0 ? t - segmentStart : 0;
                bool trained = t + 1 < row.Ids.Length && row.Segments[t + 1] == segment && row.Mask[t + 1] != 0;
                targets[b * T + t] = trained ? row.Ids[t + 1] : -100;
                var maskRow = mask.AsSpan((b * T + t) * T, T);
                if (segment < 0)
                {
                    maskRow.Fill(float.NegativeInfinity);
                    maskRow[t] = 0f;   // padding sees only itself so its softmax stays finite
                    continue;
                }
                // Causal within the example: [segmentStart, t] allowed, the rest masked.
                maskRow[..segmentStart].Fill(float.NegativeInfinity);
                maskRow[(t + 1)..].Fill(float.NegativeInfinity);
            }
        }
        return (tensor(inputs, [B, T], device: device), tensor(positions, [B, T], device: device),
                tensor(mask, [B, 1, T, T], device: device), tensor(targets, [B * T], device: device));
    }

    /// <param name="fused">the LM head and loss in row chunks (LinearCrossEntropy: far less memory); false: full logits
    /// and cross_entropy</param>
    /// <param name="gradient">the gradient the caller's backward will bring to the sum (1 / the step's trained tokens),
    /// where it knows it: bf16 autocast then writes the logits' gradient in the loss's forward, while each row is in
    /// cache (Bf16CrossEntropy.ComputeWithGradient)</param>
    public static SftBatchLoss Compute(Llama model, IReadOnlyList<PackedRow> rows, Device? device = null,
        bool fused = false, float? gradient = null)
    {
        var (inputs, positions, mask, targets) = Build(rows, device);
        if (fused)
        {
            var hidden = model.HiddenStates(inputs, positions, mask);                          // (B, T, C)
            var result = LinearCrossEntropy.Compute(hidden.reshape(-1, hidden.shape[^1]), model.OutputWeight, targets,
                model.ComputeDtype);
            return new SftBatchLoss(result.Sum, result.Tokens, result.Correct);
        }
        if (model.ComputeDtype == ScalarType.BFloat16 && targets.device_type == DeviceType.CPU)
        {
            // bf16 autocast: the LM head's bf16 logits go to the loss as they are (Bf16CrossEntropy: two passes over
            // them instead of six over a float32 copy), and their gradient is written over them: in the loss's
            // forward where the caller said what its backward will bring, else in its backward
            var lowLogits = model.Logits(model.HiddenStates(inputs, positions, mask));          // (B, T, V)
            var flatLogits = lowLogits.reshape(-1, lowLogits.shape[^1]);
            var result = gradient is { } g ? Bf16CrossEntropy.ComputeWithGradient(flatLogits, targets, g)
                : Bf16CrossEntropy.ComputeOverwriting(flatLogits, targets);
            return new SftBatchLoss(result.Sum, result.Tokens, result.Correct);
        }
        var logits = model.forward(inputs, positions, mask);                                   // (B, T, V)
        var flat = logits.reshape(-1, logits.shape[^1]);                                       // (B·T, V)
        var sum = nn.functional.cross_entropy(flat, targets, ignore_index: -100, reduction: nn.Reduction.Sum);
        using var _ = no_grad();
        var trained = targets.NotEqual(-100);
        long tokens = trained.sum().item<long>();
        long correct = flat.argmax(-1).eq(targets).logical_and(trained).sum().item<long>();
        return new SftBatchLoss(sum, tokens, correct);
    }
}
