// Continuous batching on CpuLlama: sequences that join, decode and leave a shared batch at different times get exactly
// the logits they get alone; a slot is reusable from position 0; LoRA rows applied unmerged match the merged model
// while base rows in the same pass stay untouched.
using FineTune.Models.Adapters;
using FineTune.Models.Checkpoints;
using FineTune.Models.Inference;

namespace FineTune.Models.Tests;

public sealed class CpuBatchTests
{
    static LlamaConfig Config() => new()
    {
        HiddenSize = 40, IntermediateSize = 70, NumHiddenLayers = 2, NumAttentionHeads = 5, NumKeyValueHeads = 1,
        VocabSize = 61, MaxPositionEmbeddings = 48, RmsNormEps = 1e-6, AttentionBias = true,
    };

    static Dictionary<string, TensorData> Tensors(LlamaConfig config) =>
        LlamaWeights.Random(config, seed: 21).ToDictionary(t => t.Name);

    // Logits of every position of `tokens`, decoded alone with the KV cache (batch 1).
    static List<float[]> Alone(CpuLlama model, IReadOnlyList<int> tokens, int prompt)
    {
        using var session = model.StartSession(1, tokens.Count);
        var result = new List<float[]> { session.Prefill([tokens.Take(prompt).ToArray()])[0] };
        for (int t = prompt; t < tokens.Count; t++)
            result.Add((float[])session.Step([tokens[t]])[0].Clone());
        return result;
    }

    sealed class Sequence(int slot, int[] tokens, int prompt, int joinsAt, CpuLoraAdapter? adapter = null)
    {
        public int Slot =>
            slot; public int[] Tokens => tokens; public int Prompt => prompt; public int JoinsAt => joinsAt;
        public CpuLoraAdapter? Adapter => adapter;
        public int Done; // positions run so far
        public readonly List<float[]> Logits = [];
    }

