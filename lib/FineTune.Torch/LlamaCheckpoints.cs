// Moves weights between checkpoints (Hugging Face safetensors, llama2.c) and the TorchSharp Llama module.
// The module's state-dict keys are the Hugging Face names, so loading is a lookup by name with a shape check.
using FineTune.Models;
using FineTune.Models.Checkpoints;

namespace FineTune.Torch;

public static class LlamaCheckpoints
{
    /// <summary>A Hugging Face model directory or llama2.c .bin, with an adapter's modules (fresh) when
    /// given.</summary>
    public static Llama Load(string path, ScalarType? dtype = null, PeftSettings? adapter = null) =>
        Load(path, dtype, adapter, rewardModel: false);

    /// <summary>
    /// A reward model (…ForSequenceClassification with 1 label): a saved one as it is, or a causal LM (an SFT model,
    /// the usual start) with its LM head replaced by a fresh score head, N(0, 0.02) as Hugging Face initialises it.
    /// With an adapter the score head trains with the adapter (PEFT's modules_to_save).
    /// </summary>
    public static Llama LoadRewardModel(string path, ScalarType? dtype = null, PeftSettings? adapter = null) =>
        Load(path, dtype, adapter, rewardModel: true);

    static Llama Load(string path, ScalarType? dtype, PeftSettings? adapter, bool rewardModel)
    {
        if (HfCheckpoint.IsCheckpointDirectory(path))
        {
            using var checkpoint = HfCheckpoint.Open(path);
            return Load(checkpoint.Config, checkpoint.Read, dtype ?? ModelDtype(checkpoint.Config), true,
                name => checkpoint.Contains(name) ? checkpoint.Describe(name) : null, checkpoint.Directory, adapter,
                rewardModel);
        }
        if (File.Exists(path))
        {
            var (config, tensors) = Llama2cCheckpoint.Read(path);
            var byName = tensors.ToDictionary(t => t.Name);
            return Load(config, name => byName[name], dtype ?? ScalarType.Float32, true,
                name => byName.GetValueOrDefault(name)?.Info, path, adapter, rewardModel);
        }
        throw new FileNotFoundException($"model '{path}' not found: expected a Hugging Face model directory " +
            $"(config.json + *.safetensors) or a llama2.c .bin file.");
    }

    public static Llama Load(HfCheckpoint checkpoint, ScalarType? dtype = null, bool useSdpa = true,
        PeftSettings? adapter = null) =>
        Load(checkpoint.Config, checkpoint.Read, dtype ?? ModelDtype(checkpoint.Config), useSdpa,
             name => checkpoint.Contains(name) ? checkpoint.Describe(name) : null, checkpoint.Directory, adapter,
             rewardModel: false);

    public static Llama Load(LlamaConfig config, IReadOnlyList<TensorData> tensors,
        ScalarType dtype = ScalarType.Float32, bool useSdpa = true,
        PeftSettings? adapter = null, bool rewardModel = false)
    {
        var byName = tensors.ToDictionary(t => t.Name);
        return Load(config, name => byName[name], dtype, useSdpa, name => byName.GetValueOrDefault(name)?.Info,
            "tensors", adapter, rewardModel);
    }

    // With an adapter, the base weights come from the checkpoint and are frozen; the adapters keep their fresh
    // initialisation (DoRA's magnitudes are then set from the loaded base).
    static Llama Load(LlamaConfig config, Func<string, TensorData> read, ScalarType dtype, bool useSdpa,
        Func<string, TensorInfo?> describe, string source, PeftSettings? adapter, bool rewardModel)
    {
        LlamaWeights.Check(config, describe, source);
        if (rewardModel && config.NumLabels is { } labels && labels != 1)
            throw new ModelFormatException($"{source}: a reward model has 1 label (a scalar score); this " +
                $"classifier has {labels}.");
        if (!rewardModel)
            config.RequireCausalLm(source);
        var model = new Llama(rewardModel && config.NumLabels is null ? config.AsRewardModel() : config, useSdpa,
            adapter);
        var adapterNames = model.AdapterParameters().Select(p => p.Name).ToHashSet();
        using (no_grad())
        {
            foreach (var (name, parameter) in model.named_parameters())
            {
                bool head = name == LlamaWeights.ScoreWeight;
                if (adapterNames.Contains(name) && !head)
                    continue;
                if (adapter is not null && !head)
                    parameter.requires_grad = false;
                if (head && describe(name) is null)
                {
                    parameter.normal_(0, 0.02);
                    continue;
                }
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
