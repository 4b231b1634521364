// Opens a model path (Hugging Face directory or llama2.c .bin) as an inference engine. Auto picks the managed CPU
// engine (weights widened to float32), since this build's TorchSharp is CPU-only and libtorch's CPU gemv is the slower
// one here; Torch picks the TorchSharp model (the reference path, and the one that keeps bfloat16 weights as they are).
using FineTune.Models;
using FineTune.Models.Adapters;
using FineTune.Models.Checkpoints;
using FineTune.Models.Generation;

namespace FineTune.Torch;

public enum EngineKind { Auto, Cpu, Torch }

public static class Engines
{
    /// <param name="adapterDirectory">a PEFT LoRA/DoRA or IA3 adapter merged into the weights as they load, or a
    /// prompt/prefix tuning one (torch engine)</param>
    public static ICausalLm Open(string path, EngineKind kind = EngineKind.Auto, int threads = 0,
        string? adapterDirectory = null)
    {
        // Prompt and prefix tuning add virtual tokens instead of changing weights: only the TorchSharp model applies
        // them.
        if (adapterDirectory is not null && PromptAdapter.TryRead(adapterDirectory) is { } prompt)
        {
            if (kind == EngineKind.Cpu)
                throw new ArgumentException($"{prompt.PeftType} adapters run on the torch engine (--engine torch), " +
                    $"not the cpu engine.");
            return new TorchLlamaEngine(PromptAdapter.Load(path, adapterDirectory, prompt));
        }
        var adapter = adapterDirectory is null ? null : PeftAdapter.Load(adapterDirectory);
        if (HfCheckpoint.IsCheckpointDirectory(path))
        {
            using var checkpoint = HfCheckpoint.Open(path);
            checkpoint.Config.RequireCausalLm(path);
            if (adapter is null && kind == EngineKind.Torch)
                return new TorchLlamaEngine(LlamaCheckpoints.Load(checkpoint));
            LlamaWeights.Check(checkpoint.Config, name => checkpoint.Contains(name) ? checkpoint.Describe(name) : null,
                path);
            return Build(checkpoint.Config, Merged(checkpoint.Read, adapter, adapterDirectory), kind, threads);
        }
        if (File.Exists(path))
        {
            var (config, tensors) = Llama2cCheckpoint.Read(path);
            var byName = tensors.ToDictionary(t => t.Name);
            return Build(config, Merged(name => byName[name], adapter, adapterDirectory), kind, threads);
        }
        throw new ModelFormatException($"model not found at '{path}': expected a Hugging Face model directory " +
            $"(config.json + *.safetensors) or a llama2.c .bin file.");
    }

    /// <summary>The weights of a model path with an adapter merged in (or as they are), by Hugging Face name. A
    /// reward model's adapter (SEQ_CLS) makes the base a sequence classifier with the adapter's score head.</summary>
    public static (LlamaConfig Config, IReadOnlyList<TensorData> Tensors) ReadMerged(string path,
        string? adapterDirectory)
    {
        bool classifier = adapterDirectory is not null && PeftAdapter.IsClassifier(adapterDirectory);
        var adapter = adapterDirectory is null ? null : PeftAdapter.Load(adapterDirectory, classifier);
        using var checkpoint = HfCheckpoint.IsCheckpointDirectory(path) ? HfCheckpoint.Open(path) : null;
        LlamaConfig config;
        Func<string, TensorData> read;
        IEnumerable<string> names;
        if (checkpoint is not null)
        {
            LlamaWeights.Check(checkpoint.Config, name => checkpoint.Contains(name) ? checkpoint.Describe(name) : null,
                path);
            (config, read) = (checkpoint.Config, checkpoint.Read);
            names = LlamaWeights.Expected(config).Select(e => e.Name);
        }
        else
        {
            var (c, tensors) = Llama2cCheckpoint.Read(path);
            var byName = tensors.ToDictionary(t => t.Name);
            (config, read, names) = (c, name => byName[name], tensors.Select(t => t.Name));
        }
        var merged = Merged(read, adapter, adapterDirectory);
        return classifier ? RewardModel(config, merged, adapter!, adapterDirectory!)
            : (config, names.Select(merged).ToList());
    }

    /// <summary>A base with a reward model's LoRA merged in, as a sequence classifier (one label, no LM head) with
    /// the adapter's score head.</summary>
    static (LlamaConfig Config, IReadOnlyList<TensorData> Tensors) RewardModel(LlamaConfig config,
        Func<string, TensorData> merged, PeftAdapter adapter, string adapterDirectory)
    {
        if (!adapter.SavedModules.TryGetValue(LlamaWeights.ScoreWeight, out var score))
            throw new ModelFormatException($"{adapterDirectory}: a reward model's adapter saves its score head " +
                "(modules_to_save [\"score\"]); this one does not.");
        var classifier = config.IsSequenceClassifier ? config : config.AsRewardModel();
        if (score.Shape is not [1, var d] || d != classifier.HiddenSize)
            throw new ModelFormatException($"{adapterDirectory}: the score head has shape " +
                $"{score.Info.ShapeText}; this base needs [1, {classifier.HiddenSize}].");
        return (classifier, LlamaWeights.Expected(classifier)
            .Select(e => e.Name == LlamaWeights.ScoreWeight ? score : merged(e.Name)).ToList());
    }

    static Func<string, TensorData> Merged(Func<string, TensorData> read, PeftAdapter? adapter,
        string? adapterDirectory) =>
        adapter is null ? read : adapter.MergeInto(read, adapterDirectory!);

    static ICausalLm Build(LlamaConfig config, Func<string, TensorData> read, EngineKind kind, int threads) =>
        kind == EngineKind.Torch
            ? new TorchLlamaEngine(LlamaCheckpoints.Load(config,
                LlamaWeights.Expected(config).Select(e => read(e.Name)).ToList(),
                LlamaCheckpoints.ModelDtype(config)))
            : OpenCpu(config, read, threads);

    /// <summary>Reads the config of a model path without loading weights.</summary>
    public static LlamaConfig ReadConfig(string path)
    {
        if (HfCheckpoint.IsCheckpointDirectory(path))
            return LlamaConfig.Load(Path.Combine(path, HfCheckpoint.ConfigFile));
        if (File.Exists(path))
            return Llama2cCheckpoint.Read(path).Config;
        throw new ModelFormatException($"model not found at '{path}': expected a Hugging Face model directory " +
            $"(config.json + *.safetensors) or a llama2.c .bin file.");
    }

    static ICausalLm OpenCpu(LlamaConfig config, Func<string, TensorData> read, int threads) =>
        FineTune.Models.Inference.CpuLlama.Load(config, read, threads);
}
