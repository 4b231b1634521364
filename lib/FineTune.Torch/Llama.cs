// The Llama-family decoder on TorchSharp, written to read like the math (nanoGPT / llama2.c style):
// embeddings -> N x [RMSNorm -> attention with RoPE and a KV cache -> residual -> RMSNorm -> SwiGLU MLP -> residual]
// -> RMSNorm -> LM head. Submodules are named exactly like Hugging Face's state-dict keys, so a checkpoint loads as is.
using FineTune.Models;
using FineTune.Models.Checkpoints;

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
        foreach (var t in Keys.Concat(Values))
            t.Dispose();
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

    // x * rsqrt(mean(x^2) + eps) * weight, computed in float32 whatever the model dtype (as Hugging Face does);
    // float32 on the CPU as one function forward and backward (FusedRmsNorm).
    public Tensor forward(Tensor x)
    {
        if (FusedRmsNorm.Supports(x, weight))
            return FusedRmsNorm.Compute(x, weight, _eps);
        var x32 = x.to(ScalarType.Float32);
        // not square(): it is pow(2), an implicit Scalar
        var normed = x32 * rsqrt((x32 * x32).mean([-1], keepdim: true).Plus(_eps));
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
        return (x * cos).Plus(rotated * sin);
    }

    /// <summary>x (B, T, heads, hd) as the projection left it: rotated and returned as (B, heads, T, hd); float32 on
    /// the CPU in one function forward and backward (FusedRope).</summary>
    public static Tensor ApplyToHeads(Tensor x, Tensor cos, Tensor sin) => FusedRope.Supports(x, cos)
        ? FusedRope.Compute(x, cos, sin).transpose(1, 2)
        : Apply(x.transpose(1, 2), cos, sin);
}

// ---- Attention ----
public sealed class Attention : nn.Module
{
    readonly nn.Module<Tensor, Tensor> q_proj, k_proj, v_proj, o_proj;   // Linear, or LoraLinear when adapted
    readonly int _heads, _kvHeads, _headDim;
    readonly bool _useSdpa;

    // Score elements up to which bf16 autocast computes attention explicitly (bf16 scores and probabilities, kept for
    // backward: 4 bytes an element, 256 MB)
    const long LowPrecisionScoresLimit = 64L << 20;

    /// <summary>bf16 autocast: attention's two products in this dtype (set with the model's ComputeDtype).</summary>
    public ScalarType? ComputeDtype { get; set; }

    public Attention(LlamaConfig c, bool useSdpa, PeftSettings? adapter = null) : base(nameof(Attention))
    {
        _heads = c.NumAttentionHeads;
        _kvHeads = c.NumKeyValueHeads;
        _headDim = c.HeadDim;
        _useSdpa = useSdpa;
        q_proj = Projection.Create("q_proj", c.HiddenSize, _heads * _headDim, c.AttentionBias, adapter);
        k_proj = Projection.Create("k_proj", c.HiddenSize, _kvHeads * _headDim, c.AttentionBias, adapter);
        v_proj = Projection.Create("v_proj", c.HiddenSize, _kvHeads * _headDim, c.AttentionBias, adapter);
        o_proj = Projection.Create("o_proj", _heads * _headDim, c.HiddenSize, false, adapter);
        RegisterComponents();
    }

