// A pure C# float32 inference engine for Llama-family decoders (Hugging Face LlamaForCausalLM semantics), used for
// decoding on CPU because our SIMD kernels beat libtorch's CPU gemv several times over on small batches.
// Weights live as 4-row panels (see CpuKernels), q/k/v and gate/up fused, rows and inputs padded for the kernels.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using FineTune.Models.Checkpoints;
using FineTune.Models.Generation;

namespace FineTune.Models.Inference;

public sealed unsafe partial class CpuLlama : ICausalLm
{
    // Products smaller than this many multiply-adds run on the calling thread: a parallel dispatch costs microseconds.
    internal const long ParallelMinMacs = 1 << 17;
    // Prefill runs at most this many positions through the layers at once (bounds the activation buffers).
    internal const int PrefillChunkRows = 64;

    internal sealed class Layer
    {
        public required FloatBuffer InputNorm, PostNorm;
        public required PanelMatrix Qkv, Out, GateUp, Down;
        public FloatBuffer? QkvBias;
    }

    readonly Layer[] _layers;
    readonly FloatBuffer _finalNorm;
    readonly PanelMatrix _embed, _classifier;
    readonly WorkerPool? _pool;
    readonly object _runGate = new();
    readonly object _ropeGate = new();
    float[] _ropeCos = [], _ropeSin = [];
    int _ropePositions;
    bool _disposed;

    // Logical sizes, and padded ones: K* are input widths (multiples of 8), *Rows output heights (multiples of 4),
    // S* strides of output buffers (multiples of 8).
    internal readonly int Dim, Kd, QDim, Kq, KvDim, Hidden, Kh, Vocab, Heads, KvHeads, HeadDim, Groups;
    internal readonly int QkvRows, Sqkv, DimRows, GateUpRows, Sgu, VocabRows, Sv;
    internal readonly float Eps;

    public LlamaConfig Config { get; }

    /// <summary>Threads the kernels use (the caller's included).</summary>
    public int Threads { get; }

    /// <summary>Whether the matrices are held as int8 with per-output-channel scales (weight-only
    /// quantization).</summary>
    public bool Int8 { get; }

    /// <summary>Whether the matrices are held as bfloat16.</summary>
    public bool Bf16 { get; }

    /// <summary>Whether sessions keep keys and values as bfloat16 (half the cache memory and traffic).</summary>
    public bool Bf16KvCache { get; }

    /// <summary>Whether products quantize their activation rows to int8 too (W8A8 on AVX-VNNI).</summary>
    public bool Int8Activations { get; }

