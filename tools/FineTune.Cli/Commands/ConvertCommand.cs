// finetune convert llama2c FILE OUT_DIR [--tokenizer TOK.bin] [--dtype float32|bfloat16]
// Writes a Hugging Face model directory (config.json, generation_config.json, model.safetensors, tokenizer files).
using System.CommandLine;
using System.Text.Json.Nodes;
using FineTune.Models.Checkpoints;
using FineTune.Text;

namespace FineTune.Cli.Commands;

static class ConvertCommand
{
    public static Command Create(TextWriter stdout)
    {
        var file = new Argument<string>("file") { Description = "llama2.c checkpoint (.bin, version-0 format)" };
        var output = new Argument<string>("out-dir") { Description = "Directory to write the Hugging Face model into" };
        var tokenizer = new Option<string?>("--tokenizer")
        {
            Description = "llama2.c tokenizer file (e.g. tok512.bin) to convert alongside"
        };
        var dtype = new Option<string>("--dtype")
        {
            Description = "float32 or bfloat16",
            DefaultValueFactory = _ => "float32"
        };
        dtype.AcceptOnlyFromAmong("float32", "bfloat16", "float16");

        var llama2c = new Command("llama2c", "Convert a llama2.c checkpoint to the Hugging Face layout.") { file,
            output, tokenizer, dtype };
        llama2c.SetAction(async (parse, ct) =>
        {
            var source = parse.GetValue(file)!;
            var outDir = parse.GetValue(output)!;
            var target = DTypes.FromTorchName(parse.GetValue(dtype)!);
            var (config, tensors) = Llama2cCheckpoint.Read(source);
            var byName = tensors.ToDictionary(t => t.Name);
            var infos = tensors.Select(t => t.Info with { DType = target }).ToList();
            HfCheckpoint.Save(outDir, config with { TorchDtype = target.TorchName() }, infos,
                info => DTypes.FromFloat32(byName[info.Name].ToFloat32(), target));
            var generation = new JsonObject
            {
                ["bos_token_id"] = config.BosTokenId,
                ["eos_token_id"] = config.EosTokenIds[0]
            };
            await File.WriteAllTextAsync(Path.Combine(outDir, "generation_config.json"),
                generation.ToJsonString() + "\n", ct);

            if (parse.GetValue(tokenizer) is { } tokenizerFile)
            {
                Llama2cTokenizerConverter.Convert(tokenizerFile, outDir);
                var loaded = TokenizerLoader.Load(outDir);
                if (loaded.VocabSize != config.VocabSize)
                    throw new ArgumentException($"{tokenizerFile}: the tokenizer has {loaded.VocabSize} tokens but " +
                        $"the checkpoint's vocab_size is {config.VocabSize}; pick the tokenizer the model was " +
                        $"trained with.");
            }
            await stdout.WriteLineAsync($"wrote {outDir}: {config.ParameterCount():N0} parameters as " +
                $"{target.TorchName()}{(parse.GetValue(tokenizer) is null ? "" : ", with tokenizer.model")}");
            return 0;
        });
        return new Command("convert", "Convert checkpoints from other formats.") { llama2c };
    }
}