    /// <param name="x">(B, T, C)</param>
    /// <param name="mask">additive mask (B, 1, T, S): 0 where attending is allowed, -inf elsewhere</param>
    /// <param name="cache">when given, k/v are written at [start, start+T) and attention runs over [0, start+T)</param>
    /// <param name="prefix">prefix tuning: learned keys and values (B, nkv, P, hd) placed before the sequence's,
    /// without RoPE</param>
    public Tensor forward(Tensor x, Tensor cos, Tensor sin, Tensor mask, (Tensor Keys, Tensor Values)? cache, int start,
        (Tensor Keys, Tensor Values)? prefix = null)
    {
        long B = x.shape[0], T = x.shape[1];
        Tensor q, k, v;
        var heads = FusedHeads(x, cos, sin, cache, prefix);
        bool fused = heads is { };
        if (fused)
            (q, k, v) = heads!.Value;   // bf16, q scaled
        else
        {
            // (B, T, C) -> (B, T, nh, hd) -> (B, nh, T, hd)
            q = RotaryEmbedding.ApplyToHeads(q_proj.forward(x).view(B, T, _heads, _headDim), cos, sin);
            k = RotaryEmbedding.ApplyToHeads(k_proj.forward(x).view(B, T, _kvHeads, _headDim), cos, sin);
            v = v_proj.forward(x).view(B, T, _kvHeads, _headDim).transpose(1, 2);
        }

        if (cache is var (keys, values))
        {
            keys.narrow(2, start, T).copy_(k);
            values.narrow(2, start, T).copy_(v);
            k = keys.narrow(2, 0, start + T);   // (B, nkv, S, hd)
            v = values.narrow(2, 0, start + T);
        }
        if (prefix is var (prefixKeys, prefixValues))
        {
            k = cat([prefixKeys.to(k.dtype), k], 2);   // (B, nkv, P+S, hd)
            v = cat([prefixValues.to(v.dtype), v], 2);
        }

        // Grouped-query attention: each kv head serves heads/kv_heads query heads. (B, nkv, S, hd) -> (B, nh, S, hd)
        if (_kvHeads != _heads)
        {
            k = k.repeat_interleave(_heads / _kvHeads, dim: 1);
            v = v.repeat_interleave(_heads / _kvHeads, dim: 1);
        }

        Tensor y;
        if (ComputeDtype is { } d && d != x.dtype && B * _heads * T * k.shape[2] <= LowPrecisionScoresLimit)
        {
            // bf16 autocast, as torch.autocast runs attention on CPU: both products in bf16 with float32
            // accumulation, q scaled before its cast, the softmax accumulated in float32 (libtorch's bf16 softmax
            // does). Explicit products rather than SDPA: at head size 48 and 256 positions, forward and backward take
            // 7-10 ms a layer against SDPA's 22-39 (stories15M shape, batch 8, 2 cores). Only where the (B, nh, T, S)
            // scores are small: SDPA never holds them. The mask and softmax as one pass each way where the CPU has
            // 512-bit vectors (FusedMaskedSoftmax).
            var scaled = fused ? q : q.Times(1 / Math.Sqrt(_headDim)).to(d);
            var scores = matmul(scaled, k.to(d).transpose(-2, -1));
            var probabilities = FusedMaskedSoftmax.Supports(scores, mask)
                ? FusedMaskedSoftmax.Compute(scores, mask)
                : softmax(scores.Plus(mask.to(d)), -1);
            y = matmul(probabilities, v.to(d));                                       // (B, nh, T, hd), in bf16
        }
        else if (_useSdpa)
        {
            y = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask: mask.to(q.dtype));
        }
        else
        {
            // Reference path: softmax(q k^T / sqrt(hd) + mask) v, kept next to the fast path so tests can compare them.
            // (B, nh, T, S)
            var scores = matmul(q, k.transpose(-2, -1)).Times(1 / Math.Sqrt(_headDim)).Plus(mask.to(q.dtype));
            y = matmul(softmax(scores.to(ScalarType.Float32), -1).to(q.dtype), v);                  // (B, nh, T, hd)
        }
        // (B, nh, T, hd) -> (B, T, nh*hd)
        var merged = y.transpose(1, 2).reshape(B, T, _heads * _headDim);
        // bf16 autocast: a plain projection takes the bf16 heads as they are (a round trip through float32 was exact,
        // so the numbers are the ones it gave)
        return o_proj is AutocastLinear plain && plain.ComputeDtype == merged.dtype && merged.dtype != x.dtype
            ? plain.ForwardInComputeDtype(merged).to(x.dtype)
            : o_proj.forward(merged.to(x.dtype));
    }

    // bf16 autocast over plain q, k and v projections without a cache or prefix, where the explicit bf16 attention
    // above runs: one product for the three (their bf16 weights stacked), whose bf16 output FusedQkvRope splits into
    // heads, rotates and scales in one pass. Otherwise null: the projections one by one.
    (Tensor Q, Tensor K, Tensor V)? FusedHeads(Tensor x, Tensor cos, Tensor sin, (Tensor, Tensor)? cache,
        (Tensor, Tensor)? prefix)
    {
        if (cache is not null || prefix is not null || ComputeDtype != ScalarType.BFloat16 || x.dtype == ComputeDtype
            || x.device_type != DeviceType.CPU || x.dim() != 3
            || x.shape[0] * _heads * x.shape[1] * x.shape[1] > LowPrecisionScoresLimit
            || !FusedQkvRope.SupportsAngles(cos, sin, x.shape[0], x.shape[1], _headDim)
            || AutocastLinear.Stackable([q_proj, k_proj, v_proj], ScalarType.BFloat16) is not { } projections)
            return null;
        return FusedQkvRope.Compute(AutocastLinear.ForwardStacked(x, projections), cos, sin, _heads, _kvHeads,
            _headDim);
    }
}

