// The Llama-family decoder on TorchSharp, written to read like the math (nanoGPT / llama2.c style):
// embeddings -> N x [RMSNorm -> attention with RoPE and a KV cache -> residual -> RMSNorm -> SwiGLU MLP -> residual]
// -> RMSNorm -> LM head. Submodules are named exactly like Hugging Face's state-dict keys, so a checkpoint loads as is.
using FineTune.Models;

namespace FineTune.Torch;

/// <summary>Per-layer key/value tensors for a batch: (B, kv_heads, max_len, head_dim) each.</summary>
public sealed class KvCache(Tensor[] keys, Tensor[] values) : IDisposable
{
    public Tensor[] Keys { get; } = keys;
    public Tensor[] Values { get; } = values;

    public static KvCache Create(LlamaConfig c, int batch, int maxLength, ScalarType dtype, Device device)
    {
        Tensor Make() => zeros([batch, c.NumKeyValueHeads, maxLength, c.HeadDim], dtype, device);
        return new KvCache(
            Enumerable.Range(0, c.NumHiddenLayers).Select(_ => Make()).ToArray(),
            Enumerable.Range(0, c.NumHiddenLayers).Select(_ => Make()).ToArray());
    }

    public void Dispose()
    {
        foreach (var t in Keys.Concat(Values)) t.Dispose();
    }
}

// ---- RMSNorm ----
public sealed class RmsNorm : nn.Module
{
    readonly Parameter weight;
    readonly double _eps;

    public RmsNorm(int dim, double eps) : base(nameof(RmsNorm))
    {
        weight = new Parameter(ones(dim));
        _eps = eps;
        RegisterComponents();
    }

    // x * rsqrt(mean(x^2) + eps) * weight, computed in float32 whatever the model dtype (as Hugging Face does).
    public Tensor forward(Tensor x)
    {
        var x32 = x.to(ScalarType.Float32);
        var normed = x32 * rsqrt(x32.pow(2).mean([-1], keepdim: true) + _eps);
        return weight * normed.to(x.dtype);
    }
}

// ---- Rotary position embedding ----
public static class RotaryEmbedding
{
    // x: (B, heads, T, hd); cos/sin: (B, 1, T, hd). Dimension i rotates with i + hd/2 ("rotate_half").
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        long half = x.shape[^1] / 2;
        var x1 = x.narrow(-1, 0, half);
        var x2 = x.narrow(-1, half, half);
        var rotated = cat([-x2, x1], -1);
        return x * cos + rotated * sin;
    }
}

// ---- Attention ----
public sealed class Attention : nn.Module
{
    readonly nn.Module<Tensor, Tensor> q_proj, k_proj, v_proj, o_proj;   // Linear, or LoraLinear when adapted
    readonly int _heads, _kvHeads, _headDim;
    readonly bool _useSdpa;

    public Attention(LlamaConfig c, bool useSdpa, LoraSettings? lora = null) : base(nameof(Attention))
    {
        _heads = c.NumAttentionHeads; _kvHeads = c.NumKeyValueHeads; _headDim = c.HeadDim; _useSdpa = useSdpa;
        q_proj = Projection.Create("q_proj", c.HiddenSize, _heads * _headDim, c.AttentionBias, lora);
        k_proj = Projection.Create("k_proj", c.HiddenSize, _kvHeads * _headDim, c.AttentionBias, lora);
        v_proj = Projection.Create("v_proj", c.HiddenSize, _kvHeads * _headDim, c.AttentionBias, lora);
        o_proj = Projection.Create("o_proj", _heads * _headDim, c.HiddenSize, false, lora);
        RegisterComponents();
    }

