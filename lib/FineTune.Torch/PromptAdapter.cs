// PEFT prompt- and prefix-tuning adapters for inference: adapter_config.json with peft_type PROMPT_TUNING or
// PREFIX_TUNING and `prompt_embeddings` in adapter_model.safetensors, applied by the TorchSharp model (the virtual
// tokens cannot be merged into weights). `finetune generate/eval --adapter DIR` come here for those types.
using System.Text.Json.Nodes;
using FineTune.Models;
using FineTune.Models.Adapters;
using FineTune.Models.Checkpoints;

namespace FineTune.Torch;

public static class PromptAdapter
{
    /// <summary>The adapter's settings when it is a prompt or prefix tuning adapter, else null (LoRA, IA3,
    /// …).</summary>
    public static PromptSettings? TryRead(string directory)
    {
        var path = Path.Combine(directory, PeftAdapter.ConfigFile);
        if (!File.Exists(path))
            return null;
        var json = JsonNode.Parse(File.ReadAllText(path));
        var type = json?["peft_type"]?.GetValue<string>();
        if (type is not ("PROMPT_TUNING" or "PREFIX_TUNING"))
            return null;
        int tokens = json!["num_virtual_tokens"]?.GetValue<int>()
            ?? throw new ModelFormatException($"{path}: field 'num_virtual_tokens' is missing.");
        return new PromptSettings(tokens, Prefix: type == "PREFIX_TUNING");
    }

    /// <summary>The base model with the adapter's virtual tokens (or prefixes) loaded.</summary>
    public static Llama Load(string modelPath, string directory, PromptSettings settings)
    {
        var model = LlamaCheckpoints.Load(modelPath, adapter: settings);
        var weightsPath = Path.Combine(directory, PeftAdapter.WeightsFile);
        using var file = SafeTensorsFile.Open(weightsPath);
        if (!file.Contains("prompt_embeddings"))
            throw new ModelFormatException($"{weightsPath}: no 'prompt_embeddings' tensor (is this a " +
                $"{settings.PeftType} adapter?).");
        var data = file.Read("prompt_embeddings");
        var parameter = model.AdapterParameters().Single().Parameter;
        if (!data.Shape.SequenceEqual(parameter.shape))
            throw new ModelFormatException($"{weightsPath}: 'prompt_embeddings' has shape {data.Info.ShapeText}, " +
                $"this model needs [{string.Join(", ", parameter.shape)}] (adapter for another model?).");
        using (no_grad())
        using (var values = tensor(data.ToFloat32(), data.Shape))
            parameter.copy_(values);
        return model;
    }
}
