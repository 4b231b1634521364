// A Hugging Face PEFT LoRA/DoRA or IA³ adapter directory (adapter_config.json + adapter_model.safetensors), read and
// merged into base weights: W' = W + s·B·A with s = lora_alpha/r (or lora_alpha/√r with use_rslora); DoRA rescales
// each output row to its learned magnitude: W' = m ⊙ (W + s·B·A) / ‖W + s·B·A‖_row; IA³ scales W's rows by l (out, 1)
// or, for feed-forward modules, its columns by l (1, in). Tensor names are PEFT's:
// base_model.model.<module>.lora_A.weight (r, in), .lora_B.weight (out, r), .lora_magnitude_vector (out), .ia3_l.
using System.Text.Json;
using System.Text.Json.Nodes;
using FineTune.Models.Checkpoints;

namespace FineTune.Models.Adapters;

public sealed record PeftConfig
{
    public string PeftType { get; init; } = "LORA";
    public int R { get; init; }
    public double LoraAlpha { get; init; }
    public double LoraDropout { get; init; }
    public IReadOnlyList<string> TargetModules { get; init; } = [];
    public string Bias { get; init; } = "none";
    public string TaskType { get; init; } = "CAUSAL_LM";
    public string? BaseModelNameOrPath { get; init; }
    public bool UseDora { get; init; }
    public bool UseRslora { get; init; }
    /// <summary>Modules trained whole beside the adapter and saved with it: ["score"] for a reward model
    /// (task_type SEQ_CLS).</summary>
    public IReadOnlyList<string> ModulesToSave { get; init; } = [];
    /// <summary>IA3: the targeted modules whose input (not output) is scaled.</summary>
    public IReadOnlyList<string> FeedforwardModules { get; init; } = [];

    public double Scaling => UseRslora ? LoraAlpha / Math.Sqrt(R) : LoraAlpha / R;

    public static PeftConfig Load(string path)
    {
        if (!File.Exists(path))
            throw new ModelFormatException($"adapter_config.json not found at '{path}' (is this a PEFT adapter " +
                $"directory?).");
        JsonObject json;
        try
        {
            json = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new JsonException("not an object");
        }
        catch (JsonException e)
        {
            throw new ModelFormatException($"{path}: not valid JSON ({e.Message}).");
        }
        string peftType = json["peft_type"]?.GetValue<string>()
            ?? throw new ModelFormatException($"{path}: field 'peft_type' is missing.");
        if (peftType == "IA3")
            return new PeftConfig
            {
                PeftType = peftType, TargetModules = Modules(json["target_modules"]),
                FeedforwardModules = Modules(json["feedforward_modules"]),
                TaskType = json["task_type"]?.GetValue<string>() ?? "CAUSAL_LM",
                BaseModelNameOrPath = json["base_model_name_or_path"]?.GetValue<string>(),
            };
        if (peftType != "LORA")
            throw new ModelFormatException($"{path}: peft_type '{peftType}' cannot be merged into weights (LORA, " +
                $"with use_dora for DoRA, and IA3 can; " +
                                           "prompt and prefix tuning adapters add virtual tokens instead).");
        var config = new PeftConfig
        {
            PeftType = peftType,
            R = json["r"]?.GetValue<int>() ?? throw new ModelFormatException($"{path}: field 'r' is missing."),
            LoraAlpha = json["lora_alpha"]?.GetValue<double>()
                ?? throw new ModelFormatException($"{path}: field 'lora_alpha' is missing."),
            LoraDropout = json["lora_dropout"]?.GetValue<double>() ?? 0,
            TargetModules = Modules(json["target_modules"]),
            Bias = json["bias"]?.GetValue<string>() ?? "none",
            TaskType = json["task_type"]?.GetValue<string>() ?? "CAUSAL_LM",
            BaseModelNameOrPath = json["base_model_name_or_path"]?.GetValue<string>(),
            UseDora = json["use_dora"]?.GetValue<bool>() ?? false,
            UseRslora = json["use_rslora"]?.GetValue<bool>() ?? false,
            ModulesToSave = Modules(json["modules_to_save"]),
        };
        if (config.R <= 0)
            throw new ModelFormatException($"{path}: field 'r' must be positive, got {config.R}.");
        if (config.Bias != "none")
            throw new ModelFormatException($"{path}: bias '{config.Bias}' adapters are not supported (only 'none').");
        return config;
    }