    // Drives the batch like a scheduler: each step a joining sequence runs its prompt in chunks of 3, others one token.
    static void Drive(IBatchSession batch, int vocab, params Sequence[] sequences)
    {
        var arrays = Enumerable.Range(0, 64).Select(_ => new float[vocab]).ToArray();
        for (int step = 0; sequences.Any(s => s.Done < s.Tokens.Length); step++)
        {
            var rows = new List<BatchRow>();
            var owners = new List<Sequence>();
            foreach (var s in sequences.Where(s => step >= s.JoinsAt && s.Done < s.Tokens.Length))
            {
                int count = s.Done < s.Prompt ? Math.Min(3, s.Prompt - s.Done) : 1;
                for (int i = 0; i < count; i++)
                {
                    int position = s.Done + i;
                    bool logits = position >= s.Prompt - 1;
                    rows.Add(new BatchRow(s.Slot, position, s.Tokens[position], logits, s.Adapter));
                    if (logits)
                        owners.Add(s);
                }
                s.Done += count;
            }
            batch.Run(rows.ToArray(), arrays);
            for (int i = 0; i < owners.Count; i++)
                owners[i].Logits.Add((float[])arrays[i].Clone());
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Sequences_joining_and_leaving_get_exactly_their_logits_alone(int threads)
    {
        var config = Config();
        var tensors = Tensors(config);
        using var model = CpuLlama.Load(config, n => tensors[n], threads);
        var rng = new Random(3);
        int[] Tokens(int n) => Enumerable.Range(0, n).Select(_ => rng.Next(config.VocabSize)).ToArray();
        var a = new Sequence(0, Tokens(14), prompt: 7, joinsAt: 0);
        var b = new Sequence(1, Tokens(9), prompt: 2, joinsAt: 2);
        var c = new Sequence(2, Tokens(20), prompt: 11, joinsAt: 5);
        // 4 rows a pass: some steps take two
        using var batch = model.StartBatch(slots: 3, maxLength: 24, maxRowsPerPass: 4);

        Drive(batch, config.VocabSize, a, b, c);

        foreach (var s in new[] { a, b, c })
        {
            var expected = Alone(model, s.Tokens[..^1], s.Prompt);
            Assert.Equal(expected.Count, s.Logits.Count - 1);
            // bit for bit
            for (int i = 0; i < expected.Count; i++)
                Assert.Equal(expected[i], s.Logits[i]);
        }
    }

    [Fact]
    public void A_slot_is_reused_from_position_zero()
    {
        var config = Config();
        var tensors = Tensors(config);
        using var model = CpuLlama.Load(config, n => tensors[n]);
        using var batch = model.StartBatch(slots: 1, maxLength: 16);
        var first = new Sequence(0, [5, 6, 7, 8, 9, 10, 11, 12], prompt: 4, joinsAt: 0);
        Drive(batch, config.VocabSize, first);
        var second = new Sequence(0, [30, 31, 32, 33, 34], prompt: 2, joinsAt: 0);
        Drive(batch, config.VocabSize, second);
        var expected = Alone(model, second.Tokens[..^1], second.Prompt);
        for (int i = 0; i < expected.Count; i++)
            Assert.Equal(expected[i], second.Logits[i]);
    }

    [Fact]
    public void Lora_rows_match_the_merged_model_and_base_rows_stay_the_base()
    {
        var config = Config();
        var tensors = Tensors(config);
        using var dir = new TempDir();
        var peft = new PeftConfig
        {
            R = 3, LoraAlpha = 6,
            TargetModules = ["q_proj", "v_proj", "o_proj", "gate_proj", "down_proj"]
        };
        var rng = new Random(9);
        float[] Values(long n) => Enumerable.Range(0, (int)n).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var modules = new Dictionary<string, (float[], float[], float[]?)>();
        var shapes = new Dictionary<string, (long, long)>();
        for (int l = 0; l < config.NumHiddenLayers; l++)
            foreach (var (name, outF, inF) in new[] { ("self_attn.q_proj", 40L, 40L), ("self_attn.v_proj", 8L, 40L),
                ("self_attn.o_proj", 40L, 40L),
                         ("mlp.gate_proj", 70L, 40L), ("mlp.down_proj", 40L, 70L) })
            {
                var module = $"model.layers.{l}.{name}";
                modules[module] = (Values(3 * inF), Values(outF * 3), null);
                shapes[module] = (outF, inF);
            }
        PeftAdapter.Save(dir.Path, peft, modules, shapes);
        var adapter = PeftAdapter.Load(dir.Path);

        using var model = CpuLlama.Load(config, n => tensors[n], threads: 2);
        var merged = adapter.MergeInto(n => tensors[n], dir.Path);
        using var mergedModel = CpuLlama.Load(config, merged, threads: 2);
        var lora = model.PrepareLora(adapter, dir.Path);

        int[] tokens = [3, 14, 15, 9, 26, 5, 35, 8, 9, 7];
        var plain = new Sequence(0, tokens, prompt: 5, joinsAt: 0);
        var adapted = new Sequence(1, tokens, prompt: 5, joinsAt: 0, lora);
        using var batch = model.StartBatch(slots: 2, maxLength: 16);
        Drive(batch, config.VocabSize, plain, adapted);

        var basePositions = Alone(model, tokens[..^1], 5);
        var mergedPositions = Alone(mergedModel, tokens[..^1], 5);
        for (int i = 0; i < basePositions.Count; i++)
        {
            Assert.Equal(basePositions[i], plain.Logits[i]);
            double diff = mergedPositions[i].Zip(adapted.Logits[i], (x, y) => Math.Abs(x - y)).Max();
            Assert.True(diff < 1e-4, $"position {i}: LoRA rows differ from the merged model by {diff}");
            double moved = basePositions[i].Zip(adapted.Logits[i], (x, y) => Math.Abs(x - y)).Max();
            Assert.True(moved > 1e-2, $"position {i}: the adapter changed nothing ({moved})");
        }
    }

    [Fact]
    public void Dora_adapters_are_refused_with_the_way_out()
    {
        var config = Config();
        var tensors = Tensors(config);
        using var dir = new TempDir();
        var module = "model.layers.0.self_attn.q_proj";
        PeftAdapter.Save(dir.Path, new PeftConfig { R = 2, LoraAlpha = 2, UseDora = true, TargetModules = ["q_proj"] },
            new Dictionary<string,
                (float[], float[], float[]?)>
            { [module] = (new float[80], new float[80], new float[40]) },
            new Dictionary<string, (long, long)> { [module] = (40, 40) });
        using var model = CpuLlama.Load(config, n => tensors[n]);
        var e = Assert.Throws<ModelFormatException>(() => model.PrepareLora(PeftAdapter.Load(dir.Path), dir.Path));
        Assert.Contains("merge", e.Message);
    }
}
