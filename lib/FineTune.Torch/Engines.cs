// Opens a model path (Hugging Face directory or llama2.c .bin) as an inference engine. Auto picks the managed CPU engine
// (weights widened to float32), since this build's TorchSharp is CPU-only and libtorch's CPU gemv is the slower one here;
// Torch picks the TorchSharp model (the reference path, and the one that keeps bfloat16 weights as they are).
using FineTune.Models;
using FineTune.Models.Checkpoints;
using FineTune.Models.Generation;

namespace FineTune.Torch;

public enum EngineKind { Auto, Cpu, Torch }

public static class Engines
{
    public static ICausalLm Open(string path, EngineKind kind = EngineKind.Auto, int threads = 0)
    {
        if (HfCheckpoint.IsCheckpointDirectory(path))
        {
            using var checkpoint = HfCheckpoint.Open(path);
            return kind == EngineKind.Torch
                ? new TorchLlamaEngine(LlamaCheckpoints.Load(checkpoint))
                : OpenCpu(checkpoint.Config, checkpoint.Read, threads);
        }
        if (File.Exists(path))
        {
            var (config, tensors) = Llama2cCheckpoint.Read(path);
            if (kind == EngineKind.Torch) return new TorchLlamaEngine(LlamaCheckpoints.Load(config, tensors));
            var byName = tensors.ToDictionary(t => t.Name);
            return OpenCpu(config, name => byName[name], threads);
        }
        throw new ModelFormatException($"model not found at '{path}': expected a Hugging Face model directory (config.json + *.safetensors) or a llama2.c .bin file.");
    }

    /// <summary>Reads the config of a model path without loading weights.</summary>
    public static LlamaConfig ReadConfig(string path)
    {
        if (HfCheckpoint.IsCheckpointDirectory(path)) return LlamaConfig.Load(Path.Combine(path, HfCheckpoint.ConfigFile));
        if (File.Exists(path)) return Llama2cCheckpoint.Read(path).Config;
        throw new ModelFormatException($"model not found at '{path}': expected a Hugging Face model directory (config.json + *.safetensors) or a llama2.c .bin file.");
    }

    static ICausalLm OpenCpu(LlamaConfig config, Func<string, TensorData> read, int threads) =>
        FineTune.Models.Inference.CpuLlama.Load(config, read, threads);
}
