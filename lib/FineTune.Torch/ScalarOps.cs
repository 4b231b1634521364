// Tensor arithmetic that keeps its Scalars alive. TorchSharp 0.107 hands a Scalar's native handle to libtorch and drops
// the managed object: a garbage collection on another thread can finalize it during the native call, and libtorch then
// reads freed memory ("Expected false to be true … Scalar.h:140", at random, a few times per thousand steps). Every
// implicit conversion is exposed: a + b (its alpha of 1), x * 0.5, x + eps, pow(2), full(…, -inf), ne(-100). These
// helpers hold the Scalar in a `using` local (or a process-lifetime constant) until the call returns.
namespace FineTune.Torch;

public static class ScalarOps
{
    static readonly Scalar One = 1.ToScalar();   // never disposed, so never finalized while libtorch reads it

    /// <summary>a + b</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, One);

    /// <summary>a + s</summary>
    public static Tensor Plus(this Tensor a, double s)
    {
        using var scalar = s.ToScalar();
        return a.add(scalar, One);
    }

    /// <summary>a - b (TorchSharp's tensor sub passes no Scalar)</summary>
    public static Tensor Minus(this Tensor a, Tensor b) => a.sub(b);

    /// <summary>a · s</summary>
    public static Tensor Times(this Tensor a, double s)
    {
        using var scalar = s.ToScalar();
        return a.mul(scalar);
    }

    /// <summary>In place: a += s · b</summary>
    public static Tensor AddScaled_(this Tensor a, Tensor b, double s)
    {
        using var scalar = s.ToScalar();
        return a.add_(b, scalar);
    }

    /// <summary>In place: a · s</summary>
    public static Tensor Times_(this Tensor a, double s)
    {
        using var scalar = s.ToScalar();
        return a.mul_(scalar);
    }

    /// <summary>In place: a += s</summary>
    public static Tensor Plus_(this Tensor a, double s)
    {
        using var scalar = s.ToScalar();
        return a.add_(scalar, One);
    }

    /// <summary>In place: a += s · t1 · t2</summary>
    public static Tensor AddProduct_(this Tensor a, Tensor t1, Tensor t2, double s)
    {
        using var scalar = s.ToScalar();
        return a.addcmul_(t1, t2, scalar);
    }

    /// <summary>In place: a += s · t1 / t2</summary>
    public static Tensor AddQuotient_(this Tensor a, Tensor t1, Tensor t2, double s)
    {
        using var scalar = s.ToScalar();
        return a.addcdiv_(t1, t2, scalar);
    }

    /// <summary>min(max(a, lo), hi), elementwise</summary>
    public static Tensor Clamp(this Tensor a, double lo, double hi)
    {
        using var min = lo.ToScalar();
        using var max = hi.ToScalar();
        return a.clamp(min, max);
    }

    /// <summary>max(a, lo), elementwise</summary>
    public static Tensor ClampMin(this Tensor a, double lo)
    {
        using var min = lo.ToScalar();
        return a.clamp_min(min);
    }

    /// <summary>a &lt; s, elementwise</summary>
    public static Tensor Below(this Tensor a, double s)
    {
        using var scalar = s.ToScalar();
        return a.lt(scalar);
    }

    /// <summary>a &gt; s, elementwise</summary>
    public static Tensor Above(this Tensor a, double s)
    {
        using var scalar = s.ToScalar();
        return a.gt(scalar);
    }

    /// <summary>a ≠ s, elementwise</summary>
    public static Tensor NotEqual(this Tensor a, long s)
    {
        using var scalar = s.ToScalar();
        return a.ne(scalar);
    }

    /// <summary>A tensor of the shape filled with the value.</summary>
    public static Tensor Filled(long[] shape, double value, ScalarType? dtype = null, Device? device = null)
    {
        using var scalar = value.ToScalar();
        return full(shape, scalar, dtype, device);
    }

    /// <summary>0, 1, …, n-1</summary>
    public static Tensor Range(long n, ScalarType dtype = ScalarType.Int64, Device? device = null)
    {
        using var stop = n.ToScalar();
        return arange(stop, dtype, device);
    }

    /// <summary>The tensor's values as a float32 array (detached, contiguous, copied out).</summary>
    public static float[] ToFloat32Array(this Tensor t)
    {
        using var scope = NewDisposeScope();
        return t.detach().to(ScalarType.Float32).contiguous().data<float>().ToArray();
    }
}
