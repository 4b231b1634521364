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
}
