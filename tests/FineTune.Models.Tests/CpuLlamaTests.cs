// CpuLlama against the llama2.c reference logits for stories260K, against itself (cache vs recomputation, batch vs
// single row) on random grouped-query models, and its error messages.
using System.Text.Json;
using FineTune.Models.Checkpoints;
using FineTune.Models.Generation;
using FineTune.Models.Inference;
using Xunit.Abstractions;

namespace FineTune.Models.Tests;

public sealed class CpuLlamaTests(ITestOutputHelper output)
{
    sealed record Reference(int[] GreedyFromBos, int[] ForwardTokens, float[][] ForwardLogits);

    static Reference LoadReference()
    {
        var json = JsonDocument.Parse(File.ReadAllText(SharedData.File("reference/stories260K_reference.json")))
            .RootElement;
        int[] Ints(string name) => json.GetProperty(name).EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var logits = json.GetProperty("forward_logits").EnumerateArray()
            .Select(row => row.EnumerateArray().Select(e => e.GetSingle()).ToArray()).ToArray();
        return new Reference(Ints("greedy_from_bos"), Ints("forward_tokens"), logits);
    }

    static (LlamaConfig Config, IReadOnlyList<TensorData> Tensors) Stories260K() =>
        Llama2cCheckpoint.Read(SharedData.File("models/stories260K/stories260K.bin"));

    void CheckAgainstReference(ICausalLm model, Reference reference)
    {
        var logits = model.Forward(reference.ForwardTokens);
        Assert.Equal(reference.ForwardTokens.Length, logits.Length);
        double maxDiff = 0;
        for (int t = 0; t < logits.Length; t++)
        {
            Assert.Equal(reference.ForwardLogits[t].Length, logits[t].Length);
            for (int v = 0; v < logits[t].Length; v++)
                maxDiff = Math.Max(maxDiff, Math.Abs(logits[t][v] - reference.ForwardLogits[t][v]));
        }
        output.WriteLine($"max abs logit difference vs llama2.c: {maxDiff:E3}");
        Assert.True(maxDiff < 1e-4, $"max abs logit difference {maxDiff} exceeds 1e-4");

        // Greedy decoding from BOS with the KV cache.
        using var session = model.StartSession(1, reference.GreedyFromBos.Length + 1);
        var next = session.Prefill([[1]]);
        var generated = new List<int>();
        for (int i = 0; i < reference.GreedyFromBos.Length; i++)
        {
            int token = ArgMax(next[0]);
            generated.Add(token);
            if (i + 1 < reference.GreedyFromBos.Length)
                next = session.Step([token]);
        }
        Assert.Equal(reference.GreedyFromBos, generated);
    }

    [SkippableFact]
    public void Stories260K_MatchesLlama2cReference()
    {
        var reference = LoadReference();
        var (config, tensors) = Stories260K();
        var byName = tensors.ToDictionary(t => t.Name);
        using var model = CpuLlama.Load(config, name => byName[name]);
        CheckAgainstReference(model, reference);
    }

    [SkippableFact]
    public void Stories260K_MatchesReferenceAfterHfRoundTrip()
    {
        var reference = LoadReference();
        var (config, tensors) = Stories260K();
        var byName = tensors.ToDictionary(t => t.Name);
        var dir = Path.Combine(Path.GetTempPath(), "cpullama-" + Guid.NewGuid().ToString("N"));
        try
        {
            HfCheckpoint.Save(dir, config, tensors.Select(t => t.Info).ToList(), info => byName[info.Name].Bytes);
            using var checkpoint = HfCheckpoint.Open(dir);
            using var model = CpuLlama.Load(checkpoint);
            CheckAgainstReference(model, reference);
        }
        finally
        {
            if (Directory.Exists(dir))
                Directory.Delete(dir, recursive: true);
        }
    }

    public static TheoryData<bool, bool> RandomVariants => new() { { true, false }, { true, true }, { false, false } };

    [Theory]
    [MemberData(nameof(RandomVariants))]
    public void CachedDecode_EqualsRecomputation(bool bias, bool llama3Rope)
    {
        var config = RandomConfig(bias, llama3Rope);
        using var model = RandomModel(config, seed: 1);
        var rng = new Random(2);
        var tokens = Enumerable.Range(0, 12).Select(_ => rng.Next(config.VocabSize)).ToList();
        const int prompt = 5;

        using var session = model.StartSession(1, tokens.Count);
        var logits = session.Prefill([tokens.Take(prompt).ToArray()])[0];
        for (int t = prompt; ; t++)
        {
            var full = model.Forward(tokens.Take(t).ToArray());
            AssertClose(full[^1], logits, 1e-5, $"position {t - 1}");
            if (t == tokens.Count)
                break;
            logits = session.Step([tokens[t]])[0];
        }
        Assert.Equal(tokens.Count, session.Length);
    }