    static string[] Modules(JsonNode? node) => node switch
    {
        JsonArray a => a.Select(x => x!.GetValue<string>()).ToArray(),
        JsonValue v => [v.GetValue<string>()],
        _ => [],
    };

    public JsonObject ToJson() => new()
    {
        ["peft_type"] = PeftType, ["r"] = R, ["lora_alpha"] = LoraAlpha, ["lora_dropout"] = LoraDropout,
        ["target_modules"] = new JsonArray(TargetModules.Select(m => (JsonNode)m).ToArray()),
        ["bias"] = Bias, ["task_type"] = TaskType, ["base_model_name_or_path"] = BaseModelNameOrPath,
        ["use_dora"] = UseDora, ["use_rslora"] = UseRslora, ["fan_in_fan_out"] = false, ["inference_mode"] = true,
        ["modules_to_save"] = ModulesToSave.Count == 0 ? null
            : new JsonArray(ModulesToSave.Select(m => (JsonNode)m).ToArray()),
    };
}

public sealed class PeftAdapter
{
    public const string ConfigFile = "adapter_config.json";
    public const string WeightsFile = "adapter_model.safetensors";
    const string Prefix = "base_model.model.";

    public PeftConfig Config { get; }
    /// <summary>Per adapted module (HF name without ".weight", e.g. model.layers.0.self_attn.q_proj): A, B and DoRA's
    /// magnitude.</summary>
    public IReadOnlyDictionary<string, (float[] A, float[] B, float[]? Magnitude)> Modules { get; }
    /// <summary>IA3 only: per module its scale vector and whether it scales inputs (feed-forward) or outputs.</summary>
    public IReadOnlyDictionary<string, (float[] Vector, bool Feedforward)> Ia3 { get; }

    /// <summary>Whole modules saved beside the adapter (modules_to_save, a classifier's score head), by their names
    /// in the model (score.weight).</summary>
    public IReadOnlyDictionary<string, TensorData> SavedModules { get; private init; } =
        new Dictionary<string, TensorData>();

    PeftAdapter(PeftConfig config, Dictionary<string, (float[], float[], float[]?)> modules, Dictionary<string,
        (float[], bool)>? ia3 = null)
    {
        Config = config;
        Modules = modules;
        Ia3 = ia3 ?? [];
    }

    /// <summary>Whether the adapter in <paramref name="directory"/> is a sequence classifier's (task_type
    /// SEQ_CLS).</summary>
    public static bool IsClassifier(string directory) =>
        PeftConfig.Load(Path.Combine(directory, ConfigFile)).TaskType == "SEQ_CLS";

    /// <summary>The config of a reward model's adapter (LORA, task_type SEQ_CLS, from objective reward_model); any
    /// other adapter is refused, saying what it is.</summary>
    public static PeftConfig ClassifierConfig(string directory)
    {
        var config = PeftConfig.Load(Path.Combine(directory, ConfigFile));
        if (config.TaskType != "SEQ_CLS" || config.PeftType != "LORA")
            throw new ModelFormatException($"'{directory}' is a {config.PeftType} adapter for {config.TaskType}; a " +
                "reward model's adapter is LORA with task_type SEQ_CLS (from objective reward_model).");
        return config;
    }

