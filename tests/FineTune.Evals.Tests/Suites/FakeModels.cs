// Test models: a fake ICausalLm whose logits always favour one token (e.g. " A"), and small random CpuLlama engines.
using FineTune.Models;
using FineTune.Models.Checkpoints;
using FineTune.Models.Generation;
using FineTune.Models.Inference;

namespace FineTune.Evals.Tests.Suites;

/// <summary>Every position's logits are 0 except <c>favoured</c>, which gets 5; counts the rows it was prefilled
/// with.</summary>
sealed class PreferOneTokenModel(int vocab, int favoured) : ICausalLm
{
    public LlamaConfig Config { get; } = new()
    {
        VocabSize = vocab, MaxPositionEmbeddings = 1 << 20, HiddenSize = 8,
        NumAttentionHeads = 1, NumKeyValueHeads = 1
    };
    public int PrefilledRows { get; private set; }

    float[] Row()
    {
        var row = new float[vocab];
        row[favoured] = 5f;
        return row;
    }

    public float[][] Forward(IReadOnlyList<int> tokens) => tokens.Select(_ => Row()).ToArray();

    public IDecodeSession StartSession(int batchSize, int maxLength) => new Session(this, batchSize);

    public void Dispose() { }

    sealed class Session(PreferOneTokenModel model, int batch) : IDecodeSession
    {
        public int BatchSize => batch;
        public int Length { get; private set; }
        public float[][] Prefill(IReadOnlyList<IReadOnlyList<int>> prompts)
        {
            model.PrefilledRows += prompts.Count;
            Length = prompts.Max(p => p.Count);
            return prompts.Select(_ => model.Row()).ToArray();
        }
        public float[][] Step(IReadOnlyList<int> tokens)
        {
            Length++;
            return tokens.Select(_ => model.Row()).ToArray();
        }
        public void Dispose() { }
    }
}

/// <summary>A model of <c>context</c> positions whose logits always favour <c>favoured</c>; records every prefilled
/// row, so a test sees exactly what an evaluation fed the model.</summary>
sealed class RecordingModel(int vocab, int context, int favoured) : ICausalLm
{
    public LlamaConfig Config { get; } = new()
    {
        VocabSize = vocab, MaxPositionEmbeddings = context, HiddenSize = 8,
        NumAttentionHeads = 1, NumKeyValueHeads = 1
    };
    public List<int[]> Prefilled { get; } = [];

    float[] Row()
    {
        var row = new float[vocab];
        row[favoured] = 5f;
        return row;
    }

    public float[][] Forward(IReadOnlyList<int> tokens) => tokens.Select(_ => Row()).ToArray();

    public IDecodeSession StartSession(int batchSize, int maxLength)
    {
        Assert.True(maxLength <= context, $"a session of {maxLength} positions on a model of {context}");
        return new Session(this, batchSize);
    }

    public void Dispose() { }

    sealed class Session(RecordingModel model, int batch) : IDecodeSession
    {
        public int BatchSize => batch;
        public int Length { get; private set; }
        public float[][] Prefill(IReadOnlyList<IReadOnlyList<int>> prompts)
        {
            model.Prefilled.AddRange(prompts.Select(p => p.ToArray()));
            Length = prompts.Max(p => p.Count);
            return prompts.Select(_ => model.Row()).ToArray();
        }
        public float[][] Step(IReadOnlyList<int> tokens)
        {
            Length++;
            return tokens.Select(_ => model.Row()).ToArray();
        }
        public void Dispose() { }
    }
}

static class RandomLlama
{
    public static CpuLlama Create(int seed = 11, int vocab = 64, int context = 64)
    {
        var config = new LlamaConfig
        {
            HiddenSize = 32, IntermediateSize = 48, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
            VocabSize = vocab, MaxPositionEmbeddings = context, RmsNormEps = 1e-6, RopeTheta = 10000,
        };
        var tensors = LlamaWeights.Random(config, seed, std: 0.2f).ToDictionary(t => t.Name);
        return CpuLlama.Load(config, name => tensors[name], threads: 1);
    }
}
