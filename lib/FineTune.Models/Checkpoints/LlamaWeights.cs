// The tensor names and shapes a Llama-family config implies, in Hugging Face naming, and the check that a checkpoint
// matches them (a missing tensor or a wrong shape names both shapes).
namespace FineTune.Models.Checkpoints;

public static class LlamaWeights
{
    /// <summary>A sequence classifier's head (labels, hidden), Hugging Face's name.</summary>
    public const string ScoreWeight = "score.weight";

    public static IReadOnlyList<(string Name, long[] Shape)> Expected(LlamaConfig c)
    {
        long d = c.HiddenSize, q = (long)c.NumAttentionHeads * c.HeadDim, kv = (long)c.NumKeyValueHeads * c.HeadDim;
        var list = new List<(string, long[])> { ("model.embed_tokens.weight", [c.VocabSize, d]) };
        for (int i = 0; i < c.NumHiddenLayers; i++)
        {
            var p = $"model.layers.{i}.";
            list.Add((p + "input_layernorm.weight", [d]));
            list.Add((p + "self_attn.q_proj.weight", [q, d]));
            list.Add((p + "self_attn.k_proj.weight", [kv, d]));
            list.Add((p + "self_attn.v_proj.weight", [kv, d]));
            if (c.AttentionBias)
            {
                list.Add((p + "self_attn.q_proj.bias", [q]));
                list.Add((p + "self_attn.k_proj.bias", [kv]));
                list.Add((p + "self_attn.v_proj.bias", [kv]));
            }
            list.Add((p + "self_attn.o_proj.weight", [d, q]));
            list.Add((p + "post_attention_layernorm.weight", [d]));
            list.Add((p + "mlp.gate_proj.weight", [c.IntermediateSize, d]));
            list.Add((p + "mlp.up_proj.weight", [c.IntermediateSize, d]));
            list.Add((p + "mlp.down_proj.weight", [d, c.IntermediateSize]));
        }
        list.Add(("model.norm.weight", [d]));
        if (c.NumLabels is { } labels)
            list.Add((ScoreWeight, [labels, d]));
        else if (!c.TieWordEmbeddings)
            list.Add(("lm_head.weight", [c.VocabSize, d]));
        return list;
    }

    /// <summary>Throws <see cref="ModelFormatException"/> naming the first tensor that is missing or
    /// mis-shaped.</summary>
    public static void Check(LlamaConfig config, Func<string, TensorInfo?> describe, string source)
    {
        foreach (var (name, shape) in Expected(config))
        {
            var info = describe(name)
                ?? throw new ModelFormatException($"{source}: tensor '{name}' is missing (expected shape " +
                    $"[{string.Join(", ", shape)}]).");
            if (!info.Shape.SequenceEqual(shape))
                throw new ModelFormatException($"{source}: tensor '{name}' has shape {info.ShapeText}, expected " +
                    $"[{string.Join(", ", shape)}] from config.json.");
        }
    }

    /// <summary>
    /// Random weights for <paramref name="config"/> (normal with std 0.02, norms at 1), deterministic for a seed:
    /// for tests, benchmarks and as the starting point of a model pretrained from scratch.
    /// </summary>
    public static IReadOnlyList<TensorData> Random(LlamaConfig config, int seed, float std = 0.02f)
    {
        var random = new System.Random(seed);
        var tensors = new List<TensorData>();
        foreach (var (name, shape) in Expected(config))
        {
            var values = new float[shape.Aggregate(1L, (a, b) => a * b)];
            bool isNorm = name.EndsWith("norm.weight", StringComparison.Ordinal);
            for (int i = 0; i < values.Length; i++)
                values[i] = isNorm ? 1f + std * (float)random.NextGaussian() : std * (float)random.NextGaussian();
            tensors.Add(TensorData.FromFloat32(name, shape, values));
        }
        return tensors;
    }

    static double NextGaussian(this System.Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