    [Fact]
    public void LongPrompt_CrossesPrefillChunks()
    {
        // Prefill runs 64 positions per pass; 150 positions (batch 2 on 2 threads) cross several chunk boundaries.
        var config = RandomConfig(bias: true, llama3Rope: false) with { MaxPositionEmbeddings = 160 };
        using var model = RandomModel(config, seed: 11, threads: 2);
        var rng = new Random(12);
        var tokens = Enumerable.Range(0, 150).Select(_ => rng.Next(config.VocabSize)).ToArray();
        var full = model.Forward(tokens);
        using var session = model.StartSession(2, 150);
        var prefill = session.Prefill([tokens[..140], tokens[..100]]);
        AssertClose(full[139], prefill[0], 1e-5, "row 0 prefill");
        AssertClose(full[99], prefill[1], 1e-5, "row 1 prefill");
        for (int t = 140; t < 150; t++)
        {
            var step = session.Step([tokens[t], tokens[t - 40]]);
            AssertClose(full[t], step[0], 1e-5, $"row 0 position {t}");
            AssertClose(full[t - 40], step[1], 1e-5, $"row 1 position {t - 40}");
        }
    }

    [Fact]
    public void Forward_LogitsDependOnlyOnThePrefix()
    {
        // Causality: appending tokens must not change earlier positions' logits.
        var config = RandomConfig(bias: true, llama3Rope: false);
        using var model = RandomModel(config, seed: 3);
        int[] tokens = [5, 9, 1, 40, 33, 2, 7];
        var all = model.Forward(tokens);
        var prefix = model.Forward(tokens[..4]);
        for (int t = 0; t < 4; t++)
            AssertClose(prefix[t], all[t], 1e-5, $"position {t}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void LeftPaddedBatch_EqualsEachPromptAlone(int threads)
    {
        var config = RandomConfig(bias: true, llama3Rope: true);
        using var model = RandomModel(config, seed: 4, threads);
        var rng = new Random(5);
        int[][] prompts = [.. new[] { 3, 7,
            5 }.Select(n => Enumerable.Range(0, n).Select(_ => rng.Next(config.VocabSize)).ToArray())];
        int[][] steps = [.. Enumerable.Range(0,
            5).Select(_ => prompts.Select(_ => rng.Next(config.VocabSize)).ToArray())];

        using var batch = model.StartSession(prompts.Length, 7 + steps.Length);
        var batchLogits = new List<float[][]> { batch.Prefill(prompts) };
        foreach (var step in steps)
            batchLogits.Add(batch.Step(step));
        Assert.Equal(7 + steps.Length, batch.Length);

        for (int b = 0; b < prompts.Length; b++)
        {
            using var single = model.StartSession(1, prompts[b].Length + steps.Length);
            var expected = new List<float[]> { single.Prefill([prompts[b]])[0] };
            foreach (var step in steps)
                expected.Add(single.Step([step[b]])[0]);
            for (int i = 0; i < expected.Count; i++)
                AssertClose(expected[i], batchLogits[i][b], 1e-5, $"row {b}, output {i}");
        }
    }

    [Fact]
    public void LargeBatch_UsesBlockedKernelsAndStillMatchesSingleRows()
    {
        // Batch 9 exercises the 4x4, 4x2 and 4x1 kernel blocks; a wider model exercises padding of odd sizes.
        var config = RandomConfig(bias: false, llama3Rope: false) with
        {
            HiddenSize = 40,
            IntermediateSize = 70,
            NumAttentionHeads = 5,
            NumKeyValueHeads = 1,
            VocabSize = 61
        };
        using var model = RandomModel(config, seed: 6, threads: 2);
        var rng = new Random(7);
        int[][] prompts = [.. Enumerable.Range(0,
            9).Select(i => Enumerable.Range(0, 1 + i % 4).Select(_ => rng.Next(config.VocabSize)).ToArray())];
        using var batch = model.StartSession(prompts.Length, 6);
        var first = batch.Prefill(prompts);
        var next = batch.Step(prompts.Select(p => p[0]).ToArray());
        for (int b = 0; b < prompts.Length; b++)
        {
            var alone = model.Forward([.. prompts[b], prompts[b][0]]);
            AssertClose(alone[prompts[b].Length - 1], first[b], 1e-5, $"row {b} prefill");
            AssertClose(alone[^1], next[b], 1e-5, $"row {b} step");
        }
    }

    [Fact]
    public void PromptLongerThanContext_Throws()
    {
        var config = RandomConfig(bias: false, llama3Rope: false); // context 32
        using var model = RandomModel(config, seed: 8);
        var tooLong = new int[config.MaxPositionEmbeddings + 1];
        var e = Assert.Throws<ArgumentException>(() => model.Forward(tooLong));
        Assert.Contains($"sequence of {tooLong.Length} tokens exceeds the model context of " +
            $"{config.MaxPositionEmbeddings}", e.Message);

        e = Assert.Throws<ArgumentException>(() => model.StartSession(1, config.MaxPositionEmbeddings + 1));
        Assert.Contains("exceeds the model context", e.Message);

        using var session = model.StartSession(2, 6);
        e = Assert.Throws<ArgumentException>(() => session.Prefill([new int[7], new int[2]]));
        Assert.Contains("prompt of 7 tokens exceeds the session's maxLength of 6", e.Message);

        session.Prefill([new int[4], new int[2]]);
        session.Step([1, 1]);
        session.Step([1, 1]);
        e = Assert.Throws<ArgumentException>(() => session.Step([1, 1]));
        Assert.Contains("prompt of 4 tokens plus 3 new tokens exceeds the session's maxLength of 6", e.Message);
    }

    [Fact]
    public void TokenOutOfRange_Throws()
    {
        var config = RandomConfig(bias: false, llama3Rope: false);
        using var model = RandomModel(config, seed: 9);
        var e = Assert.Throws<ArgumentException>(() => model.Forward([1, config.VocabSize]));
        Assert.Contains($"token id {config.VocabSize}", e.Message);
        Assert.Contains($"outside the vocabulary [0, {config.VocabSize})", e.Message);

        using var session = model.StartSession(1, 4);
        Assert.Throws<ArgumentException>(() => session.Prefill([[-1]]));
        session.Prefill([[3]]);
        e = Assert.Throws<ArgumentException>(() => session.Step([-5]));
        Assert.Contains("token id -5", e.Message);
    }

    [Fact]
    public void MissingOrMisshapenTensor_Throws()
    {
        var config = RandomConfig(bias: true, llama3Rope: false);
        var tensors = RandomTensors(config, seed: 10);

        var missing = new Dictionary<string, TensorData>(tensors);
        missing.Remove("model.layers.1.self_attn.k_proj.bias");
        var e = Assert.Throws<ModelFormatException>(() => CpuLlama.Load(config, name => missing[name]));
        Assert.Contains("model.layers.1.self_attn.k_proj.bias", e.Message);
        Assert.Contains("missing", e.Message);

        var wrong = new Dictionary<string, TensorData>(tensors)
        {
            ["model.layers.0.mlp.up_proj.weight"] = TensorData.FromFloat32("model.layers.0.mlp.up_proj.weight",
                [config.HiddenSize, config.IntermediateSize],
                new float[config.HiddenSize * config.IntermediateSize]),
        };
        e = Assert.Throws<ModelFormatException>(() => CpuLlama.Load(config, name => wrong[name]));
        Assert.Contains("model.layers.0.mlp.up_proj.weight", e.Message);
        Assert.Contains($"[{config.HiddenSize}, {config.IntermediateSize}]", e.Message);
        Assert.Contains($"[{config.IntermediateSize}, {config.HiddenSize}]", e.Message);
    }

    // dim 32, 2 layers, 4 query heads sharing 2 kv heads (head dim 8), untied classifier.
    static LlamaConfig RandomConfig(bool bias, bool llama3Rope) => new()
    {
        HiddenSize = 32, IntermediateSize = 44, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
        VocabSize = 50, MaxPositionEmbeddings = 32, RmsNormEps = 1e-6, RopeTheta = 500000.0, AttentionBias = bias,
        RopeScaling = llama3Rope ? new RopeScaling("llama3", 8.0, 1.0, 4.0, 16) : null,
    };

    static Dictionary<string, TensorData> RandomTensors(LlamaConfig config, int seed)
    {
        var rng = new Random(seed);
        return LlamaWeights.Expected(config).ToDictionary(e => e.Name, e =>
        {
            var values = new float[e.Shape.Aggregate(1L, (a, b) => a * b)];
            bool norm = e.Name.EndsWith("norm.weight", StringComparison.Ordinal);
            for (int i = 0; i < values.Length; i++)
                values[i] = norm ? 1f + 0.2f * (float)(rng.NextDouble() - 0.5) : 0.4f * (float)(rng.NextDouble() - 0.5);
            return TensorData.FromFloat32(e.Name, e.Shape, values);
        });
    }

    static CpuLlama RandomModel(LlamaConfig config, int seed, int threads = 1)
    {
        var tensors = RandomTensors(config, seed);
        return CpuLlama.Load(config, name => tensors[name], threads);
    }

    static int ArgMax(float[] values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            if (values[i] > values[best])
                best = i;
        return best;
    }

    static void AssertClose(float[] expected, float[] actual, double tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double max = 0;
        for (int i = 0; i < expected.Length; i++)
            max = Math.Max(max, Math.Abs(expected[i] - actual[i]));
        Assert.True(max <= tolerance, $"{what}: max abs difference {max} exceeds {tolerance}");
    }
}