// ---- Projections: a plain linear layer, or a LoRA/DoRA- or IA³-adapted one when the settings target it ----
static class Projection
{
    public static nn.Module<Tensor, Tensor> Create(string name, long inFeatures, long outFeatures, bool hasBias,
        PeftSettings? adapter) => adapter switch
        {
            LoraSettings lora when lora.Targets(name) =>
                new LoraLinear(inFeatures, outFeatures, hasBias, lora.Rank, lora.Scaling, lora.Dropout, lora.UseDora),
            Ia3Settings ia3 when ia3.Targets(name) =>
                new Ia3Linear(inFeatures, outFeatures, hasBias, ia3.IsFeedforward(name)),
            _ => new AutocastLinear(inFeatures, outFeatures, hasBias),
        };
}

/// <summary>nn.Linear with the same parameter names and initialisation, whose matmul can run in an autocast
/// dtype.</summary>
public sealed class AutocastLinear : nn.Module<Tensor, Tensor>, ILinearLayer
{
    readonly Parameter weight;
    readonly Parameter? bias;

    public AutocastLinear(long inFeatures, long outFeatures, bool hasBias) : base(nameof(AutocastLinear))
    {
        weight = new Parameter(empty(outFeatures, inFeatures));
        nn.init.kaiming_uniform_(weight, Math.Sqrt(5));                    // nn.Linear's reset_parameters
        if (hasBias)
        {
            double bound = 1 / Math.Sqrt(inFeatures);
            bias = new Parameter(empty(outFeatures));
            nn.init.uniform_(bias, -bound, bound);
        }
        RegisterComponents();
    }

    public Parameter Weight => weight;

    /// <summary>bfloat16 autocast: inputs and weights are cast for the matmul, the output returns in the input's
    /// dtype.</summary>
    public ScalarType? ComputeDtype { get; set; }

    /// <summary>No adapter here.</summary>
    public bool AdaptersEnabled { get => true; set { } }

    public override Tensor forward(Tensor x) => ComputeDtype is { } d && d != x.dtype
        ? nn.functional.linear(x.to(d), weight.to(d), bias?.to(d)).to(x.dtype)
        : nn.functional.linear(x, weight, bias);

    /// <summary>The layers as plain projections that all multiply in dtype and all have a bias or none (what
    /// ForwardStacked takes), else null.</summary>
    public static AutocastLinear[]? Stackable(IReadOnlyList<nn.Module<Tensor, Tensor>> layers, ScalarType dtype)
    {
        var plain = layers.OfType<AutocastLinear>().ToArray();
        return plain.Length == layers.Count && plain.All(l => l.ComputeDtype == dtype)
            && plain.All(l => (l.bias is null) == (plain[0].bias is null)) ? plain : null;
    }

    /// <summary>Several projections of one input as one product in their ComputeDtype: x cast once, the weights (and
    /// biases) cast and stacked, the outputs side by side (…, Σ out) in that dtype. The input's gradient is then one
    /// product over all of them, accumulated in float32 (not one bf16 gradient per layer, summed).</summary>
    public static Tensor ForwardStacked(Tensor x, IReadOnlyList<AutocastLinear> layers)
    {
        var d = layers[0].ComputeDtype ?? x.dtype;
        var weight = cat(layers.Select(l => l.weight.to(d)).ToArray(), 0);
        var bias = layers[0].bias is null ? null : cat(layers.Select(l => l.bias!.to(d)).ToArray(), 0);
        return nn.functional.linear(x.to(d), weight, bias);
    }

