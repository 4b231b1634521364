// Prompt and prefix tuning, applied before the layer loop so the loop stays the model's. Prompt tuning (Lester et al.
// 2021): P learned embeddings come first, at positions 0..P-1, and every real token may attend to them. Prefix tuning
// (Li and Liang 2021): per layer, P learned keys and values sit before the sequence's (and before a cache's; they are
// not cached), and real tokens start at position P. Without either, the input passes through unchanged.
namespace FineTune.Torch;

/// <summary>The layer loop's input after the virtual tokens: hidden states, positions, mask, the cache position to
/// write
/// at, per-layer prefix keys/values (prefix tuning), and how many prepended rows to drop from the output.</summary>
sealed record VirtualTokenInput(Tensor X, Tensor Positions, Tensor Mask, int Start, (Tensor, Tensor)[]? Prefixes,
    long Prepended)
{
    /// <summary>The hidden states of the real tokens only: (B, P+T, C) -> (B, T, C).</summary>
    public Tensor WithoutVirtual(Tensor hidden) => Prepended == 0 ? hidden : hidden.narrow(1, Prepended,
        hidden.shape[1] - Prepended);
}

static class VirtualTokenModule
{
    /// <param name="embeddings">prompt_embeddings: (P, C) for prompt tuning, (P, layers·2·kv_dim) for prefix tuning;
    /// null without</param>
    /// <param name="settings">the method, or null when the model has none or its adapters are switched off</param>
    public static VirtualTokenInput Apply(Tensor? embeddings, PromptSettings? settings, Models.LlamaConfig config,
        Tensor x, Tensor positions, Tensor mask, int start)
    {
        if (embeddings is null || settings is null)
            return new(x, positions, mask, start, null, 0);
        long B = x.shape[0], P = embeddings.shape[0];
        if (settings.Prefix)
        {
            // (B, 1, T, P+S)
            var widened = cat([zeros([mask.shape[0], 1, mask.shape[2], P], mask.dtype, mask.device), mask], -1);
            return new(x, positions.Plus(P), widened, start, PrefixKeysValues(embeddings, config, B, x.dtype), 0);
        }
        if (start > 0)
        {
            // Decoding after a prompt-tuned prefill: the cache holds the P virtual tokens first, so everything shifts
            // by P.
            // (B, 1, T, P+S)
            var shifted = cat([zeros([mask.shape[0], 1, mask.shape[2], P], mask.dtype, mask.device), mask], -1);
            return new(x, positions.Plus(P), shifted, start + (int)P, null, 0);
        }
        // (B, P+T, C)
        var prompted = cat([embeddings.to(x.dtype).unsqueeze(0).expand(B, -1, -1), x], 1);
        var prePositions = cat([ScalarOps.Range(P, positions.dtype, positions.device).unsqueeze(0).expand(B, -1),
            positions.Plus(P)], 1);
        return new(prompted, prePositions, PromptMask(mask, P), start, null, P);
    }

    // (B, 1, T, S) -> (B, 1, P+T, P+S): virtual tokens attend causally among themselves, real tokens see all of them.
    static Tensor PromptMask(Tensor mask, long P)
    {
        long B = mask.shape[0], T = mask.shape[2], S = mask.shape[3];
        var top = cat([Llama.CausalMask(P, device: mask.device).to(mask.dtype).expand(B, 1, P, P),
                       // (B, 1, P, P+S)
                       ScalarOps.Filled([B, 1, P, S], float.NegativeInfinity, mask.dtype, mask.device)], -1);
        var bottom = cat([zeros([B, 1, T, P], mask.dtype, mask.device), mask.expand(B, 1, T, S)], -1); // (B, 1, T, P+S)
        return cat([top, bottom], 2);
    }

    // (P, L·2·nkv·hd) -> per layer (keys, values), each (B, nkv, P, hd): PEFT's layout [layer][key, value][kv
    // head][hd].
    static (Tensor, Tensor)[] PrefixKeysValues(Tensor embeddings, Models.LlamaConfig c, long B, ScalarType dtype)
    {
        long P = embeddings.shape[0];
        int L = c.NumHiddenLayers, nkv = c.NumKeyValueHeads, hd = c.HeadDim;
        var kv = embeddings.to(dtype).view(P, 2 * L, nkv, hd).permute(1, 2, 0, 3);   // (2L, nkv, P, hd)
        return Enumerable.Range(0, L)
            .Select(l => (kv[2 * l].unsqueeze(0).expand(B, -1, -1, -1), kv[2 * l + 1].unsqueeze(0).expand(B, -1, -1,
                -1)))
            .ToArray();
    }
}
