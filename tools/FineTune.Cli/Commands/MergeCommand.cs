// finetune merge MODEL ADAPTER_DIR OUT_DIR [--dtype D]: base + PEFT LoRA/DoRA adapter → a full Hugging Face checkpoint,
// with the base's tokenizer and generation files copied alongside.
using System.CommandLine;
using FineTune.Models.Checkpoints;
using FineTune.Torch;

namespace FineTune.Cli.Commands;

static class MergeCommand
{
    static readonly string[] CarriedFiles =
        ["tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json", "vocab.json", "merges.txt"];

    public static Command Create(TextWriter stdout)
    {
        var model = new Argument<string>("model") { Description = "Base model (Hugging Face directory or llama2.c .bin)" };
        var adapter = new Argument<string>("adapter") { Description = "PEFT adapter directory (adapter_config.json, adapter_model.safetensors)" };
        var output = new Argument<string>("out-dir") { Description = "Directory for the merged checkpoint" };
        var dtype = new Option<string?>("--dtype") { Description = "float32, bfloat16 or float16 (default: the base model's)" };
        dtype.AcceptOnlyFromAmong("float32", "bfloat16", "float16");
        var command = new Command("merge", "Merge a LoRA/DoRA adapter into its base model.") { model, adapter, output, dtype };
        command.SetAction(async (parse, ct) =>
        {
            var basePath = parse.GetValue(model)!;
            var outDir = parse.GetValue(output)!;
            var (config, tensors) = Engines.ReadMerged(basePath, parse.GetValue(adapter));
            var target = DTypes.FromTorchName(parse.GetValue(dtype) ?? config.TorchDtype);
            var byName = tensors.ToDictionary(t => t.Name);
            HfCheckpoint.Save(outDir, config with { TorchDtype = target.TorchName() }, tensors.Select(t => t.Info with { DType = target }).ToList(),
                info => byName[info.Name].DType == target ? byName[info.Name].Bytes : DTypes.FromFloat32(byName[info.Name].ToFloat32(), target));
            if (Directory.Exists(basePath))
                foreach (var file in CarriedFiles.Where(f => File.Exists(Path.Combine(basePath, f))))
                    File.Copy(Path.Combine(basePath, file), Path.Combine(outDir, file), overwrite: true);
            await stdout.WriteLineAsync($"wrote {outDir}: {config.ParameterCount():N0} parameters as {target.TorchName()}");
            return 0;
        });
        return command;
    }
}
