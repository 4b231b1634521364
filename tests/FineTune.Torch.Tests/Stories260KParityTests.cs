// Parity of the TorchSharp Llama with an independent implementation (llama2.c's run.c, float32) on the stories260K
// checkpoint: logits at 8 positions and a 64-token greedy decode, through the llama2.c import and the HF layout.
using System.Text.Json.Nodes;
using FineTune.Models.Checkpoints;
using FineTune.Models.Generation;
using Xunit.Abstractions;

namespace FineTune.Torch.Tests;

[Trait("Kind", "parity")]
public class Stories260KParityTests(ITestOutputHelper output)
{
    static (int[] Tokens, float[][] Logits, int[] Greedy) Reference()
    {
        var json = JsonNode.Parse(File.ReadAllText(SharedData.File("reference/stories260K_reference.json")))!;
        return (json["forward_tokens"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray(),
                json["forward_logits"]!.AsArray().Select(r => r!.AsArray().Select(x =>
                    x!.GetValue<float>()).ToArray()).ToArray(),
                json["greedy_from_bos"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray());
    }

    async Task AssertMatchesReference(TorchLlamaEngine engine)
    {
        var (tokens, expected, greedy) = Reference();
        var logits = engine.Forward(tokens);
        double maxDiff = 0;
        for (int t = 0; t < tokens.Length; t++)
            for (int v = 0; v < expected[t].Length; v++)
                maxDiff = Math.Max(maxDiff, Math.Abs(logits[t][v] - expected[t][v]));
        output.WriteLine($"max |logit - reference| = {maxDiff:E2}");
        Assert.True(maxDiff < 1e-4, $"max abs logit difference {maxDiff} exceeds 1e-4");

        var result = await new Generator(engine).GenerateAsync([[1]],
            new GenerationOptions { MaxNewTokens = greedy.Length });
        Assert.Equal(greedy, result[0].Tokens);
    }

    [SkippableFact]
    public async Task Llama2c_import_matches_the_reference_logits_and_greedy_decode()
    {
        var (config, tensors) = Llama2cCheckpoint.Read(SharedData.File("models/stories260K/stories260K.bin"));
        using var engine = new TorchLlamaEngine(LlamaCheckpoints.Load(config, tensors));
        await AssertMatchesReference(engine);
    }

    [SkippableFact]
    public async Task Converted_hugging_face_layout_matches_the_reference()
    {
        var (config, tensors) = Llama2cCheckpoint.Read(SharedData.File("models/stories260K/stories260K.bin"));
        using var dir = new TempDir();
        SafeTensorsWriter.Write(Path.Combine(dir.Path, "model.safetensors"), tensors);
        config.Save(Path.Combine(dir.Path, "config.json"));
        using var checkpoint = HfCheckpoint.Open(dir.Path);
        using var engine = new TorchLlamaEngine(LlamaCheckpoints.Load(checkpoint));
        await AssertMatchesReference(engine);
    }

    [SkippableFact]
    public async Task Naive_attention_matches_sdpa_on_the_reference()
    {
        var (config, tensors) = Llama2cCheckpoint.Read(SharedData.File("models/stories260K/stories260K.bin"));
        using var engine = new TorchLlamaEngine(LlamaCheckpoints.Load(config, tensors, useSdpa: false));
        await AssertMatchesReference(engine);
    }

    // A bf16 checkpoint (stories260K rounded to bf16): CpuLlama serves it in bf16 by default — bf16 weights times
    // activations rounded to bf16, float32 accumulation, the residual stream, norms and attention in float32. Against
    // the torch model over the same bf16 values in float32 it stays within bf16's rounding (3% of the logit scale; 2%
    // measured) and decodes the same 64 greedy tokens. The torch model computing in bf16 throughout (its residual
    // stream and every op's output rounded too) stays within 10%, and its greedy decode leaves ours exactly where it
    // leaves torch's own float32 one (26 tokens in, measured): the difference is torch's rounding of every
    // intermediate, not our weights or products. As served by default the KV cache is bf16 too (the weights'
    // precision): within 3% as well (1.6% measured), and its greedy decode stays with float32's longer than torch's
    // bf16 one does (31 tokens, measured).
    [SkippableFact]
    public async Task A_bf16_conversion_served_in_bf16_decodes_as_the_torch_engine_does_in_bf16()
    {
        var (config, tensors) = Llama2cCheckpoint.Read(SharedData.File("models/stories260K/stories260K.bin"));
        using var dir = new TempDir();
        SafeTensorsWriter.Write(Path.Combine(dir.Path, "model.safetensors"), [.. tensors.Select(t =>
            TensorData.FromFloat32(t.Name, t.Shape, t.ToFloat32(), DType.BF16))]);
        (config with { TorchDtype = "bfloat16" }).Save(Path.Combine(dir.Path, "config.json"));
        using var checkpoint = HfCheckpoint.Open(dir.Path);
        using var cpu = FineTune.Models.Inference.CpuLlama.Load(checkpoint,
            new FineTune.Models.Inference.CpuLlamaOptions { Threads = 2, Bf16KvCache = false });
        Assert.True(cpu.Bf16);
        using var served = FineTune.Models.Inference.CpuLlama.Load(checkpoint, threads: 2);   // as served by default
        Assert.True(served.Bf16 && served.Bf16KvCache);
        using var float32 = new TorchLlamaEngine(LlamaCheckpoints.Load(checkpoint,
            TorchSharp.torch.ScalarType.Float32));
        using var bf16 = new TorchLlamaEngine(LlamaCheckpoints.Load(checkpoint));      // the checkpoint's dtype

        var (tokens, _, _) = Reference();
        var ours = cpu.Forward(tokens);
        var byDefault = served.Forward(tokens);
        var exact = float32.Forward(tokens);
        var rounded = bf16.Forward(tokens);
        for (int t = 0; t < tokens.Length; t++)
        {
            double scale = ours[t].Max(Math.Abs);
            double tight = ours[t].Zip(exact[t], (x, y) => Math.Abs(x - y)).Max();
            double loose = ours[t].Zip(rounded[t], (x, y) => Math.Abs(x - y)).Max();
            double cached = byDefault[t].Zip(exact[t], (x, y) => Math.Abs(x - y)).Max();
            output.WriteLine($"position {t}: |cpu - torch f32| {tight:E2}, |cpu - torch bf16| {loose:E2}, " +
                $"with the bf16 cache |cpu - torch f32| {cached:E2} (logit scale {scale:F2})");
            Assert.True(tight < 0.03 * scale, $"position {t}: {tight} from torch over the same values in float32");
            Assert.True(loose < 0.1 * scale, $"position {t}: {loose} from torch in bf16 (logit scale {scale})");
            Assert.True(cached < 0.03 * scale, $"position {t}: {cached} with the bf16 cache (logit scale {scale})");
        }
        var options = new GenerationOptions { MaxNewTokens = 64 };
        var fromCpu = (await new Generator(cpu).GenerateAsync([[1]], options))[0].Tokens;
        var fromServed = (await new Generator(served).GenerateAsync([[1]], options))[0].Tokens;
        var fromFloat32 = (await new Generator(float32).GenerateAsync([[1]], options))[0].Tokens;
        var fromBf16 = (await new Generator(bf16).GenerateAsync([[1]], options))[0].Tokens;
        Assert.Equal(fromFloat32, fromCpu);
        static int Agree(IReadOnlyList<int> a, IReadOnlyList<int> b) =>
            Enumerable.Range(0, Math.Min(a.Count, b.Count)).TakeWhile(i => a[i] == b[i]).Count();
        output.WriteLine($"torch in bf16 agrees with float32 activations for {Agree(fromBf16, fromFloat32)} of 64 " +
            $"greedy tokens; with the bf16 cache ours agree with them for {Agree(fromServed, fromFloat32)}");
        Assert.Equal(Agree(fromBf16, fromFloat32), Agree(fromBf16, fromCpu));
        Assert.True(Agree(fromBf16, fromCpu) >= 16, "torch in bf16 left the greedy decode within 16 tokens");
        // rounding the cache alone costs the greedy decode less than torch's rounding of every intermediate does
        Assert.True(Agree(fromServed, fromFloat32) >= Agree(fromBf16, fromFloat32),
            $"with the bf16 cache the greedy decode left float32's after {Agree(fromServed, fromFloat32)} tokens");
    }
}
