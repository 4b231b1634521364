// RMSNorm over float32 rows on the CPU as one autograd function: y = w · x · r with r = 1 / sqrt(mean(x²) + eps) per
// row, and its backward in one pass a row,
//   dx = r · (w ⊙ dy) − x · r³ · ⟨w ⊙ dy, x⟩ / C,
//   dw = Σ_rows dy ⊙ x · r   (not for a frozen weight).
// Composed from libtorch ops the same norm was about nine kernels forward and backward over (B·T, C), 2.1 ms for the
// 15M shape's 2,048 × 288 rows, this 0.5 (13 norms a step). On one thread: a second, from .NET's pool, waited for
// the core libtorch's spinning worker held and made it slower.
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace FineTune.Torch;

public sealed unsafe class FusedRmsNorm : autograd.SingleTensorFunction<FusedRmsNorm>
{
    public override string Name => nameof(FusedRmsNorm);

    /// <summary>Float32 rows and weight on the CPU: what this function computes (anything else keeps libtorch's
    /// ops).</summary>
    public static bool Supports(Tensor x, Tensor weight) =>
        x.dtype == ScalarType.Float32 && weight.dtype == ScalarType.Float32 && x.device_type == DeviceType.CPU
        && weight.device_type == DeviceType.CPU && weight.dim() == 1 && x.dim() >= 1 && x.shape[^1] == weight.shape[0];

    /// <param name="x">(…, C) float32</param>
    /// <param name="weight">(C,) float32</param>
    public static Tensor Compute(Tensor x, Tensor weight, double eps) => is_grad_enabled()
        && (x.requires_grad || weight.requires_grad)
        ? apply(x, weight, eps)
        : Forward(x.detach().contiguous(), weight.detach().contiguous(), (float)eps).Y;

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (x, weight) = (((Tensor)vars[0]).detach().contiguous(), ((Tensor)vars[1]).detach().contiguous());
        var (y, rstd) = Forward(x, weight, (float)(double)vars[2]);
        ctx.save_for_backward([x, weight, rstd]);
        // a frozen weight (LoRA, IA³) gets no gradient: its pass is skipped
        ctx.save_data("weight_grad", ((Tensor)vars[1]).requires_grad);
        return y;
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var saved = ctx.get_saved_variables();
        var (x, weight, rstd) = (saved[0], saved[1], saved[2]);
        var dy = gradOutput.to(ScalarType.Float32).contiguous();
        var dx = empty_like(x);
        int c = (int)weight.shape[0], n = (int)(x.numel() / c);
        float* px = Data(x), pw = Data(weight), pr = Data(rstd), pdy = Data(dy), pdx = Data(dx);
        bool weightGrad = (bool)ctx.get_data("weight_grad");
        var dw = new float[weightGrad ? c : 0];
        Span<float> gw = stackalloc float[c];
        var w = new ReadOnlySpan<float>(pw, c);
        for (int row = 0; row < n; row++)
        {
            var xr = new ReadOnlySpan<float>(px + (long)row * c, c);
            var dyr = new ReadOnlySpan<float>(pdy + (long)row * c, c);
            var dxr = new Span<float>(pdx + (long)row * c, c);
            float r = pr[row];
            TensorPrimitives.Multiply(dyr, w, gw);
            float dot = TensorPrimitives.Dot(gw, xr);
            // dx = r · gw − x · (r³ · dot / C)
            TensorPrimitives.Multiply(gw, r, dxr);
            TensorPrimitives.MultiplyAdd(xr, -r * r * r * dot / c, dxr, dxr);
            if (!weightGrad)
                continue;
            // dw += dy ⊙ x · r
            TensorPrimitives.Multiply(dyr, xr, gw);
            TensorPrimitives.MultiplyAdd(gw, r, dw, dw);
        }
        // the tensors behind the pointers live until here (a temporary's finalizer would free them mid-loop)
        GC.KeepAlive(dy);
        GC.KeepAlive(saved);
        return [dx, weightGrad ? tensor(dw) : null!, null!];
    }

    // y (x's shape) and each row's r (N,)
    static (Tensor Y, Tensor Rstd) Forward(Tensor x, Tensor weight, float eps)
    {
        using var _ = no_grad();
        var y = empty_like(x);
        int c = (int)weight.shape[0], n = (int)(x.numel() / c);
        var rstd = empty(n, dtype: ScalarType.Float32);
        float* px = Data(x), pw = Data(weight), py = Data(y), pr = Data(rstd);
        var w = new ReadOnlySpan<float>(pw, c);
        for (int row = 0; row < n; row++)
        {
            var xr = new ReadOnlySpan<float>(px + (long)row * c, c);
            var yr = new Span<float>(py + (long)row * c, c);
            float r = 1 / MathF.Sqrt(TensorPrimitives.SumOfSquares(xr) / c + eps);
            pr[row] = r;
            TensorPrimitives.Multiply(xr, r, yr);
            TensorPrimitives.Multiply(yr, w, yr);
        }
        GC.KeepAlive(x);
        GC.KeepAlive(weight);
        return (y, rstd);
    }

    static float* Data(Tensor t) => (float*)TensorMemory.Pointer(t);
}