    CpuLlama(LlamaConfig config, Func<string, TensorData> read, int threads, bool int8, bool? bf16KvCache,
        bool int8Activations, bool bf16)
    {
        Config = config;
        Threads = threads;
        Int8 = int8 || int8Activations;
        Bf16 = bf16 && !Int8;
        Bf16KvCache = bf16KvCache ?? Bf16;   // the cache in the weights' precision unless asked otherwise
        Int8Activations = int8Activations;
        Dim = config.HiddenSize;
        Heads = config.NumAttentionHeads;
        KvHeads = config.NumKeyValueHeads;
        HeadDim = config.HeadDim;
        Groups = config.KvGroups;
        QDim = Heads * HeadDim;
        KvDim = KvHeads * HeadDim;
        Hidden = config.IntermediateSize;
        Vocab = config.VocabSize;
        Eps = (float)config.RmsNormEps;
        // Inputs padded with zeros to the kernels' groups (8 values; bf16: 32, an AMX tile's row), outputs to their
        // panels (4 rows; bf16: 16-row blocks), output strides to whole 8-row panels.
        int inputs = Bf16 ? 32 : 8, outputs = Bf16 ? 16 : 4;
        Kd = CpuKernels.RoundUp(Dim, inputs);
        Kq = CpuKernels.RoundUp(QDim, inputs);
        Kh = CpuKernels.RoundUp(Hidden, inputs);
        QkvRows = CpuKernels.RoundUp(QDim + 2 * KvDim, outputs);
        Sqkv = CpuKernels.RoundUp(QkvRows, 8);
        DimRows = CpuKernels.RoundUp(Dim, outputs);
        GateUpRows = CpuKernels.RoundUp(2 * Hidden, outputs);
        Sgu = CpuKernels.RoundUp(GateUpRows, 8);
        VocabRows = CpuKernels.RoundUp(Vocab, outputs);
        Sv = CpuKernels.RoundUp(VocabRows, 8);

        _embed = Matrix(VocabRows, Kd, ("model.embed_tokens.weight", Vocab, Dim));
        _layers = new Layer[config.NumHiddenLayers];
        for (int l = 0; l < _layers.Length; l++)
        {
            var p = $"model.layers.{l}.";
            _layers[l] = new Layer
            {
                InputNorm = Vector(Kd, p + "input_layernorm.weight"),
                PostNorm = Vector(Kd, p + "post_attention_layernorm.weight"),
                Qkv = Matrix(QkvRows, Kd, (p + "self_attn.q_proj.weight", QDim, Dim),
                    (p + "self_attn.k_proj.weight", KvDim, Dim),
                    (p + "self_attn.v_proj.weight", KvDim, Dim)),
                QkvBias = config.AttentionBias
                    ? Concat(QkvRows, p + "self_attn.q_proj.bias", p + "self_attn.k_proj.bias",
                        p + "self_attn.v_proj.bias")
                    : null,
                Out = Matrix(DimRows, Kq, (p + "self_attn.o_proj.weight", Dim, QDim)),
                GateUp = Matrix(GateUpRows, Kd, (p + "mlp.gate_proj.weight", Hidden, Dim),
                    (p + "mlp.up_proj.weight", Hidden, Dim)),
                Down = Matrix(DimRows, Kh, (p + "mlp.down_proj.weight", Dim, Hidden)),
            };
        }
        _finalNorm = Vector(Kd, "model.norm.weight");
        _classifier = config.TieWordEmbeddings ? _embed : Matrix(VocabRows, Kd, ("lm_head.weight", Vocab, Dim));
        _pool = threads > 1 ? new WorkerPool(threads) : null;

        // Stacks tensors of (rows, cols) vertically into a zero-padded (paddedRows, stride) matrix, stored as panels.
        PanelMatrix Matrix(int paddedRows, int stride, params (string Name, int Rows, int Cols)[] parts)
        {
            var rowMajor = new float[(long)paddedRows * stride];
            long row = 0;
            foreach (var (name, rows, cols) in parts)
            {
                var values = read(name).ToFloat32();
                for (int r = 0; r < rows; r++, row++)
                    values.AsSpan(r * cols, cols).CopyTo(rowMajor.AsSpan((int)(row * stride), cols));
            }
            return int8Activations ? PanelMatrix.QuantizeVnni(rowMajor, paddedRows, stride)
                : int8 ? PanelMatrix.Quantize(rowMajor, paddedRows, stride)
                : Bf16 ? PanelMatrix.BFloat16(rowMajor, paddedRows, stride)
                : PanelMatrix.Float(rowMajor, paddedRows, stride);
        }
        FloatBuffer Vector(int padded, string name)
        {
            var buffer = new FloatBuffer(padded);
            read(name).ToFloat32().CopyTo(buffer.Span);
            return buffer;
        }
        FloatBuffer Concat(int padded, params string[] names)
        {
            var buffer = new FloatBuffer(padded);
            int offset = 0;
            foreach (var name in names)
            {
                var values = read(name).ToFloat32();
                values.CopyTo(buffer.Slice(offset, values.Length));
                offset += values.Length;
            }
            return buffer;
        }
    }

    /// <summary>
    /// Loads weights by Hugging Face name. <paramref name="tensor"/> may throw (ModelFormatException,
    /// KeyNotFoundException) or return null for a missing name; every tensor is checked against the config before any
    /// is converted.
    /// </summary>
    public static CpuLlama Load(LlamaConfig config, Func<string, TensorData> tensor, int threads = 0) =>
        Load(config, tensor, new CpuLlamaOptions { Threads = threads });