    /// <param name="classifier">load a sequence classifier's adapter (task_type SEQ_CLS, a reward model: its
    /// modules_to_save in <see cref="SavedModules"/>); otherwise such an adapter is refused, for it cannot
    /// generate</param>
    public static PeftAdapter Load(string directory, bool classifier = false)
    {
        var config = classifier ? ClassifierConfig(directory) : PeftConfig.Load(Path.Combine(directory, ConfigFile));
        if (config.TaskType == "SEQ_CLS" && !classifier)
            throw new ModelFormatException($"{directory}: is a sequence-classification adapter (task_type SEQ_CLS, " +
                "e.g. a reward model): it scores text and cannot generate. Score with " +
                "`finetune reward score BASE --adapter DIR`; `finetune merge` makes it a full reward model.");
        var weightsPath = Path.Combine(directory, WeightsFile);
        using var file = SafeTensorsFile.Open(weightsPath);
        var saved = new Dictionary<string, TensorData>();
        foreach (var module in classifier ? config.ModulesToSave : [])
        {
            var name = $"{Prefix}{module}.weight";
            if (!file.Contains(name))
                throw new ModelFormatException($"{weightsPath}: modules_to_save names '{module}', but '{name}' is " +
                    "missing.");
            var data = file.Read(name);
            saved[$"{module}.weight"] = data with { Info = data.Info with { Name = $"{module}.weight" } };
        }
        var modules = new Dictionary<string, (float[], float[], float[]?)>();
        if (config.PeftType == "IA3")
        {
            var vectors = new Dictionary<string, (float[], bool)>();
            foreach (var info in file.Tensors.Where(t => t.Name.EndsWith(".ia3_l", StringComparison.Ordinal)))
            {
                if (!info.Name.StartsWith(Prefix, StringComparison.Ordinal))
                    throw new ModelFormatException($"{weightsPath}: tensor '{info.Name}' does not start with " +
                        $"'{Prefix}' (PEFT's naming).");
                var module = info.Name[Prefix.Length..^".ia3_l".Length];
                bool feedforward = config.FeedforwardModules.Any(m => module == m || module.EndsWith("." + m,
                    StringComparison.Ordinal));
                if (info.Shape.Length != 2 || (feedforward ? info.Shape[0] : info.Shape[1]) != 1)
                    throw new ModelFormatException($"{weightsPath}: '{info.Name}' has shape {info.ShapeText}, " +
                        $"expected {(feedforward ? "[1, in_features]" : "[out_features, 1]")}.");
                vectors[module] = (file.Read(info.Name).ToFloat32(), feedforward);
            }
            if (vectors.Count == 0)
                throw new ModelFormatException($"{weightsPath}: no '*.ia3_l' tensors (is this an IA3 adapter?).");
            return new PeftAdapter(config, modules, vectors);
        }
        foreach (var info in file.Tensors.Where(t => t.Name.EndsWith(".lora_A.weight", StringComparison.Ordinal)))
        {
            if (!info.Name.StartsWith(Prefix, StringComparison.Ordinal))
                throw new ModelFormatException($"{weightsPath}: tensor '{info.Name}' does not start with '{Prefix}' " +
                    $"(PEFT's naming).");
            var module = info.Name[Prefix.Length..^".lora_A.weight".Length];
            var bName = $"{Prefix}{module}.lora_B.weight";
            if (!file.Contains(bName))
                throw new ModelFormatException($"{weightsPath}: '{info.Name}' has no matching '{bName}'.");
            var a = file.Read(info.Name);
            var b = file.Read(bName);
            if (a.Shape.Length != 2 || a.Shape[0] != config.R)
                throw new ModelFormatException($"{weightsPath}: '{info.Name}' has shape {a.Info.ShapeText}, " +
                    $"expected [r={config.R}, in_features].");
            if (b.Shape.Length != 2 || b.Shape[1] != config.R)
                throw new ModelFormatException($"{weightsPath}: '{bName}' has shape {b.Info.ShapeText}, expected " +
                    $"[out_features, r={config.R}].");
            var magnitudeName = $"{Prefix}{module}.lora_magnitude_vector";
            float[]? magnitude = null;
            if (config.UseDora)
            {
                if (!file.Contains(magnitudeName))
                    throw new ModelFormatException($"{weightsPath}: use_dora is set but '{magnitudeName}' is missing.");
                magnitude = file.Read(magnitudeName).ToFloat32();
            }
            modules[module] = (a.ToFloat32(), b.ToFloat32(), magnitude);
        }
        if (modules.Count == 0)
            throw new ModelFormatException($"{weightsPath}: no '*.lora_A.weight' tensors (is this a LoRA adapter?).");
        return new PeftAdapter(config, modules) { SavedModules = saved };
    }

