// Rotary position embedding over float32 (B, T, heads, hd) projections on the CPU as one autograd function, before
// the heads are transposed: each (b, t) row's cos/sin (hd,) serve its heads. With h = hd/2 ("rotate_half"),
//   y[i] = x[i]·cos[i] − x[i+h]·sin[i],   y[i+h] = x[i+h]·cos[i+h] + x[i]·sin[i+h]          (i < h)
// and the backward is the inverse rotation of dy:
//   dx[i] = dy[i]·cos[i] + dy[i+h]·sin[i+h],   dx[i+h] = dy[i+h]·cos[i+h] − dy[i]·sin[i].
// libtorch composed it from a slice, a negation, a concatenation and three products over a transposed view, forward and
// backward: 1.7 ms for one of the 15M shape's 2,048 × 6 × 48 projections, twelve a step.
using System.Runtime.Intrinsics;

namespace FineTune.Torch;

public sealed unsafe class FusedRope : autograd.SingleTensorFunction<FusedRope>
{
    public override string Name => nameof(FusedRope);

    /// <summary>x (B, T, heads, hd) and cos/sin (B, 1, T, hd) in float32 on the CPU, hd even.</summary>
    public static bool Supports(Tensor x, Tensor cos) =>
        x.dtype == ScalarType.Float32 && cos.dtype == ScalarType.Float32 && x.device_type == DeviceType.CPU
        && cos.device_type == DeviceType.CPU && x.dim() == 4 && cos.dim() == 4 && x.shape[^1] % 2 == 0
        && cos.shape[0] == x.shape[0] && cos.shape[1] == 1 && cos.shape[2] == x.shape[1]
        && cos.shape[3] == x.shape[3];

    /// <param name="x">(B, T, heads, hd)</param>
    /// <param name="cos">(B, 1, T, hd), the halves repeated</param>
    /// <param name="sin">(B, 1, T, hd)</param>
    /// <returns>(B, T, heads, hd) rotated</returns>
    public static Tensor Compute(Tensor x, Tensor cos, Tensor sin) => is_grad_enabled() && x.requires_grad
        ? apply(x, cos, sin)
        : Rotate(x.detach().contiguous(), cos.detach().contiguous(), sin.detach().contiguous(), inverse: false);

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (cos, sin) = (((Tensor)vars[1]).detach().contiguous(), ((Tensor)vars[2]).detach().contiguous());
        ctx.save_for_backward([cos, sin]);
        return Rotate(((Tensor)vars[0]).detach().contiguous(), cos, sin, inverse: false);
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var saved = ctx.get_saved_variables();
        var dy = gradOutput.to(ScalarType.Float32).contiguous();
        return [Rotate(dy, saved[0], saved[1], inverse: true), null!, null!];
    }

    // The rotation by each position's angles (inverse: by their negatives), row by row.
    static Tensor Rotate(Tensor x, Tensor cos, Tensor sin, bool inverse)
    {
        using var _ = no_grad();
        var y = empty_like(x);
        long rows = x.shape[0] * x.shape[1];
        int heads = (int)x.shape[2], hd = (int)x.shape[3], half = hd / 2;
        float* px = Data(x), py = Data(y), pc = Data(cos), ps = Data(sin);
        for (long row = 0; row < rows; row++)
        {
            float* c = pc + row * hd, s = ps + row * hd;
            for (int head = 0; head < heads; head++)
            {
                long at = (row * heads + head) * hd;
                float* x1 = px + at, x2 = x1 + half, y1 = py + at, y2 = y1 + half;
                int i = 0;
                for (; Vector256.IsHardwareAccelerated && i + 8 <= half; i += 8)
                {
                    var (a, b) = (Vector256.Load(x1 + i), Vector256.Load(x2 + i));
                    var (c1, c2, s1, s2) = (Vector256.Load(c + i), Vector256.Load(c + half + i),
                        Vector256.Load(s + i), Vector256.Load(s + half + i));
                    if (inverse)
                    {
                        (a * c1 + b * s2).Store(y1 + i);
                        (b * c2 - a * s1).Store(y2 + i);
                    }
                    else
                    {
                        (a * c1 - b * s1).Store(y1 + i);
                        (b * c2 + a * s2).Store(y2 + i);
                    }
                }
                for (; i < half; i++)
                {
                    float a = x1[i], b = x2[i];
                    (y1[i], y2[i]) = inverse
                        ? (a * c[i] + b * s[half + i], b * c[half + i] - a * s[i])
                        : (a * c[i] - b * s[i], b * c[half + i] + a * s[half + i]);
                }
            }
        }
        // the tensors behind the pointers live until here (a temporary's finalizer would free them mid-loop)
        GC.KeepAlive(x);
        GC.KeepAlive(cos);
        GC.KeepAlive(sin);
        return y;
    }

    static float* Data(Tensor t) => (float*)TensorMemory.Pointer(t);
}