    /// <summary>Autocast without the cast back: the product in ComputeDtype (x cast to it unless already in it), for
    /// a caller whose next step takes that dtype too.</summary>
    public Tensor ForwardInComputeDtype(Tensor x) => ComputeDtype is { } d
        ? nn.functional.linear(x.to(d), weight.to(d), bias?.to(d))
        : forward(x);
}

// ---- MLP ----
public sealed class Mlp : nn.Module
{
    readonly nn.Module<Tensor, Tensor> gate_proj, up_proj, down_proj;

    public Mlp(int dim, int hidden, PeftSettings? adapter = null) : base(nameof(Mlp))
    {
        gate_proj = Projection.Create("gate_proj", dim, hidden, false, adapter);
        up_proj = Projection.Create("up_proj", dim, hidden, false, adapter);
        down_proj = Projection.Create("down_proj", hidden, dim, false, adapter);
        RegisterComponents();
    }

    // SwiGLU: down(silu(gate(x)) * up(x))
    public Tensor forward(Tensor x)
    {
        // bf16 autocast over plain gate and up projections: their bf16 outputs go through one fused gating pass, whose
        // bf16 result a plain down projection takes as it is
        if (gate_proj is AutocastLinear gate && up_proj is AutocastLinear up && gate.ComputeDtype is { } d
            && up.ComputeDtype == d && d == ScalarType.BFloat16 && FusedSwiGlu.Enabled
            && x.device_type == DeviceType.CPU)
        {
            var h = FusedSwiGlu.Compute(gate.ForwardInComputeDtype(x), up.ForwardInComputeDtype(x));
            return (down_proj is AutocastLinear down && down.ComputeDtype == d
                ? down.ForwardInComputeDtype(h)
                : down_proj.forward(h.to(x.dtype))).to(x.dtype);
        }
        return down_proj.forward(nn.functional.silu(gate_proj.forward(x)) * up_proj.forward(x));
    }
}

// ---- Decoder block ----
public sealed class DecoderLayer : nn.Module
{
    readonly RmsNorm input_layernorm, post_attention_layernorm;
    readonly Attention self_attn;
    readonly Mlp mlp;

    public DecoderLayer(LlamaConfig c, bool useSdpa, PeftSettings? adapter = null) : base(nameof(DecoderLayer))
    {
        input_layernorm = new RmsNorm(c.HiddenSize, c.RmsNormEps);
        self_attn = new Attention(c, useSdpa, adapter);
        post_attention_layernorm = new RmsNorm(c.HiddenSize, c.RmsNormEps);
        mlp = new Mlp(c.HiddenSize, c.IntermediateSize, adapter);
        RegisterComponents();
    }

    public Tensor forward(Tensor x, Tensor cos, Tensor sin, Tensor mask, (Tensor, Tensor)? cache, int start,
        (Tensor, Tensor)? prefix = null)
    {
        x = x.Plus(self_attn.forward(input_layernorm.forward(x), cos, sin, mask, cache, start, prefix));
        return x.Plus(mlp.forward(post_attention_layernorm.forward(x)));
    }
}

// ---- The model ----
public sealed class LlamaBackbone : nn.Module
{
    internal readonly Embedding embed_tokens;
    internal readonly ModuleList<DecoderLayer> layers;
    internal readonly RmsNorm norm;

    public LlamaBackbone(LlamaConfig c, bool useSdpa, PeftSettings? adapter = null) : base("model")
    {
        embed_tokens = nn.Embedding(c.VocabSize, c.HiddenSize);
        layers = nn.ModuleList(Enumerable.Range(0,
            c.NumHiddenLayers).Select(_ => new DecoderLayer(c, useSdpa, adapter)).ToArray());
        norm = new RmsNorm(c.HiddenSize, c.RmsNormEps);
        RegisterComponents();
    }
}

public sealed class Llama : nn.Module
{
    readonly LlamaBackbone model;
    readonly AutocastLinear? lm_head;   // absent when tie_word_embeddings: the LM head is embed_tokens' weight
    readonly AutocastLinear? score;     // a sequence classifier's head (labels, C) instead of the LM head
    readonly Parameter? prompt_embeddings; // prompt tuning (P, C) or prefix tuning (P, layers·2·kv_dim), PEFT's name
    readonly float[] _invFreq;          // (hd/2,) rotary inverse frequencies: a constant, kept out of the state dict

