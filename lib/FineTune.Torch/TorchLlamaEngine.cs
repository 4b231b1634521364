// ICausalLm over the TorchSharp Llama: the reference inference path (and the one that runs on GPU and in bfloat16).
using FineTune.Models;
using FineTune.Models.Generation;

namespace FineTune.Torch;

public sealed class TorchLlamaEngine(Llama model, Device? device = null) : ICausalLm
{
    readonly Device _device = device ?? CPU;

    public LlamaConfig Config => model.Config;
    public Llama Model => model;

    public float[][] Forward(IReadOnlyList<int> tokens)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        CheckTokens(tokens, Config);
        var ids = tensor(tokens.Select(t => (long)t).ToArray(), [1, tokens.Count], device: _device);
        var positions = ScalarOps.Range(tokens.Count, device: _device).unsqueeze(0);
        // (1, T, V)
        var logits = model.forward(ids, positions, Llama.CausalMask(tokens.Count, Config.SlidingWindow, _device));
        return ToRows(logits[0]);
    }

    public IDecodeSession StartSession(int batchSize, int maxLength)
    {
        if (maxLength > Config.MaxPositionEmbeddings)
            throw new ArgumentException($"a session of {maxLength} positions exceeds the model context of " +
                $"{Config.MaxPositionEmbeddings} (max_position_embeddings).");
        return new Session(this, batchSize, maxLength);
    }

    internal static void CheckTokens(IEnumerable<int> tokens, LlamaConfig config)
    {
        foreach (var t in tokens)
            if (t < 0 || t >= config.VocabSize)
                throw new ArgumentOutOfRangeException(nameof(tokens), t,
                    $"token id {t} is outside the vocabulary [0, {config.VocabSize}) of the model.");
    }

    static float[][] ToRows(Tensor logits2d)
    {
        var flat = logits2d.to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
        int rows = (int)logits2d.shape[0], vocab = (int)logits2d.shape[1];
        return Enumerable.Range(0, rows).Select(r => flat.AsSpan(r * vocab, vocab).ToArray()).ToArray();
    }

    public void Dispose() => model.Dispose();

    sealed class Session : IDecodeSession
    {
        readonly TorchLlamaEngine _engine;
        readonly KvCache _cache;
        readonly int _maxLength;
        int[] _padding = [];

        public int BatchSize { get; }
        public int Length { get; private set; }

        public Session(TorchLlamaEngine engine, int batchSize, int maxLength)
        {
            _engine = engine;
            BatchSize = batchSize;
            _maxLength = maxLength;
            var dtype = engine.Model.parameters().First().dtype;
            // prompt tuning's virtual tokens lead the cache
            _cache = KvCache.Create(engine.Config, batchSize, maxLength + engine.Model.VirtualTokens, dtype,
                engine._device);
        }

        public float[][] Prefill(IReadOnlyList<IReadOnlyList<int>> prompts)
        {
            if (prompts.Count != BatchSize)
                throw new ArgumentException($"expected {BatchSize} prompts, got {prompts.Count}.");
            if (Length != 0)
                throw new InvalidOperationException("Prefill may be called once per session.");
            int T = prompts.Max(p => p.Count);
            if (T > _maxLength)
                throw new ArgumentException($"prompt of {T} tokens exceeds the session length of {_maxLength}.");
            foreach (var p in prompts)
                CheckTokens(p, _engine.Config);
            _padding = prompts.Select(p => T - p.Count).ToArray();

            var ids = new long[BatchSize * T];
            var positions = new long[BatchSize * T];
            var mask = new float[BatchSize * T * T];
            for (int b = 0; b < BatchSize; b++)
                for (int i = 0; i < T; i++)
                {
                    ids[b * T + i] = i < _padding[b] ? 0 : prompts[b][i - _padding[b]];
                    positions[b * T + i] = Math.Max(0, i - _padding[b]);
                    for (int j = 0; j < T; j++)
                    {
                        // Causal, within the sliding window, never onto padding; a padding query sees itself only so
                        // its softmax stays finite.
                        bool allowed = (j <= i && j >= _padding[b] && InWindow(i, j)) || j == i;
                        mask[(b * T + i) * T + j] = allowed ? 0f : float.NegativeInfinity;
                    }
                }
            var logits = Run(ids, positions, mask, T);
            Length = T;
            return logits;
        }

        public float[][] Step(IReadOnlyList<int> tokens)
        {
            if (tokens.Count != BatchSize)
                throw new ArgumentException($"expected {BatchSize} tokens, got {tokens.Count}.");
            if (Length == 0)
                throw new InvalidOperationException("call Prefill before Step.");
            if (Length + 1 > _maxLength)
                throw new InvalidOperationException($"the session is full ({_maxLength} positions).");
            CheckTokens(tokens, _engine.Config);
            int S = Length + 1;
            var ids = tokens.Select(t => (long)t).ToArray();
            var positions = Enumerable.Range(0, BatchSize).Select(b => (long)(Length - _padding[b])).ToArray();
            var mask = new float[BatchSize * S];
            for (int b = 0; b < BatchSize; b++)
                for (int j = 0; j < S; j++)
                    mask[b * S + j] = j >= _padding[b] && InWindow(Length, j) ? 0f : float.NegativeInfinity;
            var logits = Run(ids, positions, mask, 1);
            Length += 1;
            return logits;
        }

        bool InWindow(int query, int key) => _engine.Config.SlidingWindow is not { } w || query - key < w;

        float[][] Run(long[] ids, long[] positions, float[] mask, int T)
        {
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            var device = _engine._device;
            int S = Length + T;
            var logits = _engine.Model.forward(
                tensor(ids, [BatchSize, T], device: device),
                tensor(positions, [BatchSize, T], device: device),
                tensor(mask, [BatchSize, 1, T, S], device: device),
                _cache, Length);                                   // (B, T, V)
            return ToRows(logits.select(1, T - 1));                // last position of each row: (B, V)
        }

        public void Dispose() => _cache.Dispose();
    }
}
