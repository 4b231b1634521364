// DoRA, IA³, prompt and prefix tuning on the TorchSharp model: each starts as the base, trains only its own tensors,
// exports in PEFT's format (names, shapes, config keys), and the mergeable ones (DoRA, IA³) merge into the base with
// the adapted model's logits. Also: gradient checkpointing gives the same gradients, bf16 autocast stays close.
using System.Text.Json.Nodes;
using FineTune.Models.Adapters;
using FineTune.Models.Checkpoints;
using FineTune.Models.Inference;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace FineTune.Torch.Tests;

public class AdapterMethodTests(ITestOutputHelper output)
{
    static (Models.LlamaConfig Config, IReadOnlyList<TensorData> Weights) Base(bool bias = false)
    {
        manual_seed(3);
        var config = TestModels.Tiny(bias: bias);
        return (config, LlamaWeights.Random(config, seed: 11, std: 0.2f));
    }

    static (int[] Ids, byte[] Mask)[] Data() =>
    [
        ([1, 5, 9, 13, 17, 21, 25, 29], [0, 0, 0, 1, 1, 1, 1, 1]),
        ([1, 6, 10, 14, 18, 22, 26, 30], [0, 0, 0, 1, 1, 1, 1, 1]),
    ];

    static double MaxDiff(float[][] a, float[][] b) =>
        a.Zip(b, (x, y) => x.Zip(y, (p, q) => Math.Abs(p - q)).Max()).Max();

    public static TheoryData<string> Methods => new() { "dora", "ia3", "prompt", "prefix" };

    static PeftSettings Settings(string method) => method switch
    {
        "dora" => new LoraSettings(4, 8, ["all-linear"], UseDora: true),
        "ia3" => Ia3Settings.LlamaDefaults,
        "prompt" => new PromptSettings(3),
        _ => new PromptSettings(3, Prefix: true),
    };

    [Theory]
    [MemberData(nameof(Methods))]
    public void Each_method_trains_only_its_tensors_and_switches_off_to_the_exact_base(string method)
    {
        var (config, weights) = Base(bias: method == "ia3");   // IA3 output scaling must cover the q/k/v bias too
        using var plain = new TorchLlamaEngine(LlamaCheckpoints.Load(config, weights));
        using var model = LlamaCheckpoints.Load(config, weights, adapter: Settings(method));
        int[] tokens = [1, 2, 3, 4, 5];
        if (method is "dora" or "ia3")
            // fresh: exactly the base
            Assert.Equal(plain.Forward(tokens)[^1], new TorchLlamaEngine(model).Forward(tokens)[^1]);

        var frozen = model.named_parameters().Where(p => !p.parameter.requires_grad).ToDictionary(p => p.name,
            p => p.parameter.clone());
        using var step = new SftStep(model, learningRate: method is "dora" ? 1e-2 : 1e-1);
        double first = step.Run(Data()), last = first;
        for (int i = 0; i < 30; i++)
            last = step.Run(Data());
        output.WriteLine($"{method}: loss {first:F4} -> {last:F4}");
        Assert.True(last < first * 0.9, $"{method}: {first} -> {last}");
        foreach (var (name, p) in model.named_parameters().Where(p => !p.parameter.requires_grad))
            Assert.True(p.eq(frozen[name]).all().item<bool>(), $"{method}: frozen {name} changed");
        Assert.All(model.named_parameters().Where(p => p.parameter.requires_grad),
            p => Assert.Matches("lora_|ia3_l|prompt_embeddings", p.name));

        using (no_grad())
        using (model.AdaptersDisabled())
        {
            var ids = tensor(tokens.Select(t => (long)t).ToArray(), [1, tokens.Length]);
            var logits = model.forward(ids, arange(tokens.Length, dtype: ScalarType.Int64).unsqueeze(0),
                Llama.CausalMask(tokens.Length));
            var expected = plain.Forward(tokens)[^1];
            Assert.Equal(expected, logits[0, -1].data<float>().ToArray());
        }
    }

