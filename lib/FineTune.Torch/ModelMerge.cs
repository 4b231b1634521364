// Base + PEFT adapter (LoRA/DoRA/IA³) → one full Hugging Face checkpoint, with the base's tokenizer and generation
// files copied beside it. `finetune merge` and the pipeline's start-from-production retraining both use it.
using FineTune.Models;
using FineTune.Models.Checkpoints;

namespace FineTune.Torch;

public static class ModelMerge
{
    public static readonly string[] CarriedFiles =
        ["tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
            "generation_config.json", "vocab.json", "merges.txt"];

    /// <summary>Writes the merged checkpoint to <paramref name="outDir"/> in <paramref name="dtype"/> (default: the
    /// base's).</summary>
    public static LlamaConfig Save(string basePath, string adapterDirectory, string outDir, DType? dtype = null)
    {
        var (config, tensors) = Engines.ReadMerged(basePath, adapterDirectory);
        var target = dtype ?? DTypes.FromTorchName(config.TorchDtype);
        var byName = tensors.ToDictionary(t => t.Name);
        HfCheckpoint.Save(outDir, config with { TorchDtype = target.TorchName() },
            tensors.Select(t => t.Info with { DType = target }).ToList(),
            info => byName[info.Name].DType == target ? byName[info.Name].Bytes
                : DTypes.FromFloat32(byName[info.Name].ToFloat32(), target));
        if (Directory.Exists(basePath))
            foreach (var file in CarriedFiles.Where(f => File.Exists(Path.Combine(basePath, f))))
                File.Copy(Path.Combine(basePath, file), Path.Combine(outDir, file), overwrite: true);
        return config;
    }
}
