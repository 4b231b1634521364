// The row passes of Bf16CrossEntropy over one (V,) row of bfloat16 logits, in float32 vectors read straight from the
// bf16 halves: the max and whether the target is the first index of it (torch.argmax's rule for ties), the sum of
// exp(x − shift) (each exp kept for the gradient, or not), and kept exps scaled and rounded to bf16. exp is a
// degree-6 polynomial after range reduction (within 2 ulp of float32 exp over the softmax range): TensorPrimitives.Exp
// widens float32 to double and took most of the loss's time, about 0.36 ns an element against 0.17 here.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using FineTune.Models.Checkpoints;

namespace FineTune.Torch;

static unsafe class Bf16SoftmaxRows
{
    const int Lanes = 8, Wide = 16;
    // exp(x) underflows below this: clamped there, exp is 2.0e-38 (a normal float32), not 0
    const float Lowest = -87f;

    /// <summary>The row's max (NaN when the row holds one) and whether x[target] is its first maximum.</summary>
    public static (float Max, bool TargetIsArgMax) MaxAndHit(ushort* x, int v, int target)
    {
        int i = 0;
        float max = float.NegativeInfinity;
        bool nan = false;
        if (Vector512.IsHardwareAccelerated && v >= Wide)
        {
            var m = Vector512.Create(float.NegativeInfinity);
            var unordered = Vector512<float>.Zero;
            for (; i + Wide <= v; i += Wide)
            {
                var f = Load512(x + i);
                m = Vector512.Max(m, f);
                unordered |= ~Vector512.Equals(f, f);
            }
            max = MaxLanes(Vector256.Max(m.GetLower(), m.GetUpper()));
            nan = unordered != Vector512<float>.Zero;
        }
        else if (Vector256.IsHardwareAccelerated && v >= Lanes)
        {
            var m = Vector256.Create(float.NegativeInfinity);
            var unordered = Vector256<float>.Zero;
            for (; i + Lanes <= v; i += Lanes)
            {
                var f = Load256(x + i);
                m = Vector256.Max(m, f);
                unordered |= ~Vector256.Equals(f, f);
            }
            max = MaxLanes(m);
            nan = unordered != Vector256<float>.Zero;
        }
        for (; i < v; i++)
        {
            float f = Widen(x[i]);
            nan |= float.IsNaN(f);
            max = MathF.Max(max, f);
        }
        if (nan)
            return (float.NaN, false);
        if (Widen(x[target]) != max)
            return (max, false);
        for (int j = 0; j < target; j++)
            if (Widen(x[j]) == max)
                return (max, false);
        return (max, true);
    }

    internal static float MaxLanes(Vector256<float> m)
    {
        float max = float.NegativeInfinity;
        for (int lane = 0; lane < Lanes; lane++)
            max = MathF.Max(max, m[lane]);
        return max;
    }

    /// <summary>Σ exp(x − shift) over the row.</summary>
    public static float SumExp(ushort* x, int v, float shift) =>
        SumExp(x, v, shift, null, Vector512.IsHardwareAccelerated);

    /// <summary>Σ exp(x − shift) over the row, the same bits, each exp kept in e (v floats; null: none kept): the
    /// gradient's pass scales them (<see cref="Scale"/>) rather than taking every exp a second time.</summary>
    public static float SumExp(ushort* x, int v, float shift, float* e) =>
        SumExp(x, v, shift, e, Vector512.IsHardwareAccelerated);

    internal static float SumExp512(ushort* x, int v, float shift) => SumExp(x, v, shift, null, wide: true);

    internal static float SumExp256(ushort* x, int v, float shift) => SumExp(x, v, shift, null, wide: false);