    /// <summary>Loads weights by Hugging Face name with load options (threads, int8).</summary>
    public static CpuLlama Load(LlamaConfig config, Func<string, TensorData> tensor, CpuLlamaOptions options)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(tensor);
        var fetched = new Dictionary<string, TensorData>();
        TensorInfo? Describe(string name)
        {
            TensorData? data;
            try
            {
                data = tensor(name);
            }
            catch (Exception e) when (e is ModelFormatException or KeyNotFoundException)
            {
                return null;
            }
            if (data is null)
                return null;
            fetched[name] = data;
            return data.Info;
        }
        return Load(config, Describe, name => fetched.Remove(name, out var data) ? data : tensor(name), options,
            "CpuLlama.Load");
    }

    /// <summary>Loads a Hugging Face checkpoint directory opened with <see cref="HfCheckpoint.Open"/>.</summary>
    public static CpuLlama Load(HfCheckpoint checkpoint, int threads = 0) =>
        Load(checkpoint, new CpuLlamaOptions { Threads = threads });

    public static CpuLlama Load(HfCheckpoint checkpoint, CpuLlamaOptions options)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        return Load(checkpoint.Config, name => checkpoint.Contains(name) ? checkpoint.Describe(name) : null,
            checkpoint.Read,
            options, checkpoint.Directory);
    }

    static CpuLlama Load(LlamaConfig config, Func<string, TensorInfo?> describe, Func<string, TensorData> read,
        CpuLlamaOptions options, string source)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(options.Threads);
        config.Validate(source);
        config.RequireCausalLm(source);
        LlamaWeights.Check(config, describe, source);
        // bf16 by default when the checkpoint keeps its matrices so (its first layer's projections say)
        bool bf16 = options.Bf16 ?? describe("model.layers.0.self_attn.q_proj.weight")?.DType == DType.BF16;
        return new CpuLlama(config, read, options.Threads == 0 ? Environment.ProcessorCount : options.Threads,
            options.Int8, options.Bf16KvCache, options.Int8Activations, bf16);
    }

    public float[][] Forward(IReadOnlyList<int> tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (tokens.Count == 0)
            throw new ArgumentException("Forward needs at least one token.", nameof(tokens));
        if (tokens.Count > Config.MaxPositionEmbeddings)
            throw new ArgumentException($"sequence of {tokens.Count} tokens exceeds the model context of " +
                $"{Config.MaxPositionEmbeddings}.", nameof(tokens));
        using var session = new Session(this, 1, tokens.Count);
        return session.Run([tokens], allPositions: true);
    }

    public IDecodeSession StartSession(int batchSize, int maxLength)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1);
        if (maxLength > Config.MaxPositionEmbeddings)
            throw new ArgumentException($"a session of {maxLength} positions exceeds the model context of " +
                $"{Config.MaxPositionEmbeddings}.", nameof(maxLength));
        return new Session(this, batchSize, maxLength);
    }

    public void Dispose()
    {
        _disposed = true;
        _pool?.Dispose();
    }

    // cos/sin tables covering at least `positions` positions; grown by doubling and shared by sessions.
    (float[] Cos, float[] Sin) RopeTables(int positions)
    {
        lock (_ropeGate)
        {
            if (positions > _ropePositions)
            {
                int n = Math.Min(Math.Max(positions, 2 * _ropePositions),
                    Math.Max(positions, Config.MaxPositionEmbeddings));
                (_ropeCos, _ropeSin) = Rope.Tables(Config, n);
                _ropePositions = n;
            }
            return (_ropeCos, _ropeSin);
        }
    }

    void Parallel(IParallelWork work, long macs, int maxParts)
    {
        int parts = _pool is null || macs < ParallelMinMacs ? 1 : Math.Min(Threads, maxParts);
        if (parts <= 1)
            work.Run(0, 1);
        else
            _pool!.Run(work, parts);
    }

    // y (batch, yStride) = x (batch, k) · w (rows, k)^T + bias, split over row blocks of 4.
    sealed class MatMulJob : IParallelWork
    {
        public float* W, X, Y, Bias, Scales, XScales;
        public sbyte* Q;
        public ushort* B;      // non-null: bfloat16 weights, and XB the activation rows rounded to bf16
        public ushort* XB;
        public int* RowSums;   // non-null: Q is in VNNI panels and Xq holds the quantized activation rows
        public byte* Xq;
        public int K, Rows, XStride, YStride, Batch;
        public float[][]? CopyTo;   // non-null: rows b < Batch, columns < Vocab go to CopyTo[b] instead of Y
        public int Vocab;
        public float* Scratch;      // with CopyTo: each part's block of Batch × ScratchStride floats
        public const int ScratchStride = MaxChunk + 8;
        public const int MaxChunk = 256;

        public ClaimCounter Next;   // the next unclaimed row; reset before each run

        // Rows are claimed a chunk at a time from Next rather than split in fixed halves: on a shared VM one thread is
        // often held back for a while, and with fixed halves the other then waited (up to a fifth of a batch-16
        // step, measured). Chunks are whole 8-row panels (bf16: 16-row blocks), at most 256 rows. Which thread
        // computes a row never changes its bits.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int part, int parts)
        {
            int panel = B != null ? 16 : 8;
            int chunk = Math.Clamp((Rows / (parts * 8) + panel - 1) & -panel, panel, MaxChunk);
            while (true)
            {
                int first = Next.Claim(chunk);
                if (first >= Rows)
                    return;
                int last = Math.Min(Rows, first + chunk);
                // Logits wanted in arrays are computed into this part's scratch (in L1/L2) and copied from there: at
                // batch 16 and 32k columns, a detour through Y is 2 MB more written and read back each step.
                float* y = Y;
                int yStride = YStride;
                if (CopyTo is not null)
                {
                    y = Scratch + (long)part * Batch * ScratchStride - first;
                    yStride = ScratchStride;
                }
                if (RowSums != null)
                    VnniKernels.MatMul(Q, Scales, RowSums, K, first, (last + 7) & ~7, Xq, XScales, Batch, y, yStride,
                        Bias);
                else if (Q != null)
                    Int8Kernels.MatMul(Q, Scales, K, first, last, X, XStride, Batch, y, yStride, Bias);
                else if (B != null)
                    Bf16Kernels.MatMul(B, K, first, last, XB, XStride, Batch, y, yStride, Bias);
                else
                    CpuKernels.MatMul(W, K, first, last, X, XStride, Batch, y, yStride, Bias);
                CopyOut(first, last, y, yStride);
            }
        }

        void CopyOut(int start, int end, float* y, int yStride)
        {
            end = Math.Min(end, Vocab);
            if (CopyTo is not null && start < end)
                for (int b = 0; b < Batch; b++)
                    new ReadOnlySpan<float>(y + (long)b * yStride + start, end - start).CopyTo(CopyTo[b].AsSpan(start));
        }
    }

    sealed class Session : IDecodeSession, IParallelWork
    {
        readonly CpuLlama _m;
        readonly int _capacity; // activation rows per pass
        readonly FloatBuffer[] _keys, _values; // per layer: (batch, kv heads, maxLength, head dim)
        readonly FloatBuffer _x, _h, _qkv, _att, _tmp, _gateUp, _act, _logits, _scores;
        readonly float[] _cos, _sin;
        readonly int[] _rowBatch, _rowPos, _rowRope;
        readonly bool[] _rowLogits;
        readonly CpuLoraAdapter?[] _rowAdapter;
        FloatBuffer? _loraIn, _loraOut; // LoRA scratch: (rows, rank) and (rows, output width), allocated on first use
        FloatBuffer? _xq, _xScales;     // W8A8 scratch: activation rows as bytes, and their scales
        FloatBuffer? _xb;               // bf16 scratch: activation rows rounded to bfloat16
        FloatBuffer? _logitScratch;     // the classifier's parts' blocks when logits go straight to arrays
        readonly int[] _pad, _promptLength;
        readonly MatMulJob _matmul = new();
        float[][]? _stepLogits;
        float[][]? _copyLogitsTo;       // the rows' logits arrays, filled by the classifier's parts
        float[][]? _passLogits;         // RunRows' arrays for one pass
        int _rows, _layer, _steps;
        ClaimCounter _nextItem;         // attention's next unclaimed (row, head) item
        bool _disposed;

        public int BatchSize { get; }
        public int MaxLength { get; }
        public int Length { get; private set; }

        public Session(CpuLlama model, int batch, int maxLength, int capacity = 0)
        {
            _m = model;
            BatchSize = batch;
            MaxLength = maxLength;
            _capacity = capacity > 0 ? capacity : (int)Math.Max(batch,
                Math.Min(PrefillChunkRows, (long)batch * maxLength));
            _keys = new FloatBuffer[model._layers.Length];
            _values = new FloatBuffer[model._layers.Length];
            for (int l = 0; l < _keys.Length; l++)
            {
                long elements = (long)batch * maxLength * model.KvDim;
                // bfloat16: two elements a float's room
                long floats = model.Bf16KvCache ? (elements + 1) / 2 : elements;
                _keys[l] = new FloatBuffer(floats);
                _values[l] = new FloatBuffer(floats);
                // Written through now, so its pages are faulted in here rather than by the decode steps that first
                // reach them (a tenth of a batch-16 step, measured).
                _keys[l].Span.Clear();
                _values[l].Span.Clear();
            }
            _x = new FloatBuffer((long)_capacity * model.Kd);
            _h = new FloatBuffer((long)_capacity * model.Kd);
            _tmp = new FloatBuffer((long)_capacity * model.Kd);
            _qkv = new FloatBuffer((long)_capacity * model.Sqkv);
            _att = new FloatBuffer((long)_capacity * model.Kq);
            _gateUp = new FloatBuffer((long)_capacity * model.Sgu);
            _act = new FloatBuffer((long)_capacity * model.Kh);
            _logits = new FloatBuffer((long)_capacity * model.Sv);
            _scores = new FloatBuffer((long)model.Threads * maxLength);
            (_cos, _sin) = model.RopeTables(maxLength);
            _rowBatch = new int[_capacity];
            _rowPos = new int[_capacity];
            _rowRope = new int[_capacity];
            _rowLogits = new bool[_capacity];
            _rowAdapter = new CpuLoraAdapter?[_capacity];
            _pad = new int[batch];
            _promptLength = new int[batch];
        }

        public float[][] Prefill(IReadOnlyList<IReadOnlyList<int>> prompts) => Run(prompts, allPositions: false);

        // Prefill; with allPositions (Forward, batch 1) returns every position's logits instead of the last one's.
        public float[][] Run(IReadOnlyList<IReadOnlyList<int>> prompts, bool allPositions)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            ArgumentNullException.ThrowIfNull(prompts);
            if (Length != 0)
                throw new InvalidOperationException("Prefill was already called on this session; start a new " +
                    "session for new prompts.");
            if (prompts.Count != BatchSize)
                throw new ArgumentException($"expected {BatchSize} prompts (the session's batch size), got " +
                    $"{prompts.Count}.", nameof(prompts));
            int longest = 0;
            for (int b = 0; b < BatchSize; b++)
            {
                var prompt = prompts[b] ?? throw new ArgumentException($"prompt {b} is null.", nameof(prompts));
                if (prompt.Count == 0)
                    throw new ArgumentException($"prompt {b} is empty; every row needs at least one token.",
                        nameof(prompts));
                for (int i = 0; i < prompt.Count; i++)
                    CheckToken(prompt[i], $"position {i} of prompt {b}", nameof(prompts));
                longest = Math.Max(longest, prompt.Count);
            }
            if (longest > _m.Config.MaxPositionEmbeddings)
                throw new ArgumentException($"prompt of {longest} tokens exceeds the model context of " +
                    $"{_m.Config.MaxPositionEmbeddings}.", nameof(prompts));
            if (longest > MaxLength)
                throw new ArgumentException($"prompt of {longest} tokens exceeds the session's maxLength of " +
                    $"{MaxLength}.", nameof(prompts));

            var results = new float[allPositions ? longest : BatchSize][];
            lock (_m._runGate)
            {
                ObjectDisposedException.ThrowIf(_m._disposed, _m);
                int rows = 0;
                var owners = new int[_capacity]; // which result each logits row goes to
                for (int b = 0; b < BatchSize; b++)
                {
                    var prompt = prompts[b];
                    _promptLength[b] = prompt.Count;
                    _pad[b] = longest - prompt.Count;
                    for (int i = 0; i < prompt.Count; i++)
                    {
                        bool logits = allPositions || i == prompt.Count - 1;
                        owners[rows] = allPositions ? i : b;
                        AddRow(rows++, b, _pad[b] + i, i, prompt[i], logits);
                        if (rows == _capacity)
                        {
                            Flush(rows, owners, results);
                            rows = 0;
                        }
                    }
                }
                if (rows > 0)
                    Flush(rows, owners, results);
            }
            Length = longest;
            return results;
        }

        void Flush(int rows, int[] owners, float[][] results)
        {
            int n = Compute(rows);
            for (int r = 0, j = 0; r < rows && j < n; r++)
                if (_rowLogits[r])
                    results[owners[r]] = _logits.Slice((long)j++ * _m.Sv, _m.Vocab).ToArray();
        }

        public float[][] Step(IReadOnlyList<int> tokens)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            ArgumentNullException.ThrowIfNull(tokens);
            if (Length == 0)
                throw new InvalidOperationException("call Prefill before Step.");
            if (tokens.Count != BatchSize)
                throw new ArgumentException($"expected {BatchSize} tokens (one per row), got {tokens.Count}.",
                    nameof(tokens));
            if (Length + 1 > MaxLength)
                throw new ArgumentException(
                    $"prompt of {Length - _steps} tokens plus {_steps + 1} new tokens exceeds the session's " +
                        $"maxLength of {MaxLength}.", nameof(tokens));
            for (int b = 0; b < BatchSize; b++)
                CheckToken(tokens[b], $"row {b}", nameof(tokens));

            // Step's arrays are reused from call to call (IDecodeSession allows it): at batch 16 and a 32k vocabulary,
            // fresh ones are 2 MB of large-object garbage per token.
            var results = _stepLogits ??= Enumerable.Range(0, BatchSize).Select(_ => new float[_m.Vocab]).ToArray();
            lock (_m._runGate)
            {
                ObjectDisposedException.ThrowIf(_m._disposed, _m);
                for (int b = 0; b < BatchSize; b++)
                    AddRow(b, b, Length, Length - _pad[b], tokens[b], logits: true);
                // The classifier's threads copy each row's logits out as they finish their columns.
                _copyLogitsTo = results;
                try
                {
                    Compute(BatchSize);
                }
                finally
                {
                    _copyLogitsTo = null;
                }
            }
            Length++;
            _steps++;
            return results;
        }

        void CheckToken(int token, string where, string parameter)
        {
            if ((uint)token >= (uint)_m.Vocab)
                throw new ArgumentException($"token id {token} at {where} is outside the vocabulary [0, {_m.Vocab}).",
                    parameter);
        }

        void AddRow(int r, int batch, int position, int ropePosition, int token, bool logits,
            CpuLoraAdapter? adapter = null)
        {
            _rowBatch[r] = batch;
            _rowPos[r] = position;
            _rowRope[r] = ropePosition;
            _rowLogits[r] = logits;
            _rowAdapter[r] = adapter;
            _m._embed.CopyRow(token, _m.Dim, _x.Ptr + (long)r * _m.Kd);
        }

        // Runs the activation rows [0, rows) (embeddings already in _x) through the model; logits of the rows flagged
        // in _rowLogits land in _copyLogitsTo's arrays where it is set, else in _logits, packed in row order. Returns
        // how many.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        int Compute(int rows)
        {
            var m = _m;
            int dim = m.Dim, kd = m.Kd, hd = m.HeadDim, half = hd / 2;
            _rows = rows;
            for (int l = 0; l < m._layers.Length; l++)
            {
                var layer = m._layers[l];
                _layer = l;
                for (int r = 0; r < rows; r++)
                    CpuKernels.RmsNorm(_x.Ptr + (long)r * kd, layer.InputNorm.Ptr, _h.Ptr + (long)r * kd, dim, m.Eps);
                PrefetchCacheSlots(l, rows);
                MatMul(layer.Qkv, kd, m.QkvRows, _h, kd, rows, _qkv, m.Sqkv, layer.QkvBias);
                ApplyLora(l, LoraModule.Qkv, _h, kd, rows, _qkv, m.Sqkv);

                float* keys = _keys[l].Ptr, values = _values[l].Ptr;
                for (int r = 0; r < rows; r++)
                {
                    float* q = _qkv.Ptr + (long)r * m.Sqkv, k = q + m.QDim, v = k + m.KvDim;
                    fixed (float* cos = &_cos[_rowRope[r] * half], sin = &_sin[_rowRope[r] * half])
                    {
                        CpuKernels.Rope(q, m.Heads, hd, cos, sin);
                        CpuKernels.Rope(k, m.KvHeads, hd, cos, sin);
                    }
                    // Head-major cache: (batch, kv head, position, head dim), so one head's keys are one contiguous
                    // run.
                    for (int g = 0; g < m.KvHeads; g++)
                    {
                        long slot = (((long)_rowBatch[r] * m.KvHeads + g) * MaxLength + _rowPos[r]) * hd;
                        if (m.Bf16KvCache)
                        {
                            BFloat16Kv.Store(k + g * hd, (ushort*)keys + slot, hd);
                            BFloat16Kv.Store(v + g * hd, (ushort*)values + slot, hd);
                            continue;
                        }
                        new ReadOnlySpan<float>(k + g * hd, hd).CopyTo(new Span<float>(keys + slot, hd));
                        new ReadOnlySpan<float>(v + g * hd, hd).CopyTo(new Span<float>(values + slot, hd));
                    }
                }

                long attentionMacs = 0;
                for (int r = 0; r < rows; r++)
                    attentionMacs += (long)(_rowPos[r] - _pad[_rowBatch[r]] + 1) * 2 * m.QDim;
                _nextItem.Reset();
                m.Parallel(this, attentionMacs, rows * m.Heads);

                MatMul(layer.Out, m.Kq, m.DimRows, _att, m.Kq, rows, _tmp, kd, null);
                ApplyLora(l, LoraModule.Out, _att, m.Kq, rows, _tmp, kd);
                for (int r = 0; r < rows; r++)
                {
                    CpuKernels.AddTo(_x.Ptr + (long)r * kd, _tmp.Ptr + (long)r * kd, dim);
                    CpuKernels.RmsNorm(_x.Ptr + (long)r * kd, layer.PostNorm.Ptr, _h.Ptr + (long)r * kd, dim, m.Eps);
                }
                MatMul(layer.GateUp, kd, m.GateUpRows, _h, kd, rows, _gateUp, m.Sgu, null);
                ApplyLora(l, LoraModule.GateUp, _h, kd, rows, _gateUp, m.Sgu);
                for (int r = 0; r < rows; r++)
                {
                    float* gate = _gateUp.Ptr + (long)r * m.Sgu;
                    CpuKernels.SwiGlu(gate, gate + m.Hidden, _act.Ptr + (long)r * m.Kh, m.Hidden);
                }
                MatMul(layer.Down, m.Kh, m.DimRows, _act, m.Kh, rows, _tmp, kd, null);
                ApplyLora(l, LoraModule.Down, _act, m.Kh, rows, _tmp, kd);
                for (int r = 0; r < rows; r++)
                    CpuKernels.AddTo(_x.Ptr + (long)r * kd, _tmp.Ptr + (long)r * kd, dim);
            }

            int n = 0;
            for (int r = 0; r < rows; r++)
                if (_rowLogits[r])
                    CpuKernels.RmsNorm(_x.Ptr + (long)r * kd, m._finalNorm.Ptr, _h.Ptr + (long)n++ * kd, dim, m.Eps);
            if (n > 0)
            {
                _matmul.CopyTo = _copyLogitsTo;
                _matmul.Vocab = m.Vocab;
                if (_copyLogitsTo is not null)
                {
                    _logitScratch ??= new FloatBuffer((long)m.Threads * _capacity * MatMulJob.ScratchStride);
                    _matmul.Scratch = _logitScratch.Ptr;
                }
                try
                {
                    MatMul(m._classifier, kd, m.VocabRows, _h, kd, n, _logits, m.Sv, null);
                }
                finally
                {
                    _matmul.CopyTo = null;
                }
            }
            return n;
        }

        // The cache lines this pass's rows will write their keys and values to, fetched while the QKV product runs:
        // each row's slots are somewhere else in a cache that does not fit in L2 at batch 16.
        void PrefetchCacheSlots(int layer, int rows)
        {
            if (!Sse.IsSupported)
                return;
            var m = _m;
            int hd = m.HeadDim, bytes = hd * (m.Bf16KvCache ? 2 : 4);
            byte* keys = (byte*)_keys[layer].Ptr, values = (byte*)_values[layer].Ptr;
            for (int r = 0; r < rows; r++)
                for (int g = 0; g < m.KvHeads; g++)
                {
                    long offset = (((long)_rowBatch[r] * m.KvHeads + g) * MaxLength + _rowPos[r]) * bytes;
                    for (int line = 0; line < bytes; line += 64)
                    {
                        Sse.Prefetch0(keys + offset + line);
                        Sse.Prefetch0(values + offset + line);
                    }
                }
        }

        void MatMul(PanelMatrix w, int k, int rows, FloatBuffer x, int xStride, int batch, FloatBuffer y, int yStride,
            FloatBuffer? bias)
        {
            if (!w.IsVnni)
            {
                MatMul(w.Values, k, rows, x.Ptr, xStride, batch, y.Ptr, yStride, bias is null ? null : bias.Ptr,
                    w.Quantized, w.ScalesPtr, w.Bf16Values);
                return;
            }
            // W8A8: the activation rows are quantized once here, then the panels are shared out.
            _xq ??= new FloatBuffer(((long)_capacity * Math.Max(Math.Max(_m.Kd, _m.Kq), _m.Kh) + 3) / 4);
            _xScales ??= new FloatBuffer(_capacity);
            VnniKernels.QuantizeRows(x.Ptr, xStride, batch, k, (byte*)_xq.Ptr, _xScales.Ptr);
            var job = _matmul;
            job.Q = w.Quantized;
            job.Scales = w.ScalesPtr;
            job.RowSums = w.RowSums;
            job.B = null;
            job.Xq = (byte*)_xq.Ptr;
            job.XScales = _xScales.Ptr;
            job.W = null;
            job.X = x.Ptr;
            job.K = k;
            job.Rows = rows;
            job.XStride = xStride;
            job.Batch = batch;
            job.Y = y.Ptr;
            job.YStride = yStride;
            job.Bias = bias is null ? null : bias.Ptr;
            job.Next.Reset();
            _m.Parallel(job, (long)rows * k * batch, (rows + 7) / 8);
        }

        void MatMul(float* w, int k, int rows, float* x, int xStride, int batch, float* y, int yStride, float* bias,
            sbyte* quantized = null, float* scales = null, ushort* bf16 = null)
        {
            var job = _matmul;
            job.RowSums = null;
            job.B = bf16;
            job.XB = null;
            if (bf16 != null)
            {
                // bf16 products take bf16 activations: rounded once here, then the panels are shared out.
                _xb ??= new FloatBuffer(((long)_capacity * Math.Max(Math.Max(_m.Kd, _m.Kq), _m.Kh) + 1) / 2);
                Bf16Kernels.RoundRows(x, xStride, batch, k, (ushort*)_xb.Ptr);
                job.XB = (ushort*)_xb.Ptr;
            }
            job.W = w;
            job.Q = quantized;
            job.Scales = scales;
            job.K = k;
            job.Rows = rows;
            job.X = x;
            job.XStride = xStride;
            job.Batch = batch;
            job.Y = y;
            job.YStride = yStride;
            job.Bias = bias;
            job.Next.Reset();
            _m.Parallel(job, (long)rows * k * batch, rows / 4);
        }

        // y[rows] += B·(A·x[rows]) for each run of consecutive rows that share an adapter adapting this module: the
        // unmerged LoRA product, so requests for different adapters (or none) share one batch over the base weights.
        void ApplyLora(int layer, LoraModule module, FloatBuffer x, int xStride, int rows, FloatBuffer y, int yStride)
        {
            for (int start = 0; start < rows;)
            {
                var adapter = _rowAdapter[start];
                int end = start + 1;
                while (end < rows && _rowAdapter[end] == adapter)
                    end++;
                if (adapter?.Get(layer, module) is { } lora)
                {
                    int n = end - start;
                    _loraIn ??= new FloatBuffer((long)_capacity * CpuLoraAdapter.RankWidthLimit);
                    _loraOut ??= new FloatBuffer((long)_capacity * Math.Max(Math.Max(_m.Sqkv, _m.Sgu), _m.Kd));
                    MatMul(lora.A.Ptr, lora.InWidth, lora.RankRows, x.Ptr + (long)start * xStride, xStride, n,
                        _loraIn.Ptr, lora.RankWidth, null);
                    // the padding columns B reads (times zero)
                    for (int r = 0; r < n && lora.RankWidth > lora.RankRows; r++)
                        _loraIn.Slice((long)r * lora.RankWidth + lora.RankRows, lora.RankWidth - lora.RankRows).Clear();
                    MatMul(lora.B.Ptr, lora.RankWidth, lora.OutRows, _loraIn.Ptr, lora.RankWidth, n, _loraOut.Ptr,
                        yStride, null);
                    for (int r = 0; r < n; r++)
                        CpuKernels.AddTo(y.Ptr + (long)(start + r) * yStride, _loraOut.Ptr + (long)r * yStride,
                            lora.OutRows);
                }
                start = end;
            }
        }

        /// <summary>
        /// Runs rows of independent sequences, each row one token at a position of its slot (slot = batch row, no
        /// padding); rows of one slot must come in position order. Logits of the rows that want them are copied, in
        /// order, into <paramref name="logits"/>. Rows beyond the session's capacity run in several passes.
        /// </summary>
        public void RunRows(ReadOnlySpan<BatchRow> rows, IReadOnlyList<float[]> logits)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            int wanted = 0;
            foreach (var row in rows)
            {
                if ((uint)row.Slot >= (uint)BatchSize)
                    throw new ArgumentOutOfRangeException(nameof(rows), row.Slot,
                        $"slot {row.Slot} is outside [0, {BatchSize}).");
                if ((uint)row.Position >= (uint)MaxLength)
                    throw new ArgumentOutOfRangeException(nameof(rows), row.Position,
                        $"position {row.Position} is outside the session's {MaxLength} positions.");
                CheckToken(row.Token, $"slot {row.Slot} position {row.Position}", nameof(rows));
                if (row.Logits)
                    wanted++;
            }
            if (logits.Count < wanted)
                throw new ArgumentException($"{wanted} rows want logits but {logits.Count} arrays were given.",
                    nameof(logits));
            lock (_m._runGate)
            {
                ObjectDisposedException.ThrowIf(_m._disposed, _m);
                int next = 0;
                for (int offset = 0; offset < rows.Length; offset += _capacity)
                {
                    var pass = rows.Slice(offset, Math.Min(_capacity, rows.Length - offset));
                    // the rows that want logits get theirs copied out by the classifier's threads, in order
                    var targets = _passLogits ??= new float[_capacity][];
                    int wantedHere = 0;
                    for (int r = 0; r < pass.Length; r++)
                    {
                        AddRow(r, pass[r].Slot, pass[r].Position, pass[r].Position, pass[r].Token, pass[r].Logits,
                            pass[r].Adapter);
                        if (pass[r].Logits)
                        {
                            targets[wantedHere] = logits[next + wantedHere];
                            wantedHere++;
                        }
                    }
                    _copyLogitsTo = targets;
                    try
                    {
                        next += Compute(pass.Length);
                    }
                    finally
                    {
                        _copyLogitsTo = null;
                        Array.Clear(targets);
                    }
                }
            }
        }

        // Attention for (row, head) items [part*n/parts, (part+1)*n/parts) of the current layer.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int part, int parts)
        {
            var m = _m;
            int items = _rows * m.Heads, hd = m.HeadDim;
            float scale = 1f / MathF.Sqrt(hd);
            float* scores = _scores.Ptr + (long)part * MaxLength;
            float* keys = _keys[_layer].Ptr, values = _values[_layer].Ptr;
            // (row, head) items claimed one at a time, as MatMulJob claims rows
            for (int item; (item = _nextItem.Claim(1)) < items;)
            {
                int r = item / m.Heads, h = item % m.Heads, b = _rowBatch[r];
                // Keys from the row's first real token (or the sliding window's start) to the query position.
                int first = m.Config.SlidingWindow is { } window ? Math.Max(_pad[b], _rowPos[r] - window + 1) : _pad[b];
                int n = _rowPos[r] - first + 1;
                long offset = (((long)b * m.KvHeads + h / m.Groups) * MaxLength + first) * hd;
                float* query = _qkv.Ptr + (long)r * m.Sqkv + (long)h * hd,
                    output = _att.Ptr + (long)r * m.Kq + (long)h * hd;
                if (m.Bf16KvCache)
                    CpuKernels.AttendHead<BFloat16Kv>(query, (ushort*)keys + offset, (ushort*)values + offset, hd, n,
                        hd, scale, scores, output);
                else
                    CpuKernels.AttendHead<Float32Kv>(query, keys + offset, values + offset, hd, n, hd, scale, scores,
                        output);
            }
        }

        public void Dispose() => _disposed = true;
    }
}
