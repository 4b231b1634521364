// Reads llama2.c checkpoints (the legacy version-0 `.bin`: a 7-int32 header, then float32 arrays) into Hugging Face
// names and layout. llama2.c rotates interleaved pairs (2i, 2i+1); Hugging Face rotates halves (i, i + head/2), so the
// q/k rows are permuted per head, exactly as Hugging Face's own conversion script does.
using System.Runtime.InteropServices;

namespace FineTune.Models.Checkpoints;

public static class Llama2cCheckpoint
{
    public static (LlamaConfig Config, IReadOnlyList<TensorData> Tensors) Read(string path)
    {
        if (!File.Exists(path))
            throw new ModelFormatException($"llama2.c checkpoint not found: '{path}'.");
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 28)
            throw new ModelFormatException($"{path}: {bytes.Length} bytes is too short for the 7-int header of a " +
                $"llama2.c checkpoint.");
        var header = MemoryMarshal.Cast<byte, int>(bytes.AsSpan(0, 28));
        int dim = header[0], hidden = header[1], layers = header[2], heads = header[3], kvHeads = header[4],
            vocabField = header[5], seqLen = header[6];
        bool shared = vocabField > 0;
        int vocab = Math.Abs(vocabField);
        string[] fields = ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"];
        for (int i = 0; i < 7; i++)
            if (header[i] == 0 || (i != 5 && header[i] < 0) || Math.Abs((long)header[i]) > 1_000_000)
                throw new ModelFormatException($"{path}: header field '{fields[i]}' = {header[i]} is not a " +
                    $"plausible size (is this a llama2.c version-0 checkpoint?).");

        var config = new LlamaConfig
        {
            ModelType = "llama",
            HiddenSize = dim, IntermediateSize = hidden, NumHiddenLayers = layers,
            NumAttentionHeads = heads, NumKeyValueHeads = kvHeads, VocabSize = vocab,
            MaxPositionEmbeddings = seqLen, RmsNormEps = 1e-5, RopeTheta = 10000.0,
            TieWordEmbeddings = shared, BosTokenId = 1, EosTokenIds = [2], TorchDtype = "float32",
        };
        config.Validate(path);

        long kvDim = (long)kvHeads * config.HeadDim;
        long weights = (long)vocab * dim + layers * (2L * dim + 2L * dim * dim + 2L * kvDim * dim + 3L * hidden
            * dim) + dim;
        long freqCis = (long)seqLen * config.HeadDim; // real + imag halves, unused by us
        long classifier = shared ? 0 : (long)vocab * dim;
        long withFreq = 28 + 4 * (weights + freqCis + classifier), withoutFreq = 28 + 4 * (weights + classifier);
        if (bytes.Length != withFreq && bytes.Length != withoutFreq)
            throw new ModelFormatException($"{path}: {bytes.Length} bytes, but the header (dim {dim}, hidden " +
                $"{hidden}, layers {layers}, heads {heads}, kv heads {kvHeads}, vocab {vocabField}, seq_len " +
                $"{seqLen}) implies {withFreq} bytes (truncated or not a llama2.c checkpoint?).");

        var floats = new float[(bytes.Length - 28) / 4];
        Buffer.BlockCopy(bytes, 28, floats, 0, floats.Length * 4);
        long offset = 0;
        float[] Take(long count)
        {
            var chunk = floats.AsSpan((int)offset, (int)count).ToArray();
            offset += count;
            return chunk;
        }

        var embed = Take((long)vocab * dim);
        var rmsAtt = Take((long)layers * dim);
        var wq = Take((long)layers * dim * dim);
        var wk = Take(layers * kvDim * dim);
        var wv = Take(layers * kvDim * dim);
        var wo = Take((long)layers * dim * dim);
        var rmsFfn = Take((long)layers * dim);
        var w1 = Take((long)layers * hidden * dim);
        var w2 = Take((long)layers * dim * hidden);
        var w3 = Take((long)layers * hidden * dim);
        var rmsFinal = Take(dim);
        if (bytes.Length == withFreq)
            offset += freqCis;
        var wcls = shared ? null : Take((long)vocab * dim);

        var tensors = new List<TensorData> { TensorData.FromFloat32("model.embed_tokens.weight", [vocab, dim], embed) };
        for (int l = 0; l < layers; l++)
        {
            var p = $"model.layers.{l}.";
            tensors.Add(TensorData.FromFloat32(p + "input_layernorm.weight", [dim], Slice(rmsAtt, l, dim)));
            tensors.Add(TensorData.FromFloat32(p + "self_attn.q_proj.weight", [dim, dim],
                InterleavedToHalves(Slice(wq, l, (long)dim * dim), heads, dim)));
            tensors.Add(TensorData.FromFloat32(p + "self_attn.k_proj.weight", [kvDim, dim],
                InterleavedToHalves(Slice(wk, l, kvDim * dim), kvHeads, dim)));
            tensors.Add(TensorData.FromFloat32(p + "self_attn.v_proj.weight", [kvDim, dim], Slice(wv, l, kvDim * dim)));
            tensors.Add(TensorData.FromFloat32(p + "self_attn.o_proj.weight", [dim, dim],
                Slice(wo, l, (long)dim * dim)));
            tensors.Add(TensorData.FromFloat32(p + "post_attention_layernorm.weight", [dim], Slice(rmsFfn, l, dim)));
            tensors.Add(TensorData.FromFloat32(p + "mlp.gate_proj.weight", [hidden, dim],
                Slice(w1, l, (long)hidden * dim)));
            tensors.Add(TensorData.FromFloat32(p + "mlp.down_proj.weight", [dim, hidden],
                Slice(w2, l, (long)dim * hidden)));
            tensors.Add(TensorData.FromFloat32(p + "mlp.up_proj.weight", [hidden, dim],
                Slice(w3, l, (long)hidden * dim)));
        }
        tensors.Add(TensorData.FromFloat32("model.norm.weight", [dim], rmsFinal));
        if (wcls is not null)
            tensors.Add(TensorData.FromFloat32("lm_head.weight", [vocab, dim], wcls));
        return (config, tensors);
    }

    static ReadOnlySpan<float> Slice(float[] all, int layer, long perLayer) =>
        all.AsSpan((int)(layer * perLayer), (int)perLayer);

    // (heads, head/2, 2, in) -> (heads, 2, head/2, in): row 2i of a head becomes row i, row 2i+1 becomes row i +
    // head/2.
    static float[] InterleavedToHalves(ReadOnlySpan<float> w, int heads, int inFeatures)
    {
        int rows = w.Length / inFeatures, headDim = rows / heads, half = headDim / 2;
        var result = new float[w.Length];
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < half; i++)
                for (int t = 0; t < 2; t++)
                {
                    int from = h * headDim + 2 * i + t, to = h * headDim + t * half + i;
                    w.Slice(from * inFeatures, inFeatures).CopyTo(result.AsSpan(to * inFeatures, inFeatures));
                }
        return result;
    }
}