    // e null: the exps are only summed
    internal static float SumExp(ushort* x, int v, float shift, float* e, bool wide)
    {
        int i = 0;
        float sum = 0;
        if (wide)
        {
            var s = Vector512.Create(shift);
            Vector512<float> a = default, b = default;
            for (; i + 2 * Wide <= v; i += 2 * Wide)
            {
                var (ea, eb) = (Exp(Load512(x + i) - s), Exp(Load512(x + i + Wide) - s));
                (a, b) = (a + ea, b + eb);
                if (e != null)
                {
                    ea.Store(e + i);
                    eb.Store(e + i + Wide);
                }
            }
            sum = Vector512.Sum(a + b);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var s = Vector256.Create(shift);
            Vector256<float> a = default, b = default;
            for (; i + 2 * Lanes <= v; i += 2 * Lanes)
            {
                var (ea, eb) = (Exp(Load256(x + i) - s), Exp(Load256(x + i + Lanes) - s));
                (a, b) = (a + ea, b + eb);
                if (e != null)
                {
                    ea.Store(e + i);
                    eb.Store(e + i + Lanes);
                }
            }
            sum = Vector256.Sum(a + b);
        }
        float tail = 0;
        for (; i < v; i++)
        {
            float exp = MathF.Exp(Widen(x[i]) - shift);
            tail += exp;
            if (e != null)
                e[i] = exp;
        }
        return sum + tail;
    }

    /// <summary>dst = bf16(c · e), rounded as DTypes.ToBFloat16 rounds (e is overwritten with c · e); dst may be
    /// the row the exps were taken from.</summary>
    public static void Scale(float* e, int v, float c, ushort* dst)
    {
        // a chunk multiplied then rounded while it is in L1
        const int Chunk = 2048;
        var scale = Vector512.Create(c);
        for (int start = 0; start < v; start += Chunk)
        {
            int n = Math.Min(Chunk, v - start), i = 0;
            float* y = e + start;
            for (; Vector512.IsHardwareAccelerated && i + Wide <= n; i += Wide)
                (Vector512.Load(y + i) * scale).Store(y + i);
            for (; i < n; i++)
                y[i] *= c;
            DTypes.ToBFloat16(new ReadOnlySpan<float>(y, n), new Span<ushort>(dst + start, n));
        }
    }

    /// <summary>A bfloat16 value as float32 (exact).</summary>
    public static float Widen(ushort value) => BitConverter.Int32BitsToSingle(value << 16);

    // bf16 values widened to float32 (exact: a bf16 is a float32's high half)
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Load256(ushort* x) =>
        Vector256.ShiftLeft(Vector256.WidenLower(Vector128.Load(x).ToVector256Unsafe()), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Load512(ushort* x) =>
        Vector512.ShiftLeft(Vector512.WidenLower(Vector256.Load(x).ToVector512Unsafe()), 16).AsSingle();

    // exp(x) = 2^k · exp(r), k = round(x / ln 2), r = x − k ln 2 (ln 2 in two parts, so r is exact) in
    // [−ln2/2, ln2/2], exp(r) by its Taylor polynomial to r^6 (error below 1.2e-7 relative). NaN stays NaN;
    // x ≤ −87 gives exp(−87). The same steps at both widths (.NET has no public width-generic vector type).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Exp(Vector512<float> x)
    {
        x = Vector512.Max(x, Vector512.Create(Lowest));
        var k = Vector512.Round(x * Vector512.Create(Log2E));
        var r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-Ln2High), x);
        r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-Ln2Low), r);
        var p = Vector512.Create(1f / 720);
        foreach (float c in Taylor)
            p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(c));
        // 2^k added to p's exponent bits (k ≥ −126: the result stays a normal float)
        return (p.AsInt32() + Vector512.ShiftLeft(Vector512.ConvertToInt32(k), 23)).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Exp(Vector256<float> x)
    {
        x = Vector256.Max(x, Vector256.Create(Lowest));
        var k = Vector256.Round(x * Vector256.Create(Log2E));
        var r = Vector256.FusedMultiplyAdd(k, Vector256.Create(-Ln2High), x);
        r = Vector256.FusedMultiplyAdd(k, Vector256.Create(-Ln2Low), r);
        var p = Vector256.Create(1f / 720);
        foreach (float c in Taylor)
            p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(c));
        return (p.AsInt32() + Vector256.ShiftLeft(Vector256.ConvertToInt32(k), 23)).AsSingle();
    }

    const float Log2E = 1.44269504f, Ln2High = 0.693145752f, Ln2Low = 1.42860677e-6f;
    // the Taylor coefficients of exp after 1/6!, highest first
    static ReadOnlySpan<float> Taylor => [1f / 120, 1f / 24, 1f / 6, 0.5f, 1f, 1f];
}
