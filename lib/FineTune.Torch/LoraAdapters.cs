// Exports a LoRA model's adapters in Hugging Face PEFT's format (adapter_config.json + adapter_model.safetensors),
// so PEFT, vLLM and our own `--adapter`/`merge` load them.
using FineTune.Models.Adapters;

namespace FineTune.Torch;

public static class LoraAdapters
{
    public static void Save(Llama model, string directory, string? baseModelNameOrPath = null)
    {
        var lora = model.Lora ?? throw new InvalidOperationException("the model has no LoRA adapters to save.");
        var parameters = model.AdapterParameters().ToDictionary(p => p.Name, p => p.Parameter);
        var modules = new Dictionary<string, (float[] A, float[] B, float[]? Magnitude)>();
        var shapes = new Dictionary<string, (long Out, long In)>();
        foreach (var name in parameters.Keys.Where(n => n.EndsWith(".lora_A.weight", StringComparison.Ordinal)))
        {
            var module = name[..^".lora_A.weight".Length];
            var a = parameters[name];
            var b = parameters[module + ".lora_B.weight"];
            modules[module] = (Floats(a), Floats(b), null);
            shapes[module] = (b.shape[0], a.shape[1]);
        }
        var config = new PeftConfig
        {
            R = lora.Rank, LoraAlpha = lora.Alpha, LoraDropout = lora.Dropout, UseRslora = lora.UseRslora,
            TargetModules = lora.TargetModules.Contains("all-linear") ? LoraSettings.AllLinear : lora.TargetModules,
            BaseModelNameOrPath = baseModelNameOrPath,
        };
        PeftAdapter.Save(directory, config, modules, shapes);
    }

    static float[] Floats(Tensor t)
    {
        using var scope = NewDisposeScope();
        return t.detach().to(ScalarType.Float32).contiguous().data<float>().ToArray();
    }
}
