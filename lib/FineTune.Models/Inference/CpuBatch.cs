// Continuous batching over CpuLlama: a KV cache of independent slots, each holding one sequence from position 0, and a
// Run that takes any mix of rows — a prompt chunk of one slot, the next token of others — in one pass over the weights.
// Rows may carry a LoRA adapter, applied unmerged (y += B·A·x) so requests for several adapters share a batch.
using FineTune.Models.Adapters;

namespace FineTune.Models.Inference;

/// <summary>One token of one sequence: the token at <paramref name="Position"/> of slot <paramref
/// name="Slot"/>.</summary>
public readonly record struct BatchRow(int Slot, int Position, int Token, bool Logits, CpuLoraAdapter? Adapter = null);

/// <summary>A slot-addressed KV cache and the passes that fill it. Not thread-safe: one scheduler drives it.</summary>
public interface IBatchSession : IDisposable
{
    int Slots { get; }
    int MaxLength { get; }

    /// <summary>
    /// Runs the rows; rows of one slot in position order. Writes the logits of rows with Logits set, in row order, into
    /// <paramref name="logits"/> (arrays of vocabulary length, the caller's). A slot is reused by writing from position
    /// 0.
    /// </summary>
    void Run(ReadOnlySpan<BatchRow> rows, IReadOnlyList<float[]> logits);
}

public sealed unsafe partial class CpuLlama
{
    /// <summary>A session of <paramref name="slots"/> independent sequences of up to <paramref name="maxLength"/>
    /// positions each.</summary>
    /// <param name="maxRowsPerPass">activation rows one pass holds (bounds scratch memory; more rows run in several
    /// passes)</param>
    public IBatchSession StartBatch(int slots, int maxLength, int maxRowsPerPass = 128)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfLessThan(slots, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRowsPerPass, 1);
        if (maxLength > Config.MaxPositionEmbeddings)
            throw new ArgumentException($"a session of {maxLength} positions exceeds the model context of " +
                $"{Config.MaxPositionEmbeddings}.", nameof(maxLength));
        return new BatchSession(new Session(this, slots, maxLength, Math.Max(maxRowsPerPass, slots)));
    }

    /// <summary>Prepares a PEFT LoRA adapter to be applied per row. DoRA and IA3 change weights non-linearly: merge
    /// those.</summary>
    public CpuLoraAdapter PrepareLora(PeftAdapter adapter, string source) =>
        CpuLoraAdapter.Create(this, adapter, source);

    sealed class BatchSession(Session session) : IBatchSession
    {
        public int Slots => session.BatchSize;
        public int MaxLength => session.MaxLength;
        public void Run(ReadOnlySpan<BatchRow> rows, IReadOnlyList<float[]> logits) => session.RunRows(rows, logits);
        public void Dispose() => session.Dispose();
    }
}

internal enum LoraModule { Qkv, Out, GateUp, Down }

/// <summary>
/// A LoRA adapter laid out for CpuLlama's fused projections: per layer and fused module, A stacked over its parts
/// (rank rows each) and B block-diagonal with the scaling folded in, both as kernel panels.
/// </summary>
public sealed unsafe class CpuLoraAdapter
{
    internal sealed class Pair
    {
        public required FloatBuffer A, B;
        public required int InWidth, RankRows, RankWidth, OutRows;
    }

    readonly Pair?[,] _modules;

    public PeftConfig Config { get; }
    internal CpuLlama Model { get; }

    CpuLoraAdapter(CpuLlama model, PeftConfig config,
        Pair?[,] modules)
    {
        Model = model;
        Config = config;
        _modules = modules;
    }

    internal Pair? Get(int layer, LoraModule module) => _modules[layer, (int)module];

    // The widest stacked rank one fused module may have (qkv stacks 3 parts): bounds the per-session scratch.
    internal const int RankWidthLimit = 512;

