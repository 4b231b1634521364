// Small random Llama configs for tests: grouped-query attention, q/k/v bias and llama3 rope scaling switched on.
using FineTune.Models;
using FineTune.Models.Checkpoints;
using FineTune.Models.Inference;

namespace FineTune.Torch.Tests;

static class TestModels
{
    public static LlamaConfig Tiny(bool bias = true, bool tied = false, bool llama3Rope = false,
        int? slidingWindow = null) => new()
        {
            ModelType = slidingWindow is not null ? "mistral" : bias ? "qwen2" : "llama",
            SlidingWindow = slidingWindow,
            HiddenSize = 32, IntermediateSize = 48, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
            VocabSize = 64, MaxPositionEmbeddings = 64, RmsNormEps = 1e-6, RopeTheta = 10000,
            AttentionBias = bias, TieWordEmbeddings = tied,
            RopeScaling = llama3Rope ? new RopeScaling("llama3", 8, 1, 4, 16) : null,
        };

    public static TorchLlamaEngine Engine(LlamaConfig config, int seed = 7, bool useSdpa = true) =>
        new(LlamaCheckpoints.Load(config, LlamaWeights.Random(config, seed, std: 0.2f), useSdpa: useSdpa));

    public static CpuLlama CpuEngine(LlamaConfig config, int seed = 7, int threads = 1)
    {
        var tensors = LlamaWeights.Random(config, seed, std: 0.2f).ToDictionary(t => t.Name);
        return CpuLlama.Load(config, name => tensors[name], threads);
    }
}
