// The module's state dict is named exactly like Hugging Face's, checkpoints round-trip through safetensors in every
// model dtype, shards load like a single file, and bad checkpoints fail with errors that name file and tensor.
using FineTune.Models;
using FineTune.Models.Checkpoints;

namespace FineTune.Torch.Tests;

[Trait("Kind", "manifest")]
public class CheckpointTests
{
    [Fact]
    public void State_dict_names_and_shapes_are_the_hugging_face_ones()
    {
        var config = TestModels.Tiny(bias: true, tied: false);
        using var model = new Llama(config);
        var actual = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.shape);
        var expected = LlamaWeights.Expected(config).ToDictionary(e => e.Name, e => e.Shape);
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, shape) in expected)
            Assert.Equal(shape, actual[name]);
    }

    [Fact]
    public void Tied_embeddings_have_no_lm_head()
    {
        using var model = new Llama(TestModels.Tiny(tied: true));
        Assert.DoesNotContain("lm_head.weight", model.state_dict().Keys);
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    public void Saved_checkpoint_loads_back_with_identical_logits(DType dtype)
    {
        var config = TestModels.Tiny() with { TorchDtype = dtype.TorchName() };
        var tensors = LlamaWeights.Random(config, seed: 3, std: 0.2f);
        var scalar = LlamaCheckpoints.ModelDtype(config);
        using var original = new TorchLlamaEngine(LlamaCheckpoints.Load(config, tensors, scalar));
        using var dir = new TempDir();
        LlamaCheckpoints.Save(original.Model, dir.Path, dtype);

        using var checkpoint = HfCheckpoint.Open(dir.Path);
        Assert.Equal(config.TorchDtype, checkpoint.Config.TorchDtype);
        Assert.All(checkpoint.Tensors, t => Assert.Equal(dtype, t.DType));
        using var reloaded = new TorchLlamaEngine(LlamaCheckpoints.Load(checkpoint));
        int[] tokens = [1, 2, 3, 4];
        Assert.Equal(original.Forward(tokens)[^1], reloaded.Forward(tokens)[^1]);
    }

    [Fact]
    public void Sharded_checkpoint_loads_like_the_single_file()
    {
        var config = TestModels.Tiny();
        using var engine = TestModels.Engine(config);
        using var single = new TempDir();
        using var sharded = new TempDir();
        LlamaCheckpoints.Save(engine.Model, single.Path);
        LlamaCheckpoints.Save(engine.Model, sharded.Path, maxShardBytes: 20_000);

        Assert.True(File.Exists(Path.Combine(sharded.Path, HfCheckpoint.IndexFile)));
        Assert.True(Directory.GetFiles(sharded.Path, "model-*-of-*.safetensors").Length > 1);
        using var a = new TorchLlamaEngine(LlamaCheckpoints.Load(HfCheckpoint.Open(single.Path)));
        using var b = new TorchLlamaEngine(LlamaCheckpoints.Load(HfCheckpoint.Open(sharded.Path)));
        int[] tokens = [5, 6, 7];
        Assert.Equal(a.Forward(tokens)[^1], b.Forward(tokens)[^1]);
    }

    [Fact]
    public void Missing_tensor_is_named()
    {
        var config = TestModels.Tiny();
        var tensors = LlamaWeights.Random(config, 1).Where(t => t.Name != "model.layers.1.mlp.up_proj.weight").ToList();
        var e = Assert.Throws<ModelFormatException>(() => LlamaCheckpoints.Load(config, tensors));
        Assert.Contains("model.layers.1.mlp.up_proj.weight", e.Message);
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void Wrong_shape_names_both_shapes()
    {
        var config = TestModels.Tiny();
        var tensors = LlamaWeights.Random(config, 1)
            .Select(t => t.Name == "model.norm.weight" ? TensorData.FromFloat32(t.Name, [31],
                new float[31]) : t).ToList();
        var e = Assert.Throws<ModelFormatException>(() => LlamaCheckpoints.Load(config, tensors));
        Assert.Contains("model.norm.weight", e.Message);
        Assert.Contains("[31]", e.Message);
        Assert.Contains("[32]", e.Message);
    }

    [Fact]
    public async Task Prompt_longer_than_the_context_is_rejected_clearly()
    {
        using var engine = TestModels.Engine(TestModels.Tiny());
        var prompt = Enumerable.Repeat(1, 65).ToArray();
        var e = await Assert.ThrowsAsync<ArgumentException>(() =>
            new FineTune.Models.Generation.Generator(engine).GenerateAsync([prompt], new() { MaxNewTokens = 4 }));
        Assert.Contains("longer than the model context of 64", e.Message);
    }
}