    public LlamaConfig Config { get; }
    /// <summary>The PEFT method the model was built with, or null for a plain (fully trainable) model.</summary>
    public PeftSettings? Adapter { get; }
    public LoraSettings? Lora => Adapter as LoraSettings;

    public Llama(LlamaConfig config, bool useSdpa = true, PeftSettings? adapter = null) : base(nameof(Llama))
    {
        adapter?.Validate();
        Config = config;
        Adapter = adapter;
        model = new LlamaBackbone(config, useSdpa, adapter);
        if (config.NumLabels is { } labels)
            score = new AutocastLinear(config.HiddenSize, labels, hasBias: false);
        else if (!config.TieWordEmbeddings)
            lm_head = new AutocastLinear(config.HiddenSize, config.VocabSize, hasBias: false);
        if (adapter is PromptSettings prompt)
        {
            long width = prompt.Prefix ? 2L * config.NumHiddenLayers * config.NumKeyValueHeads * config.HeadDim
                : config.HiddenSize;
            // nn.Embedding's N(0, 1), PEFT's RANDOM init
            prompt_embeddings = new Parameter(randn(prompt.NumVirtualTokens, width));
        }
        _invFreq = Rope.InverseFrequencies(config);
        RegisterComponents();
    }

    /// <summary>Recompute each decoder layer's activations in backward instead of keeping them (training
    /// only).</summary>
    public bool GradientCheckpointing { get; set; }

    /// <summary>bfloat16 autocast: every projection (and the LM head) multiplies in this dtype; null = the weights'
    /// own.</summary>
    public ScalarType? ComputeDtype
    {
        get;
        set
        {
            field = value;
            foreach (var layer in modules().OfType<ILinearLayer>())
                layer.ComputeDtype = value;
            foreach (var attention in modules().OfType<Attention>())
                attention.ComputeDtype = value;
        }
    }

    /// <summary>Positions prompt tuning adds in front of every sequence (a KV cache needs this many more), else
    /// 0.</summary>
    public int VirtualTokens => Adapter is PromptSettings { Prefix: false } p ? p.NumVirtualTokens : 0;

    /// <param name="inputIds">(B, T) token ids</param>
    /// <param name="positions">(B, T) rotary positions of each token</param>
    /// <param name="mask">(B, 1, T, S) additive attention mask</param>
    /// <returns>logits (B, T, vocab), in float32 (virtual tokens of prompt tuning are not included)</returns>
    public Tensor forward(Tensor inputIds, Tensor positions, Tensor mask, KvCache? cache = null, int start = 0)
    {
        if (score is not null)
            throw new InvalidOperationException("a sequence classifier (reward model) has no LM head: call Scores.");
        return Logits(HiddenStates(inputIds, positions, mask, cache, start)).to(ScalarType.Float32);
    }

    /// <summary>The LM head over final hidden states (…, C): logits (…, V) in the compute dtype under autocast
    /// (bf16), else in the weights' own.</summary>
    public Tensor Logits(Tensor hidden)
    {
        var w = OutputWeight;
        return ComputeDtype is { } d && d != hidden.dtype ? nn.functional.linear(hidden.to(d), w.to(d))
            : nn.functional.linear(hidden, w);
    }

    /// <summary>The LM head's weight (V, C): lm_head, or embed_tokens when tied.</summary>
    public Parameter OutputWeight => score is null ? lm_head?.Weight ?? model.embed_tokens.weight!
        : throw new InvalidOperationException("a sequence classifier (reward model) has no LM head.");

    /// <summary>A sequence classifier's scores, read at each row's last token as Hugging Face's
    /// …ForSequenceClassification does: (B, labels) float32.</summary>
    /// <param name="lastIndex">(B,) int64: the position of each row's last real token</param>
    public Tensor Scores(Tensor inputIds, Tensor positions, Tensor mask, Tensor lastIndex)
    {
        if (score is null)
            throw new InvalidOperationException("a causal LM has no score head: load the model as a reward model.");
        var hidden = HiddenStates(inputIds, positions, mask);                                // (B, T, C)
        long width = hidden.shape[^1];
        var last = hidden.gather(1, lastIndex.view(-1, 1, 1).expand(-1, 1, width)).squeeze(1);   // (B, C)
        return score.forward(last).to(ScalarType.Float32);
    }

