// AdamW (Loshchilov and Hutter 2019) as PyTorch computes it: decoupled weight decay p ← p·(1 - lr·λ), moments
// m ← β1·m + (1-β1)·g and v ← β2·v + (1-β2)·g², update p ← p - lr/(1-β1^t) · m / (√v/√(1-β2^t) + ε). Two groups: with
// and without decay (norms, biases and adapter scale vectors never decay). The state is plain tensors by parameter
// name, so a checkpoint stores it exactly and a resumed run continues bit for bit.
using FineTune.Models.Checkpoints;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace FineTune.Torch;

public sealed class AdamWOptimizer : IDisposable
{
    readonly (string Name, Parameter Parameter, bool Decay)[] _parameters;
    readonly Tensor[] _m, _v;
    readonly double _beta1, _beta2, _eps, _weightDecay;

    /// <summary>Optimizer steps taken (t in the bias corrections).</summary>
    public long Step { get; private set; }

    public AdamWOptimizer(IEnumerable<(string Name, Parameter Parameter)> trainable, double weightDecay, double beta1,
        double beta2, double eps)
    {
        _parameters = trainable.Select(p => (p.Name, p.Parameter,
            weightDecay > 0 && Decays(p.Name, p.Parameter))).ToArray();
        if (_parameters.Length == 0)
            throw new ArgumentException("the model has no trainable parameters.", nameof(trainable));
        _m = _parameters.Select(p => zeros_like(p.Parameter, dtype: ScalarType.Float32)).ToArray();
        _v = _parameters.Select(p => zeros_like(p.Parameter, dtype: ScalarType.Float32)).ToArray();
        (_beta1, _beta2, _eps, _weightDecay) = (beta1, beta2, eps, weightDecay);
    }

    public IReadOnlyList<Parameter> Parameters => _parameters.Select(p => p.Parameter).ToArray();

    /// <summary>Names of the parameters that get weight decay (for the report).</summary>
    public IEnumerable<string> Decayed => _parameters.Where(p => p.Decay).Select(p => p.Name);

    static bool Decays(string name, Parameter p) =>
        p.dim() >= 2 && !name.Contains("norm", StringComparison.Ordinal) && !name.EndsWith(".ia3_l",
            StringComparison.Ordinal);

    /// <summary>Drops the gradients (PyTorch's zero_grad(set_to_none=True)): the next backward writes fresh ones
    /// instead of adding into zeroed ones, a pass less over every gradient, and a step without gradients is
    /// skipped.</summary>
    public void ZeroGrad()
    {
        // p.grad returns a new managed wrapper: the scope holds it until libtorch is done with it.
        using var scope = NewDisposeScope();
        foreach (var (_, p, _) in _parameters)
            if (p.grad is not null)
                p.grad = null;
    }

    /// <param name="gradScale">every gradient is multiplied by this first: clipping's coefficient
    /// (<see cref="ClipCoefficient"/>) folded into the step, one pass over the gradients less than scaling them in
    /// place, with the same float32 products</param>
    public void Update(double lr, double gradScale = 1)
    {
        Step++;
        double correction1 = 1 - Math.Pow(_beta1, Step), correction2 = 1 - Math.Pow(_beta2, Step);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var fused = new List<(Tensor, Tensor, Tensor, Tensor, FusedAdamW.Step)>();
        for (int i = 0; i < _parameters.Length; i++)
        {
            var (_, p, decay) = _parameters[i];
            if (p.grad is not { } g)
                continue;
            // float32 parameters (all of them in float32 and bf16-autocast training): one pass each, FusedAdamW
            if (TensorMemory.IsPlainFloat32(p) && TensorMemory.IsPlainFloat32(g))
            {
                fused.Add((p, g, _m[i], _v[i], new FusedAdamW.Step((float)(1 - lr * _weightDecay), (float)_beta1,
                    (float)(1 - _beta1), (float)_beta2, (float)(1 - _beta2), (float)(1 / Math.Sqrt(correction2)),
                    (float)_eps, (float)(-lr / correction1), decay, (float)gradScale)));
                continue;
            }
            if (gradScale != 1)
                g.Times_(gradScale);
            if (decay)
                p.Times_(1 - lr * _weightDecay);
            _m[i].Times_(_beta1).AddScaled_(g, 1 - _beta1);
            _v[i].Times_(_beta2).AddProduct_(g, g, 1 - _beta2);
            var denominator = _v[i].sqrt().Times_(1 / Math.Sqrt(correction2)).Plus_(_eps);
            p.AddQuotient_(_m[i], denominator, -lr / correction1);
        }
        FusedAdamW.Run(fused, get_num_threads());
    }