    internal static CpuLoraAdapter Create(CpuLlama m, PeftAdapter adapter, string source)
    {
        var config = adapter.Config;
        if (config.PeftType != "LORA" || config.UseDora)
            throw new ModelFormatException($"{source}: {(config.UseDora ? "DoRA" : config.PeftType)} adapters " +
                $"cannot be applied per request; merge them into the model (finetune merge) and serve the merged " +
                $"model.");
        int layers = m.Config.NumHiddenLayers;
        var known = new HashSet<string>(StringComparer.Ordinal);
        var modules = new Pair?[layers, 4];
        float scale = (float)config.Scaling;
        for (int l = 0; l < layers; l++)
        {
            var p = $"model.layers.{l}.";
            modules[l, 0] = Build(m.Kd, m.QkvRows,
                [(p + "self_attn.q_proj", 0, m.QDim), (p + "self_attn.k_proj", m.QDim, m.KvDim),
                (p + "self_attn.v_proj", m.QDim + m.KvDim, m.KvDim)], m.Dim);
            modules[l, 1] = Build(m.Kq, m.DimRows, [(p + "self_attn.o_proj", 0, m.Dim)], m.QDim);
            modules[l, 2] = Build(m.Kd, m.GateUpRows,
                [(p + "mlp.gate_proj", 0, m.Hidden), (p + "mlp.up_proj", m.Hidden, m.Hidden)], m.Dim);
            modules[l, 3] = Build(m.Kh, m.DimRows, [(p + "mlp.down_proj", 0, m.Dim)], m.Hidden);
        }
        var unknown = adapter.Modules.Keys.Where(k => !known.Contains(k)).ToList();
        if (unknown.Count > 0)
            throw new ModelFormatException($"{source}: the adapter adapts {string.Join(", ", unknown.Take(3))}, " +
                $"which this model does not have (adapter for another architecture?).");
        return new CpuLoraAdapter(m, config, modules);

        // One fused module: parts (name, first output row, rows) over an input of `inFeatures` (padded to inWidth).
        Pair? Build(int inWidth, int outRows, (string Name, int Row, int Rows)[] parts, int inFeatures)
        {
            var present = parts.Where(x => adapter.Modules.ContainsKey(x.Name)).ToList();
            if (present.Count == 0)
                return null;
            int r = config.R;
            int rankRows = CpuKernels.RoundUp(r * present.Count, 4), rankWidth = CpuKernels.RoundUp(rankRows, 8);
            if (rankWidth > RankWidthLimit)
                throw new ModelFormatException($"{source}: rank {r} over {present.Count} fused projections exceeds " +
                    $"the per-request limit of {RankWidthLimit / present.Count}; merge the adapter instead.");
            var a = new float[(long)rankRows * inWidth];
            var b = new float[(long)outRows * rankWidth];
            for (int i = 0; i < present.Count; i++)
            {
                var (name, row, rows) = present[i];
                known.Add(name);
                var (la, lb, _) = adapter.Modules[name];
                if (la.Length != r * inFeatures || lb.Length != rows * r)
                    throw new ModelFormatException($"{source}: '{name}' has A of {la.Length} and B of {lb.Length} " +
                        $"values; this model needs [{r}, {inFeatures}] and [{rows}, {r}].");
                for (int k = 0; k < r; k++)
                    la.AsSpan(k * inFeatures, inFeatures).CopyTo(a.AsSpan((i * r + k) * inWidth, inFeatures));
                for (int o = 0; o < rows; o++)
                    for (int k = 0; k < r; k++)
                        b[(long)(row + o) * rankWidth + i * r + k] = lb[o * r + k] * scale;
            }
            var pa = new FloatBuffer(a.LongLength);
            CpuKernels.PackPanels(a, rankRows, inWidth, pa.Ptr);
            var pb = new FloatBuffer(b.LongLength);
            CpuKernels.PackPanels(b, outRows, rankWidth, pb.Ptr);
            return new Pair
            {
                A = pa, B = pb, InWidth = inWidth, RankRows = rankRows, RankWidth = rankWidth,
                OutRows = outRows
            };
        }
    }
}