    [Theory]
    [InlineData("dora")]
    [InlineData("ia3")]
    public void Dora_and_ia3_adapters_export_in_peft_format_and_merge_to_the_adapted_logits(string method)
    {
        var (config, weights) = Base(bias: method == "ia3");
        using var model = LlamaCheckpoints.Load(config, weights, adapter: Settings(method));
        using (var step = new SftStep(model, learningRate: 5e-2))
            for (int i = 0; i < 10; i++)
                step.Run(Data());
        using var dir = new TempDir();
        PeftExport.Save(model, dir.Path, "tiny-base");

        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.Path, "adapter_config.json")))!;
        using (var file = SafeTensorsFile.Open(Path.Combine(dir.Path, "adapter_model.safetensors")))
        {
            if (method == "dora")
            {
                Assert.Equal("LORA", (string)json["peft_type"]!);
                Assert.True((bool)json["use_dora"]!);
                Assert.Equal([config.HiddenSize],
                    file.Describe("base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector").Shape);
            }
            else
            {
                Assert.Equal("IA3", (string)json["peft_type"]!);
                Assert.Equal(["down_proj"], json["feedforward_modules"]!.AsArray().Select(x => (string)x!));
                Assert.Equal([config.NumKeyValueHeads * config.HeadDim, 1L],
                    file.Describe("base_model.model.model.layers.0.self_attn.k_proj.ia3_l").Shape);
                Assert.Equal([1L, config.IntermediateSize],
                    file.Describe("base_model.model.model.layers.1.mlp.down_proj.ia3_l").Shape);
                Assert.Equal(6, file.Tensors.Count());   // k, v, down in 2 layers
            }
            Assert.All(file.Tensors, t => Assert.Equal(DType.F32, t.DType));
        }

        var adapter = PeftAdapter.Load(dir.Path);
        var byName = weights.ToDictionary(t => t.Name);
        using var merged = CpuLlama.Load(config, adapter.MergeInto(n => byName[n], "tiny-base"), threads: 1);
        using var adapted = new TorchLlamaEngine(model);
        int[] tokens = [1, 5, 9, 13, 2, 4];
        double diff = MaxDiff(adapted.Forward(tokens), merged.Forward(tokens));
        output.WriteLine($"{method}: max |adapted - merged| = {diff:E2}");
        Assert.True(diff < 1e-5, $"{method}: merged logits differ by {diff}");
    }

    [Fact]
    public void Prompt_tuning_equals_the_base_reading_the_virtual_tokens_first()
    {
        // With the virtual embeddings set to the embeddings of tokens [7, 8, 9], the prompt-tuned model on x must give
        // the base model's logits for [7, 8, 9] + x at x's positions: same positions, same attention, same values.
        var (config, weights) = Base();
        using var plain = new TorchLlamaEngine(LlamaCheckpoints.Load(config, weights));
        using var model = LlamaCheckpoints.Load(config, weights, adapter: new PromptSettings(3));
        var embed = weights.Single(t => t.Name == "model.embed_tokens.weight").ToFloat32();
        int[] virtualTokens = [7, 8, 9];
        var rows = virtualTokens.SelectMany(t => embed.AsSpan(t * config.HiddenSize,
            config.HiddenSize).ToArray()).ToArray();
        using (no_grad())
            model.AdapterParameters().Single().Parameter.copy_(tensor(rows, [3, config.HiddenSize]));
        int[] x = [1, 4, 2, 6];
        var expected = plain.Forward([.. virtualTokens, .. x]).Skip(3).ToArray();
        var actual = new TorchLlamaEngine(model).Forward(x);
        double diff = MaxDiff(expected, actual);
        Assert.True(diff < 1e-5, $"prompt-tuned logits differ from the base's by {diff}");
    }

    [Fact]
    public void Prompt_tuned_decoding_with_a_kv_cache_equals_the_base_reading_the_virtual_tokens_first()
    {
        var (config, weights) = Base();
        using var plain = new TorchLlamaEngine(LlamaCheckpoints.Load(config, weights));
        using var model = new TorchLlamaEngine(LlamaCheckpoints.Load(config, weights, adapter: new PromptSettings(3)));
        var embed = weights.Single(t => t.Name == "model.embed_tokens.weight").ToFloat32();
        int[] virtualTokens = [7, 8, 9];
        var rows = virtualTokens.SelectMany(t => embed.AsSpan(t * config.HiddenSize,
            config.HiddenSize).ToArray()).ToArray();
        using (no_grad())
            model.Model.AdapterParameters().Single().Parameter.copy_(tensor(rows, [3, config.HiddenSize]));

        int[][] prompts = [[1, 4, 2], [1, 5]];   // left-padded batch
        using var tuned = model.StartSession(2, 12);
        using var reference = plain.StartSession(2, 15);
        var a = tuned.Prefill(prompts);
        var b = reference.Prefill(prompts.Select(p => (IReadOnlyList<int>)[.. virtualTokens, .. p]).ToList());
        Assert.True(MaxDiff(a, b) < 1e-5, $"prefill differs by {MaxDiff(a, b)}");
        foreach (var next in new[] { 6, 3, 11 })
        {
            a = tuned.Step([next, next]);
            b = reference.Step([next, next]);
            Assert.True(MaxDiff(a, b) < 1e-5, $"decode step differs by {MaxDiff(a, b)}");
        }
    }

    [Fact]
    public void Prefix_tuned_decoding_with_a_kv_cache_equals_its_full_forward()
    {
        var (config, weights) = Base();
        using var engine = new TorchLlamaEngine(LlamaCheckpoints.Load(config, weights,
            adapter: new PromptSettings(4, Prefix: true)));
        using (no_grad())
            engine.Model.AdapterParameters().Single().Parameter.normal_(0, 0.5);
        int[] tokens = [1, 4, 2, 6, 3];
        var full = engine.Forward(tokens);
        using var session = engine.StartSession(1, 8);
        var logits = session.Prefill([tokens[..3]]);
        Assert.True(MaxDiff(logits, [full[2]]) < 1e-5);
        Assert.True(MaxDiff(session.Step([tokens[3]]), [full[3]]) < 1e-5);
        Assert.True(MaxDiff(session.Step([tokens[4]]), [full[4]]) < 1e-5);
        using (no_grad())
        using (engine.Model.AdaptersDisabled())
            Assert.NotEqual(full[4], engine.Forward(tokens)[4]);   // the prefix does change the output
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Prompt_and_prefix_adapters_export_with_peft_names_shapes_and_keys(bool prefix)
    {
        var (config, weights) = Base();
        using var model = LlamaCheckpoints.Load(config, weights, adapter: new PromptSettings(5, prefix));
        using var dir = new TempDir();
        PeftExport.Save(model, dir.Path, "tiny-base");
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.Path, "adapter_config.json")))!;
        using var file = SafeTensorsFile.Open(Path.Combine(dir.Path, "adapter_model.safetensors"));
        var tensorInfo = Assert.Single(file.Tensors);
        Assert.Equal("prompt_embeddings", tensorInfo.Name);
        int kvDim = config.NumKeyValueHeads * config.HeadDim;
        Assert.Equal(prefix ? "PREFIX_TUNING" : "PROMPT_TUNING", (string)json["peft_type"]!);
        Assert.Equal(5, (int)json["num_virtual_tokens"]!);
        Assert.Equal(config.NumHiddenLayers, (int)json["num_layers"]!);
        Assert.Equal(1, (int)json["num_transformer_submodules"]!);
        Assert.Equal("CAUSAL_LM", (string)json["task_type"]!);
        Assert.Equal(prefix ? kvDim : config.HiddenSize, (int)json["token_dim"]!);
        Assert.Equal(prefix ? config.NumKeyValueHeads : config.NumAttentionHeads, (int)json["num_attention_heads"]!);
        Assert.Equal(prefix ? [5L, 2L * config.NumHiddenLayers * kvDim] : [5L, config.HiddenSize], tensorInfo.Shape);
        var e = Assert.Throws<Models.ModelFormatException>(() => PeftAdapter.Load(dir.Path));
        Assert.Contains("virtual tokens", e.Message);

        // The saved adapter loads back into the model (what generate --adapter does) with the same virtual tokens.
        var baseDir = Path.Combine(dir.Path, "base");
        LlamaCheckpoints.Save(LlamaCheckpoints.Load(config, weights), baseDir);
        var settings = PromptAdapter.TryRead(dir.Path);
        Assert.Equal(new PromptSettings(5, prefix), settings);
        using var loaded = PromptAdapter.Load(baseDir, dir.Path, settings!);
        Assert.Equal(model.AdapterParameters().Single().Parameter.data<float>().ToArray(),
            loaded.AdapterParameters().Single().Parameter.data<float>().ToArray());
    }

    // The training step's loss (the mean over trained tokens) in training mode, backpropagated: its value.
    static float MeanLossBackward(Llama model, IReadOnlyList<PackedRow> rows)
    {
        model.train();
        using var scope = NewDisposeScope();
        var result = SftLoss.Compute(model, rows);
        var mean = result.Sum / result.Tokens;
        mean.backward();
        return mean.item<float>();
    }

    [Fact]
    public void Gradient_checkpointing_gives_the_same_loss_and_gradients_with_dropout_on()
    {
        var (config, weights) = Base();
        var lora = new LoraSettings(4, 8, ["all-linear"], Dropout: 0.2);
        var rows = Packing.Unpacked(Data());
        Dictionary<string, float[]> Gradients(bool recompute, out float loss)
        {
            manual_seed(41);   // the same adapter initialisation in both runs
            using var model = LlamaCheckpoints.Load(config, weights, adapter: lora);
            using (no_grad())
                // non-zero B, so every path has gradient
                foreach (var (_, p) in model.AdapterParameters())
                    p.normal_(0, 0.1);
            model.GradientCheckpointing = recompute;
            manual_seed(42);   // the same dropout masks in both runs
            loss = MeanLossBackward(model, rows);
            return model.AdapterParameters().ToDictionary(p => p.Name, p => p.Parameter.grad!.data<float>().ToArray());
        }
        var plain = Gradients(false, out var plainLoss);
        var recomputed = Gradients(true, out var recomputedLoss);
        Assert.Equal(plainLoss, recomputedLoss, 6);
        double worst = plain.Max(kv => kv.Value.Zip(recomputed[kv.Key], (a, b) => Math.Abs(a - b)).Max());
        output.WriteLine($"max gradient difference with recompute: {worst:E2}");
        Assert.True(worst < 1e-6, $"gradients differ by {worst}");
        Assert.Contains(plain.Values, g => g.Any(v => v != 0));
    }

    [Fact]
    public void Gradient_checkpointing_under_bf16_autocast_gives_the_same_bits_in_full_fine_tuning()
    {
        // the fused bf16 paths (stacked q/k/v with FusedQkvRope, FusedSwiGlu, the loss writing over its logits) inside
        // recomputed layers: q/k/v biases and grouped-query heads
        var (config, weights) = Base(bias: true);
        var rows = Packing.Unpacked(Data());
        Dictionary<string, float[]> Gradients(bool recompute, out float loss)
        {
            using var model = LlamaCheckpoints.Load(config, weights);
            model.ComputeDtype = ScalarType.BFloat16;
            model.GradientCheckpointing = recompute;
            loss = MeanLossBackward(model, rows);
            return model.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.data<float>().ToArray());
        }
        var plain = Gradients(false, out var plainLoss);
        var recomputed = Gradients(true, out var recomputedLoss);
        Assert.Equal(plainLoss, recomputedLoss);
        Assert.Contains("model.layers.0.self_attn.q_proj.bias", plain.Keys);
        foreach (var (name, gradient) in plain)
            Assert.True(gradient.SequenceEqual(recomputed[name]), $"{name}: gradients differ with recompute");
        Assert.Contains(plain.Values, g => g.Any(v => v != 0));
    }

    [Fact]
    public void Bf16_autocast_keeps_float32_weights_and_logits_and_stays_close_to_float32()
    {
        var (config, weights) = Base();
        using var model = LlamaCheckpoints.Load(config, weights);
        int[] tokens = [1, 5, 9, 13, 2, 4];
        var reference = new TorchLlamaEngine(model).Forward(tokens);
        model.ComputeDtype = ScalarType.BFloat16;
        var autocast = new TorchLlamaEngine(model).Forward(tokens);
        double diff = MaxDiff(reference, autocast), scale = reference.Max(r => r.Max(Math.Abs));
        output.WriteLine($"bf16 autocast: max |diff| {diff:E2} of max |logit| {scale:F2}");
        Assert.True(diff > 0, "autocast changed nothing: the matmuls did not run in bfloat16");
        Assert.True(diff < 0.05 * scale, $"bf16 logits differ by {diff}");
        Assert.All(model.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
    }
}
