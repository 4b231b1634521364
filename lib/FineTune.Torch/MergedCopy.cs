// The policy's weights as a merged checkpoint held in memory, by Hugging Face name: LoRA, DoRA and QLoRA folded into
// their base (LoraLinear.MergedWeight), full fine-tuning as it is. What the managed CPU engine loads to sample from the
// policy as it is now (GRPO's and PPO's rollouts), without writing a checkpoint.
using FineTune.Models.Checkpoints;

namespace FineTune.Torch;

public static class MergedCopy
{
    /// <summary>A reader of the merged weights in float32; null when the model's adapter does not fold into its
    /// weights this way (IA³, prompt and prefix tuning).</summary>
    public static Func<string, TensorData>? Reader(Llama model)
    {
        if (model.Adapter is not (null or LoraSettings))
            return null;
        var layers = model.named_modules().Where(m => m.module is LoraLinear)
            .ToDictionary(m => m.name + ".weight", m => (LoraLinear)m.module);
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        return name =>
        {
            using var scope = NewDisposeScope();
            var weight = layers.TryGetValue(name, out var layer) ? layer.MergedWeight()
                : parameters.TryGetValue(name, out var parameter) ? parameter.detach().to(ScalarType.Float32)
                : throw new KeyNotFoundException($"the policy has no tensor '{name}'.");
            return TensorData.FromFloat32(name, weight.shape, weight.ToFloat32Array());
        };
    }
}