    /// <summary>The final normed hidden states (B, T, C) that the LM head reads.</summary>
    public Tensor HiddenStates(Tensor inputIds, Tensor positions, Tensor mask, KvCache? cache = null, int start = 0)
    {
        var x = model.embed_tokens.forward(inputIds);                                         // (B, T, C)
        // Prompt or prefix tuning puts virtual tokens before the real ones (a no-op without them): VirtualTokenModule.
        var input = VirtualTokenModule.Apply(prompt_embeddings, AdaptersEnabled ? Adapter as PromptSettings : null,
            Config, x, positions, mask, start);
        x = input.X;
        // angles (B, T, hd/2) -> cos/sin (B, 1, T, hd), halves repeated to match rotate_half
        var angles = input.Positions.to(ScalarType.Float32).unsqueeze(-1) * tensor(_invFreq, device: x.device);
        var cos = cat([angles.cos(), angles.cos()], -1).unsqueeze(1).to(x.dtype);
        var sin = cat([angles.sin(), angles.sin()], -1).unsqueeze(1).to(x.dtype);
        bool recompute = GradientCheckpointing && training && is_grad_enabled() && cache is null;
        // A recomputed layer joins the graph through its input: with frozen embeddings that input needs requires_grad
        // (Hugging Face's enable_input_require_grads), or nothing upstream of the last layer would receive gradients.
        if (recompute && !x.requires_grad)
            x = x.detach().requires_grad_(true);
        for (int i = 0; i < model.layers.Count; i++)
        {
            (Tensor, Tensor)? layerCache = cache is null ? null : (cache.Keys[i], cache.Values[i]);
            (Tensor, Tensor)? prefix = input.Prefixes?[i];
            x = recompute
                ? CheckpointedLayer.Apply(model.layers[i], x, cos, sin, input.Mask, prefix)
                : model.layers[i].forward(x, cos, sin, input.Mask, layerCache, input.Start, prefix);
        }
        return input.WithoutVirtual(model.norm.forward(x));
    }

    /// <summary>The trainable adapter parameters (PEFT names without the base_model.model. prefix), empty without an
    /// adapter. A sequence classifier's score head counts as one (PEFT's modules_to_save): new, trained with
    /// them.</summary>
    public IEnumerable<(string Name, Parameter Parameter)> AdapterParameters() =>
        Adapter is null ? [] : named_parameters().Where(p => p.name.Contains(".lora_", StringComparison.Ordinal)
            || p.name.EndsWith(".ia3_l", StringComparison.Ordinal) || p.name == "prompt_embeddings"
            || p.name == LlamaWeights.ScoreWeight);

    bool AdaptersEnabled { get; set; } = true;

    /// <summary>Computes the base model alone until disposed (every adapter switched off).</summary>
    public IDisposable AdaptersDisabled()
    {
        var enabled = modules().OfType<ILinearLayer>().Where(l => l.AdaptersEnabled).ToList();
        bool virtualTokens = AdaptersEnabled;
        foreach (var l in enabled)
            l.AdaptersEnabled = false;
        AdaptersEnabled = false;
        return new Restore(() =>
        {
            foreach (var l in enabled)
                l.AdaptersEnabled = true;
            AdaptersEnabled = virtualTokens;
        });
    }

    sealed class Restore(Action restore) : IDisposable
    {
        public void Dispose() => restore();
    }

    /// <summary>Causal mask for one unpadded sequence of length T, optionally limited to a sliding window: (1, 1, T,
    /// T).</summary>
    public static Tensor CausalMask(long length, int? slidingWindow = null, Device? device = null)
    {
        var future = triu(ScalarOps.Filled([length, length], float.NegativeInfinity, device: device), 1);
        var mask = slidingWindow is { } w ? future.Plus(tril(ScalarOps.Filled([length, length], float.NegativeInfinity,
            device: device), -w)) : future;
        return mask.view(1, 1, length, length);
    }
}
