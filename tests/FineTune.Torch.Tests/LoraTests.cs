// LoRA on the TorchSharp model: starts as the base model, trains only the adapters (the base stays bit-identical),
// lowers the loss on a memorisation set, and exports a PEFT adapter whose merge reproduces the LoRA model's logits.
using FineTune.Models.Adapters;
using FineTune.Models.Checkpoints;
using FineTune.Models.Inference;
using Xunit.Abstractions;

namespace FineTune.Torch.Tests;

public class LoraTests(ITestOutputHelper output)
{
    static readonly LoraSettings QV = new(Rank: 4, Alpha: 8, TargetModules: ["q_proj", "v_proj"]);

    static (Models.LlamaConfig Config, IReadOnlyList<TensorData> Weights) Base()
    {
        TorchSharp.torch.manual_seed(1); // the adapters' Kaiming init draws from torch's generator
        var config = TestModels.Tiny(bias: false);
        return (config, LlamaWeights.Random(config, seed: 11, std: 0.2f));
    }

    static (int[] Ids, byte[] Mask)[] MemorisationSet() =>
    [
        ([1, 5, 9, 13, 17, 21, 25, 29], [0, 0, 0, 1, 1, 1, 1, 1]),
        ([1, 6, 10, 14, 18, 22, 26, 30], [0, 0, 0, 1, 1, 1, 1, 1]),
        ([1, 7, 11, 15, 19], [0, 0, 0, 1, 1]),
    ];

    [Fact]
    public void A_fresh_lora_model_computes_exactly_the_base_model()
    {
        var (config, weights) = Base();
        using var plain = new TorchLlamaEngine(LlamaCheckpoints.Load(config, weights));
        using var adapted = new TorchLlamaEngine(LlamaCheckpoints.Load(config, weights, adapter: QV));
        int[] tokens = [1, 2, 3, 4, 5];
        Assert.Equal(plain.Forward(tokens)[^1], adapted.Forward(tokens)[^1]);
        Assert.Equal(2 * 2 * 2, adapted.Model.AdapterParameters().Count()); // 2 layers x (q, v) x (A, B)
    }

    [Fact]
    public void Training_lowers_the_loss_and_changes_only_the_adapters()
    {
        var (config, weights) = Base();
        using var model = LlamaCheckpoints.Load(config, weights, adapter: QV);
        var before = model.state_dict().Where(kv => !kv.Key.Contains(".lora_")).ToDictionary(kv => kv.Key,
            kv => kv.Value.clone());
        var adaptersBefore = model.AdapterParameters().ToDictionary(p => p.Name, p => p.Parameter.clone());
        using var step = new SftStep(model, learningRate: 1e-2);
        var data = MemorisationSet();
        double first = step.Run(data), last = first;
        for (int i = 0; i < 40; i++)
            last = step.Run(data);
        output.WriteLine($"loss {first:F4} -> {last:F4}");

        Assert.True(last < first * 0.5, $"loss should fall: {first} -> {last}");
        foreach (var (name, tensor) in model.state_dict().Where(kv => !kv.Key.Contains(".lora_")))
            Assert.True(tensor.eq(before[name]).all().item<bool>(), $"base tensor {name} changed");
        Assert.Contains(model.AdapterParameters(), p => !p.Parameter.eq(adaptersBefore[p.Name]).all().item<bool>());
    }

    [Fact]
    public void Exported_adapter_merges_into_the_base_with_the_lora_models_logits()
    {
        var (config, weights) = Base();
        using var model = LlamaCheckpoints.Load(config, weights, adapter: QV with { UseRslora = true });
        using (var step = new SftStep(model, learningRate: 1e-2))
            for (int i = 0; i < 10; i++)
                step.Run(MemorisationSet());
        using var dir = new TempDir();
        PeftExport.Save(model, dir.Path, "tiny-base");

        var adapter = PeftAdapter.Load(dir.Path);
        Assert.True(adapter.Config.UseRslora);
        Assert.Equal(["q_proj", "v_proj"], adapter.Config.TargetModules);
        Assert.Contains("model.layers.1.self_attn.v_proj", adapter.Modules.Keys);
        var byName = weights.ToDictionary(t => t.Name);
        using var merged = CpuLlama.Load(config, adapter.MergeInto(n => byName[n], "tiny-base"), threads: 1);
        using var lora = new TorchLlamaEngine(model);
        int[] tokens = [1, 5, 9, 13, 2, 4];
        var a = lora.Forward(tokens);
        var b = merged.Forward(tokens);
        double maxDiff = a.Zip(b, (x, y) => x.Zip(y, (p, q) => Math.Abs(p - q)).Max()).Max();
        output.WriteLine($"max |lora - merged| = {maxDiff:E2}");
        Assert.True(maxDiff < 1e-5, $"merged logits differ by {maxDiff}");
    }