    /// <param name="x">(B, T, C)</param>
    /// <param name="mask">additive mask (B, 1, T, S): 0 where attending is allowed, -inf elsewhere</param>
    /// <param name="cache">when given, k/v are written at [start, start+T) and attention runs over [0, start+T)</param>
    public Tensor forward(Tensor x, Tensor cos, Tensor sin, Tensor mask, (Tensor Keys, Tensor Values)? cache, int start)
    {
        long B = x.shape[0], T = x.shape[1];
        // (B, T, C) -> (B, T, nh, hd) -> (B, nh, T, hd)
        var q = q_proj.forward(x).view(B, T, _heads, _headDim).transpose(1, 2);
        var k = k_proj.forward(x).view(B, T, _kvHeads, _headDim).transpose(1, 2);
        var v = v_proj.forward(x).view(B, T, _kvHeads, _headDim).transpose(1, 2);
        q = RotaryEmbedding.Apply(q, cos, sin);
        k = RotaryEmbedding.Apply(k, cos, sin);

        if (cache is var (keys, values))
        {
            keys.narrow(2, start, T).copy_(k);
            values.narrow(2, start, T).copy_(v);
            k = keys.narrow(2, 0, start + T);   // (B, nkv, S, hd)
            v = values.narrow(2, 0, start + T);
        }

        // Grouped-query attention: each kv head serves heads/kv_heads query heads. (B, nkv, S, hd) -> (B, nh, S, hd)
        if (_kvHeads != _heads)
        {
            k = k.repeat_interleave(_heads / _kvHeads, dim: 1);
            v = v.repeat_interleave(_heads / _kvHeads, dim: 1);
        }

        Tensor y;
        if (_useSdpa)
        {
            y = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask: mask.to(q.dtype));
        }
        else
        {
            // Reference path: softmax(q k^T / sqrt(hd) + mask) v, kept next to the fast path so tests can compare them.
            var scores = matmul(q, k.transpose(-2, -1)) / Math.Sqrt(_headDim) + mask.to(q.dtype); // (B, nh, T, S)
            y = matmul(softmax(scores.to(ScalarType.Float32), -1).to(q.dtype), v);                  // (B, nh, T, hd)
        }
        // (B, nh, T, hd) -> (B, T, nh*hd)
        return o_proj.forward(y.transpose(1, 2).reshape(B, T, _heads * _headDim));
    }
}

// ---- Projections: a plain Linear, or a LoRA-adapted one when the settings target it ----
static class Projection
{
    public static nn.Module<Tensor, Tensor> Create(string name, long inFeatures, long outFeatures, bool hasBias, LoraSettings? lora) =>
        lora is not null && lora.Targets(name)
            ? new LoraLinear(inFeatures, outFeatures, hasBias, lora.Rank, lora.Scaling, lora.Dropout)
            : nn.Linear(inFeatures, outFeatures, hasBias: hasBias);
}

// ---- MLP ----
public sealed class Mlp : nn.Module
{
    readonly nn.Module<Tensor, Tensor> gate_proj, up_proj, down_proj;

    public Mlp(int dim, int hidden, LoraSettings? lora = null) : base(nameof(Mlp))
    {
        gate_proj = Projection.Create("gate_proj", dim, hidden, false, lora);
        up_proj = Projection.Create("up_proj", dim, hidden, false, lora);
        down_proj = Projection.Create("down_proj", hidden, dim, false, lora);
        RegisterComponents();
    }

    // SwiGLU: down(silu(gate(x)) * up(x))
    public Tensor forward(Tensor x) => down_proj.forward(nn.functional.silu(gate_proj.forward(x)) * up_proj.forward(x));
}

// ---- Decoder block ----
public sealed class DecoderLayer : nn.Module
{
    readonly RmsNorm input_layernorm, post_attention_layernorm;
    readonly Attention self_attn;
    readonly Mlp mlp;

    public DecoderLayer(LlamaConfig c, bool useSdpa, LoraSettings? lora = null) : base(nameof(DecoderLayer))
    {
        input_layernorm = new RmsNorm(c.HiddenSize, c.RmsNormEps);
        self_attn = new Attention(c, useSdpa, lora);
        post_attention_layernorm = new RmsNorm(c.HiddenSize, c.RmsNormEps);
        mlp = new Mlp(c.HiddenSize, c.IntermediateSize, lora);
        RegisterComponents();
    }

    public Tensor forward(Tensor x, Tensor cos, Tensor sin, Tensor mask, (Tensor, Tensor)? cache, int start)
    {
        x = x + self_attn.forward(input_layernorm.forward(x), cos, sin, mask, cache, start);
        return x + mlp.forward(post_attention_layernorm.forward(x));
    }
}

