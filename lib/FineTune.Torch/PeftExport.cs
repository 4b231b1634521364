// Exports a model's adapter in Hugging Face PEFT's format (adapter_config.json + adapter_model.safetensors), so PEFT,
// vLLM and our own `--adapter`/`merge` load it: LORA (with use_dora), IA3, PROMPT_TUNING and PREFIX_TUNING, with
// PEFT's tensor names (base_model.model.<module>.lora_A.weight, ….ia3_l; prompt_embeddings) and config keys.
using System.Text.Json;
using System.Text.Json.Nodes;
using FineTune.Models.Adapters;
using FineTune.Models.Checkpoints;

namespace FineTune.Torch;

public static class PeftExport
{
    const string Prefix = "base_model.model.";

    public static void Save(Llama model, string directory, string? baseModelNameOrPath = null)
    {
        switch (model.Adapter)
        {
            case LoraSettings lora:
                SaveLora(model, lora, directory, baseModelNameOrPath);
                break;
            case Ia3Settings ia3:
                Write(directory, model.AdapterParameters().Select(p => Data(Prefix + p.Name, p.Parameter)).ToList(),
                    new JsonObject
                    {
                        ["peft_type"] = "IA3", ["task_type"] = "CAUSAL_LM",
                        ["base_model_name_or_path"] = baseModelNameOrPath,
                        ["target_modules"] = Array(ia3.Modules),
                        ["feedforward_modules"] = Array(ia3.Modules.Where(ia3.IsFeedforward)),
                        ["fan_in_fan_out"] = false, ["init_ia3_weights"] = true, ["modules_to_save"] = null,
                        ["inference_mode"] = true,
                    });
                break;
            case PromptSettings prompt:
                var c = model.Config;
                // For prefix tuning PEFT records the key/value width: token_dim = kv_heads·head_dim, heads = kv_heads
                // (GQA).
                int tokenDim = prompt.Prefix ? c.NumKeyValueHeads * c.HeadDim : c.HiddenSize;
                int heads = prompt.Prefix ? c.NumKeyValueHeads : c.NumAttentionHeads;
                var config = new JsonObject
                {
                    ["peft_type"] = prompt.PeftType, ["task_type"] = "CAUSAL_LM",
                    ["base_model_name_or_path"] = baseModelNameOrPath,
                    ["num_virtual_tokens"] = prompt.NumVirtualTokens, ["token_dim"] = tokenDim,
                    ["num_transformer_submodules"] = 1,
                    ["num_attention_heads"] = heads, ["num_layers"] = c.NumHiddenLayers, ["inference_mode"] = true,
                };
                if (prompt.Prefix)
                {
                    config["encoder_hidden_size"] = tokenDim;
                    config["prefix_projection"] = false;
                }
                else
                {
                    config["prompt_tuning_init"] = "RANDOM";
                    config["prompt_tuning_init_text"] = null;
                    config["tokenizer_name_or_path"] = null;
                }
                // "prompt_embeddings", unprefixed
                Write(directory, model.AdapterParameters().Select(p => Data(p.Name, p.Parameter)).ToList(), config);
                break;
            default:
                throw new InvalidOperationException("the model has no adapter to save (a fully fine-tuned " +
                "model is saved as a checkpoint).");
        }
    }

    static void SaveLora(Llama model, LoraSettings lora, string directory, string? baseModelNameOrPath)
    {
        var parameters = model.AdapterParameters().ToDictionary(p => p.Name, p => p.Parameter);
        var modules = new Dictionary<string, (float[] A, float[] B, float[]? Magnitude)>();
        var shapes = new Dictionary<string, (long Out, long In)>();
        foreach (var name in parameters.Keys.Where(n => n.EndsWith(".lora_A.weight", StringComparison.Ordinal)))
        {
            var module = name[..^".lora_A.weight".Length];
            var a = parameters[name];
            var b = parameters[module + ".lora_B.weight"];
            var magnitude = parameters.GetValueOrDefault(module + ".lora_magnitude_vector");
            modules[module] = (a.ToFloat32Array(), b.ToFloat32Array(), magnitude?.ToFloat32Array());
            shapes[module] = (b.shape[0], a.shape[1]);
        }
        // A reward model's score head is new: PEFT saves it whole (modules_to_save) as base_model.model.score.weight.
        bool classifier = model.Config.IsSequenceClassifier;
        var config = new PeftConfig
        {
            R = lora.Rank, LoraAlpha = lora.Alpha, LoraDropout = lora.Dropout, UseRslora = lora.UseRslora,
            UseDora = lora.UseDora,
            TargetModules = lora.Modules, BaseModelNameOrPath = baseModelNameOrPath,
            TaskType = classifier ? "SEQ_CLS" : "CAUSAL_LM", ModulesToSave = classifier ? ["score"] : [],
        };
        var saved = classifier ? [Data(Prefix + LlamaWeights.ScoreWeight, parameters[LlamaWeights.ScoreWeight])]
            : new List<TensorData>();
        PeftAdapter.Save(directory, config, modules, shapes, saved);
    }

    static void Write(string directory, IReadOnlyList<TensorData> tensors, JsonObject config)
    {
        Directory.CreateDirectory(directory);
        SafeTensorsWriter.Write(Path.Combine(directory, PeftAdapter.WeightsFile), tensors,
            new Dictionary<string, string> { ["format"] = "pt" });
        File.WriteAllText(Path.Combine(directory, PeftAdapter.ConfigFile),
            config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    static JsonArray Array(IEnumerable<string> values) => new(values.Select(v => (JsonNode)v).ToArray());

    static TensorData Data(string name, Tensor t) => TensorData.FromFloat32(name, t.shape, t.ToFloat32Array());

}