    /// <summary>
    /// The global L2 norm of the gradients; when above <paramref name="maxNorm"/> every gradient is scaled by
    /// maxNorm / (norm + 1e-6), as torch.nn.utils.clip_grad_norm_ does. Returns the norm before clipping.
    /// </summary>
    public double ClipGradNorm(double maxNorm)
    {
        double norm = GradNorm();
        double coefficient = ClipCoefficient(norm, maxNorm);
        if (coefficient < 1)
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            foreach (var g in _parameters.Select(p => p.Parameter.grad).OfType<Tensor>())
                g.Times_(coefficient);
        }
        return norm;
    }

    /// <summary>What clipping to <paramref name="maxNorm"/> multiplies gradients of this norm by (1: none).</summary>
    public static double ClipCoefficient(double norm, double maxNorm) =>
        maxNorm / (norm + 1e-6) is var c && c < 1 ? c : 1;

    /// <summary>The global L2 norm of the gradients (0 without any).</summary>
    public double GradNorm()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        // float32 gradients summed in place (no squared copy); others through libtorch
        double squares = 0;
        var others = new List<Tensor>();
        foreach (var g in _parameters.Select(p => p.Parameter.grad).OfType<Tensor>())
            if (TensorMemory.IsPlainFloat32(g))
                squares += TensorPrimitives.SumOfSquares<float>(TensorMemory.Floats(g));
            else
                others.Add(g);
        if (others.Count > 0)
            squares += stack(others.Select(g =>
            {
                var g32 = g.to(ScalarType.Float32);
                return (g32 * g32).sum();
            }).ToArray()).sum().item<float>();
        return Math.Sqrt(squares);
    }

    public void Save(string path)
    {
        var tensors = new List<TensorData>();
        for (int i = 0; i < _parameters.Length; i++)
        {
            tensors.Add(TensorData.FromFloat32(_parameters[i].Name + ".exp_avg", _m[i].shape, _m[i].ToFloat32Array()));
            tensors.Add(TensorData.FromFloat32(_parameters[i].Name + ".exp_avg_sq", _v[i].shape,
                _v[i].ToFloat32Array()));
        }
        SafeTensorsWriter.Write(path, tensors,
            new Dictionary<string,
            string>
            { ["step"] = Step.ToString(System.Globalization.CultureInfo.InvariantCulture) });
    }

    /// <param name="step">the update count to continue from when the file does not record one (its "step"
    /// metadata, which counts every update: several per trainer step in PPO)</param>
    public void Load(string path, long step)
    {
        using var file = SafeTensorsFile.Open(path);
        if (file.Metadata.TryGetValue("step", out var saved))
            step = long.Parse(saved, System.Globalization.CultureInfo.InvariantCulture);
        using var _ = no_grad();
        for (int i = 0; i < _parameters.Length; i++)
        {
            foreach (var (suffix, state) in new[] { (".exp_avg", _m[i]), (".exp_avg_sq", _v[i]) })
            {
                var data = file.Read(_parameters[i].Name + suffix);
                if (!data.Shape.SequenceEqual(state.shape))
                    throw new InvalidDataException($"{path}: '{data.Name}' has shape {data.Info.ShapeText}, the " +
                        $"parameter has [{string.Join(", ", state.shape)}].");
                using var values = tensor(data.ToFloat32(), data.Shape);
                state.copy_(values);
            }
        }
        Step = step;
    }

    public void Dispose()
    {
        foreach (var t in _m.Concat(_v))
            t.Dispose();
    }
}