// ---- The model ----
public sealed class LlamaBackbone : nn.Module
{
    internal readonly Embedding embed_tokens;
    internal readonly ModuleList<DecoderLayer> layers;
    internal readonly RmsNorm norm;

    public LlamaBackbone(LlamaConfig c, bool useSdpa, LoraSettings? lora = null) : base("model")
    {
        embed_tokens = nn.Embedding(c.VocabSize, c.HiddenSize);
        layers = nn.ModuleList(Enumerable.Range(0, c.NumHiddenLayers).Select(_ => new DecoderLayer(c, useSdpa, lora)).ToArray());
        norm = new RmsNorm(c.HiddenSize, c.RmsNormEps);
        RegisterComponents();
    }
}

public sealed class Llama : nn.Module
{
    readonly LlamaBackbone model;
    readonly Linear? lm_head;   // absent when tie_word_embeddings: the LM head is embed_tokens' weight
    readonly float[] _invFreq;  // (hd/2,) rotary inverse frequencies: a constant, kept out of the state dict

    public LlamaConfig Config { get; }
    public LoraSettings? Lora { get; }

    public Llama(LlamaConfig config, bool useSdpa = true, LoraSettings? lora = null) : base(nameof(Llama))
    {
        lora?.Validate();
        Config = config;
        Lora = lora;
        model = new LlamaBackbone(config, useSdpa, lora);
        if (!config.TieWordEmbeddings) lm_head = nn.Linear(config.HiddenSize, config.VocabSize, hasBias: false);
        _invFreq = Rope.InverseFrequencies(config);
        RegisterComponents();
    }

    /// <param name="inputIds">(B, T) token ids</param>
    /// <param name="positions">(B, T) rotary positions of each token</param>
    /// <param name="mask">(B, 1, T, S) additive attention mask</param>
    /// <returns>logits (B, T, vocab), in float32</returns>
    public Tensor forward(Tensor inputIds, Tensor positions, Tensor mask, KvCache? cache = null, int start = 0)
    {
        var x = model.embed_tokens.forward(inputIds);                                         // (B, T, C)
        // angles (B, T, hd/2) -> cos/sin (B, 1, T, hd), halves repeated to match rotate_half
        var angles = positions.to(ScalarType.Float32).unsqueeze(-1) * tensor(_invFreq, device: x.device);
        var cos = cat([angles.cos(), angles.cos()], -1).unsqueeze(1).to(x.dtype);
        var sin = cat([angles.sin(), angles.sin()], -1).unsqueeze(1).to(x.dtype);
        for (int i = 0; i < model.layers.Count; i++)
        {
            (Tensor, Tensor)? layerCache = cache is null ? null : (cache.Keys[i], cache.Values[i]);
            x = model.layers[i].forward(x, cos, sin, mask, layerCache, start);
        }
        x = model.norm.forward(x);
        var logits = lm_head is null ? matmul(x, model.embed_tokens.weight!.t()) : lm_head.forward(x);
        return logits.to(ScalarType.Float32);
    }

    /// <summary>The adapter parameters (PEFT names without the base_model.model. prefix), empty without LoRA.</summary>
    public IEnumerable<(string Name, Parameter Parameter)> AdapterParameters() =>
        named_parameters().Where(p => p.name.Contains(".lora_", StringComparison.Ordinal));

    /// <summary>Computes the base model alone until disposed (every LoRA layer's adapter switched off).</summary>
    public IDisposable AdaptersDisabled()
    {
        var layers = modules().OfType<LoraLinear>().Where(l => l.AdaptersEnabled).ToList();
        foreach (var l in layers) l.AdaptersEnabled = false;
        return new Restore(() => { foreach (var l in layers) l.AdaptersEnabled = true; });
    }

    sealed class Restore(Action restore) : IDisposable
    {
        public void Dispose() => restore();
    }

    /// <summary>Causal mask for one unpadded sequence of length T, optionally limited to a sliding window: (1, 1, T, T).</summary>
    public static Tensor CausalMask(long length, int? slidingWindow = null, Device? device = null)
    {
        var future = triu(full([length, length], float.NegativeInfinity, device: device), 1);
        var mask = slidingWindow is { } w ? future + tril(full([length, length], float.NegativeInfinity, device: device), -w) : future;
        return mask.view(1, 1, length, length);
    }
}