    [Fact]
    public void A_target_module_that_matches_nothing_is_named()
    {
        var (config, weights) = Base();
        var e = Assert.Throws<ArgumentException>(() => LlamaCheckpoints.Load(config, weights,
            adapter: QV with { TargetModules = ["qkv"] }));
        Assert.Contains("'qkv'", e.Message);
    }
}

public class QloraTests
{
    static readonly LoraSettings Q = new(Rank: 4, Alpha: 8, TargetModules: ["all-linear"], QuantizeBase: true);

    [Fact]
    public void Qlora_computes_with_the_nf4_base_keeps_it_frozen_and_still_learns()
    {
        TorchSharp.torch.manual_seed(2);
        var config = TestModels.Tiny(bias: false);
        var weights = FineTune.Models.Checkpoints.LlamaWeights.Random(config, seed: 11, std: 0.2f);
        using var full = new TorchLlamaEngine(LlamaCheckpoints.Load(config, weights));
        using var model = LlamaCheckpoints.Load(config, weights, adapter: Q);

        var linears = model.modules().OfType<LoraLinear>().ToList();
        Assert.Equal(2 * 7, linears.Count);
        long nf4Bytes = linears.Sum(l => l.BaseWeightBytes);
        long floatBytes = weights.Where(t => t.Name.EndsWith("proj.weight",
            StringComparison.Ordinal)).Sum(t => t.Info.ElementCount * 4);
        Assert.True(nf4Bytes * 6 <= floatBytes, $"NF4 base {nf4Bytes} B vs float32 {floatBytes} B");

        // The QLoRA forward must be exactly the float model with every projection replaced by its NF4 round trip.
        var roundTripped = weights.Select(t => t.Name.EndsWith("proj.weight", StringComparison.Ordinal)
            ? FineTune.Models.Checkpoints.TensorData.FromFloat32(t.Name, t.Shape,
                Nf4Tensor.Quantize(t.ToFloat32(), t.Shape).Dequantize())
            : t).ToList();
        using var dequantized = new TorchLlamaEngine(LlamaCheckpoints.Load(config, roundTripped));
        int[] tokens = [1, 5, 9, 13, 2];
        var expected = dequantized.Forward(tokens)[^1];
        var unquantized = full.Forward(tokens)[^1];
        using (var engine = new TorchLlamaEngine(model))
        {
            var quantized = engine.Forward(tokens)[^1];
            Assert.True(expected.Zip(quantized, (a, b) => Math.Abs(a - b)).Max() < 1e-5,
                "QLoRA forward differs from the NF4 round-trip weights");
            Assert.True(unquantized.Zip(quantized, (a, b) => Math.Abs(a - b)).Max() > 1e-4,
                "NF4 should perturb the logits");

            var codesBefore = linears.Select(l => l.QuantizedBase!.Dequantize()).ToList();
            using var step = new SftStep(model, learningRate: 1e-2);
            (int[], byte[])[] data = [([1, 5, 9, 13, 17, 21], [0, 0, 1, 1, 1, 1]),
                ([1, 6, 10, 14, 18, 22], [0, 0, 1, 1, 1, 1])];
            double first = step.Run(data), last = first;
            for (int i = 0; i < 40; i++)
                last = step.Run(data);
            Assert.True(last < first * 0.5, $"loss should fall: {first} -> {last}");
            for (int i = 0; i < linears.Count; i++)
                Assert.Equal(codesBefore[i], linears[i].QuantizedBase!.Dequantize());
        }
    }
}