    /// <summary>Writes adapter_config.json and adapter_model.safetensors with PEFT's names, float32.</summary>
    /// <param name="savedModules">whole modules saved beside the adapter (modules_to_save), by their PEFT
    /// names</param>
    public static void Save(string directory, PeftConfig config, IReadOnlyDictionary<string,
        (float[] A, float[] B, float[]? Magnitude)> modules,
        IReadOnlyDictionary<string, (long Out, long In)> shapes, IReadOnlyList<TensorData>? savedModules = null)
    {
        Directory.CreateDirectory(directory);
        var tensors = new List<TensorData>(savedModules ?? []);
        foreach (var (module, (a, b, magnitude)) in modules.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            var (outFeatures, inFeatures) = shapes[module];
            tensors.Add(TensorData.FromFloat32($"{Prefix}{module}.lora_A.weight", [config.R, inFeatures], a));
            tensors.Add(TensorData.FromFloat32($"{Prefix}{module}.lora_B.weight", [outFeatures, config.R], b));
            if (magnitude is not null)
                tensors.Add(TensorData.FromFloat32($"{Prefix}{module}.lora_magnitude_vector", [outFeatures],
                    magnitude));
        }
        SafeTensorsWriter.Write(Path.Combine(directory, WeightsFile), tensors,
            new Dictionary<string, string> { ["format"] = "pt" });
        File.WriteAllText(Path.Combine(directory, ConfigFile),
            config.ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>The base tensor reader with every adapted weight replaced by its merged value.</summary>
    public Func<string, TensorData> MergeInto(Func<string, TensorData> baseTensors, string source)
    {
        var merged = new Dictionary<string, TensorData>();
        TensorData Weight(string module)
        {
            try
            {
                return baseTensors(module + ".weight");
            }
            catch (Exception e) when (e is ModelFormatException or KeyNotFoundException)
            {
                throw new ModelFormatException($"{source}: the adapter targets '{module}', but the model has no " +
                    $"'{module}.weight' (adapter for another architecture?).");
            }
        }
        foreach (var (module, parts) in Modules)
        {
            var weight = Weight(module);
            merged[weight.Name] = TensorData.FromFloat32(weight.Name, weight.Shape,
                Merge(weight, parts, Config.Scaling, source), weight.DType);
        }
        foreach (var (module, (vector, feedforward)) in Ia3)
        {
            var weight = Weight(module);
            var w = weight.ToFloat32();
            long outFeatures = weight.Shape[0], inFeatures = weight.Shape[1];
            if (vector.Length != (feedforward ? inFeatures : outFeatures))
                throw new ModelFormatException($"{source}: the IA3 vector of '{module}' has {vector.Length} values; " +
                    $"its weight {weight.Info.ShapeText} needs {(feedforward ? inFeatures : outFeatures)}.");
            for (long o = 0; o < outFeatures; o++)
                for (long i = 0; i < inFeatures; i++)
                    w[o * inFeatures + i] *= feedforward ? vector[i] : vector[o];
            merged[weight.Name] = TensorData.FromFloat32(weight.Name, weight.Shape, w, weight.DType);
            var biasName = module + ".bias";
            // PEFT scales the bias of output-scaled layers too
            if (!feedforward && TryRead(baseTensors, biasName) is { } bias)
                merged[biasName] = TensorData.FromFloat32(biasName, bias.Shape,
                    bias.ToFloat32().Select((b, o) => b * vector[o]).ToArray(), bias.DType);
        }
        return name => merged.TryGetValue(name, out var t) ? t : baseTensors(name);
    }

    static TensorData? TryRead(Func<string, TensorData> tensors, string name)
    {
        try
        {
            return tensors(name);
        }
        catch (Exception e) when (e is ModelFormatException or KeyNotFoundException)
        {
            return null;
        }
    }

    static float[] Merge(TensorData weight, (float[] A, float[] B, float[]? Magnitude) parts, double scaling,
        string source)
    {
        int outFeatures = (int)weight.Shape[0], inFeatures = (int)weight.Shape[1];
        int r = parts.A.Length / inFeatures;
        if (parts.A.Length != r * inFeatures || parts.B.Length != outFeatures * r)
            throw new ModelFormatException($"{source}: adapter for '{weight.Name}' has A of {parts.A.Length} and B " +
                $"of {parts.B.Length} values, which do not fit its shape {weight.Info.ShapeText}.");
        var w = weight.ToFloat32();
        var merged = new float[w.Length];
        for (int o = 0; o < outFeatures; o++)
        {
            // row o of W + s·B·A, accumulated in double
            double sumSquares = 0;
            for (int i = 0; i < inFeatures; i++)
            {
                double delta = 0;
                for (int k = 0; k < r; k++)
                    delta += (double)parts.B[o * r + k] * parts.A[k * inFeatures + i];
                double value = w[o * inFeatures + i] + scaling * delta;
                merged[o * inFeatures + i] = (float)value;
                sumSquares += value * value;
            }
            if (parts.Magnitude is { } m)
            {
                double factor = m[o] / Math.Sqrt(sumSquares);
                for (int i = 0; i < inFeatures; i++)
                    merged[o * inFeatures + i] = (float)(merged[o * inFeatures + i] * factor);
            }
        }
        return merged;
    }
}
