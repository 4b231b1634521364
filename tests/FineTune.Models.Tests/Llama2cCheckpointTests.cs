// llama2.c import: header validation and the q/k row permutation into Hugging Face's rotate_half layout.
using FineTune.Models;
using FineTune.Models.Checkpoints;

namespace FineTune.Models.Tests;

public class Llama2cCheckpointTests
{
    [SkippableFact]
    public void Stories260K_header_becomes_the_config()
    {
        var (config, tensors) = Llama2cCheckpoint.Read(SharedData.File("models/stories260K/stories260K.bin"));
        Assert.Equal((64, 172, 5, 8, 4, 512, 512), (config.HiddenSize, config.IntermediateSize, config.NumHiddenLayers,
            config.NumAttentionHeads, config.NumKeyValueHeads, config.VocabSize, config.MaxPositionEmbeddings));
        Assert.True(config.TieWordEmbeddings);
        Assert.Equal(LlamaWeights.Expected(config).Select(e => e.Name).Order(), tensors.Select(t => t.Name).Order());
        Assert.Equal(config.ParameterCount(), tensors.Sum(t => t.Info.ElementCount));
    }

    [SkippableFact]
    public void Truncated_checkpoint_is_rejected_with_both_sizes()
    {
        var bytes = File.ReadAllBytes(SharedData.File("models/stories260K/stories260K.bin"));
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "cut.bin");
        File.WriteAllBytes(path, bytes[..^100]);
        var e = Assert.Throws<ModelFormatException>(() => Llama2cCheckpoint.Read(path));
        Assert.Contains($"{bytes.Length - 100} bytes", e.Message);
        Assert.Contains($"implies {bytes.Length} bytes", e.Message);
    }

    [Fact]
    public void Implausible_header_is_rejected_naming_the_field()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "bad.bin");
        File.WriteAllBytes(path, new byte[28 + 64]);
        var e = Assert.Throws<ModelFormatException>(() => Llama2cCheckpoint.Read(path));
        Assert.Contains("'dim'", e.Message);
    }
}
