// Moves weights between checkpoints (Hugging Face safetensors, llama2.c) and the TorchSharp Llama module.
// The module's state-dict keys are the Hugging Face names, so loading is a lookup by name with a shape check.
using FineTune.Models;
using FineTune.Models.Checkpoints;

namespace FineTune.Torch;

public static class LlamaCheckpoints
{
    /// <summary>A Hugging Face model directory or llama2.c .bin, with an adapter's modules (fresh) when
    /// given.</summary>
    public static Llama Load(string path, ScalarType? dtype = null, PeftSettings? adapter = null)
    {
        if (HfCheckpoint.IsCheckpointDirectory(path))
        {
            using var checkpoint = HfCheckpoint.Open(path);
            return Load(checkpoint, dtype, adapter: adapter);
        }
        if (File.Exists(path))
        {
            var (config, tensors) = Llama2cCheckpoint.Read(path);
            return Load(config, tensors, dtype ?? ScalarType.Float32, adapter: adapter);
        }
        throw new FileNotFoundException($"model '{path}' not found: expected a Hugging Face model directory " +
            $"(config.json + *.safetensors) or a llama2.c .bin file.");
    }

    public static Llama Load(HfCheckpoint checkpoint, ScalarType? dtype = null, bool useSdpa = true,
        PeftSettings? adapter = null) =>
        Load(checkpoint.Config, checkpoint.Read, dtype ?? ModelDtype(checkpoint.Config), useSdpa,
             name => checkpoint.Contains(name) ? checkpoint.Describe(name) : null, checkpoint.Directory, adapter);

    public static Llama Load(LlamaConfig config, IReadOnlyList<TensorData> tensors,
        ScalarType dtype = ScalarType.Float32, bool useSdpa = true,
        PeftSettings? adapter = null)
    {
        var byName = tensors.ToDictionary(t => t.Name);
        return Load(config, name => byName[name], dtype, useSdpa, name => byName.GetValueOrDefault(name)?.Info,
            "tensors", adapter);
    }

    // With an adapter, the base weights come from the checkpoint and are frozen; the adapters keep their fresh
    // initialisation (DoRA's magnitudes are then set from the loaded base).
    static Llama Load(LlamaConfig config, Func<string, TensorData> read, ScalarType dtype, bool useSdpa,
        Func<string, TensorInfo?> describe, string source, PeftSettings? adapter)
    {
        LlamaWeights.Check(config, describe, source);
        var model = new Llama(config, useSdpa, adapter);
        var adapterNames = model.AdapterParameters().Select(p => p.Name).ToHashSet();
        using (no_grad())
        {
            foreach (var (name, parameter) in model.named_parameters())
            {
                if (adapterNames.Contains(name))
                    continue;
                if (adapter is not null)
                    parameter.requires_grad = false;
                var data = read(name);
                using var values = tensor(data.ToFloat32(), data.Shape);
                parameter.copy_(values);
            }
        }
        if (dtype != ScalarType.Float32)
            model.to(dtype);
        foreach (var module in model.modules().OfType<LoraLinear>())
            module.InitializeMagnitude();
        if (adapter is LoraSettings { QuantizeBase: true })
            foreach (var module in model.modules().OfType<LoraLinear>())
                module.QuantizeBase();
        model.eval();
        return model;
    }

    public static ScalarType ModelDtype(LlamaConfig config) => config.TorchDtype switch
    {
        "bfloat16" => ScalarType.BFloat16,
        "float16" => ScalarType.Float16,
        _ => ScalarType.Float32,
    };

    /// <summary>Writes config.json and safetensors in Hugging Face layout (sharded past <paramref
    /// name="maxShardBytes"/>).</summary>
    public static void Save(Llama model, string directory, DType dtype = DType.F32, long maxShardBytes = 5L << 30)
    {
        if (model.Adapter is not null)
            throw new InvalidOperationException("an adapted model saves its adapter (PeftExport.Save) or is merged " +
                "(finetune merge); its base is unchanged.");
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var infos = LlamaWeights.Expected(model.Config).Select(e => new TensorInfo(e.Name, dtype, e.Shape)).ToList();
        HfCheckpoint.Save(directory, model.Config with { TorchDtype = dtype.TorchName() }, infos, info =>
        {
            return DTypes.FromFloat32(parameters[info.Name].ToFloat32Array(), dtype);
        }, maxShardBytes);
    }
}
