// finetune merge MODEL ADAPTER_DIR OUT_DIR [--dtype D]: base + PEFT LoRA/DoRA adapter → a full Hugging Face checkpoint,
// with the base's tokenizer and generation files copied alongside (a reward model's SEQ_CLS adapter → a full
// LlamaForSequenceClassification).
using System.CommandLine;
using FineTune.Models.Checkpoints;
using FineTune.Torch;

namespace FineTune.Cli.Commands;

static class MergeCommand
{
    public static Command Create(TextWriter stdout)
    {
        var model = new Argument<string>("model")
        {
            Description = "Base model (Hugging Face directory or llama2.c .bin)"
        };
        var adapter = new Argument<string>("adapter")
        {
            Description = "PEFT adapter directory (adapter_config.json, adapter_model.safetensors)"
        };
        var output = new Argument<string>("out-dir") { Description = "Directory for the merged checkpoint" };
        var dtype = new Option<string?>("--dtype")
        {
            Description = "float32, bfloat16 or float16 (default: the base model's)"
        };
        dtype.AcceptOnlyFromAmong("float32", "bfloat16", "float16");
        var command = new Command("merge", "Merge a LoRA/DoRA/IA³ adapter into its base model (a reward model's " +
            "SEQ_CLS adapter: into a full reward model).") { model, adapter, output, dtype };
        command.SetAction(async (parse, ct) =>
        {
            var basePath = parse.GetValue(model)!;
            var outDir = parse.GetValue(output)!;
            var requested = parse.GetValue(dtype) is { } name ? DTypes.FromTorchName(name) : (DType?)null;
            var config = ModelMerge.Save(basePath, parse.GetValue(adapter)!, outDir, requested);
            var target = requested ?? DTypes.FromTorchName(config.TorchDtype);
            await stdout.WriteLineAsync($"wrote {outDir}: {config.ParameterCount():N0} parameters as " +
                $"{target.TorchName()}");
            return 0;
        });
        return command;
    }
}
