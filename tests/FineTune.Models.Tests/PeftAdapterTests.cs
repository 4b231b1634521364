// PEFT adapters: the file format (names, shapes, config keys), the merge math for LoRA, rsLoRA and DoRA, and errors.
using System.Text.Json.Nodes;
using FineTune.Models.Adapters;
using FineTune.Models.Checkpoints;

namespace FineTune.Models.Tests;

public class PeftAdapterTests
{
    const string Module = "model.layers.0.self_attn.q_proj";
    const int Out = 6, In = 8, R = 2;

    static float[] Random(int n, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
    }

    static PeftAdapter WriteAndLoad(TempDir dir, PeftConfig config, float[] a, float[] b, float[]? magnitude = null)
    {
        PeftAdapter.Save(dir.Path, config, new Dictionary<string,
            (float[], float[], float[]?)>
        { [Module] = (a, b, magnitude) },
            new Dictionary<string, (long, long)> { [Module] = (Out, In) });
        return PeftAdapter.Load(dir.Path);
    }

    static float[] MergedWeight(PeftAdapter adapter, float[] w) =>
        adapter.MergeInto(name => TensorData.FromFloat32(name, [Out, In], w), "test")(Module + ".weight").ToFloat32();

    [Theory]
    [InlineData(false, 4.0 / R)]
    [InlineData(true, 4.0 / 1.4142135623730951)]
    public void Merged_weight_applies_like_base_plus_scaled_low_rank_update(bool rslora, double scaling)
    {
        using var dir = new TempDir();
        float[] w = Random(Out * In, 1), a = Random(R * In, 2), b = Random(Out * R, 3), x = Random(In, 4);
        var adapter = WriteAndLoad(dir,
            new PeftConfig { R = R, LoraAlpha = 4, UseRslora = rslora, TargetModules = ["q_proj"] }, a, b);
        Assert.Equal(scaling, adapter.Config.Scaling, 12);
        var merged = MergedWeight(adapter, w);
        for (int o = 0; o < Out; o++)
        {
            double expected = 0, actual = 0;
            var ax = new double[R];
            for (int k = 0; k < R; k++)
                for (int i = 0; i < In; i++)
                    ax[k] += a[k * In + i] * x[i];
            for (int i = 0; i < In; i++)
            {
                expected += w[o * In + i] * x[i];
                actual += merged[o * In + i] * x[i];
            }
            for (int k = 0; k < R; k++)
                expected += scaling * b[o * R + k] * ax[k];
            Assert.Equal(expected, actual, 5);
        }
    }

    [Fact]
    public void Dora_rows_take_the_learned_magnitude()
    {
        using var dir = new TempDir();
        float[] w = Random(Out * In, 1), a = Random(R * In, 2), b = Random(Out * R, 3);
        var magnitude = Enumerable.Range(1, Out).Select(i => (float)i).ToArray();
        var adapter = WriteAndLoad(dir, new PeftConfig { R = R, LoraAlpha = 8, UseDora = true }, a, b, magnitude);
        var merged = MergedWeight(adapter, w);
        for (int o = 0; o < Out; o++)
            Assert.Equal(magnitude[o],
                Math.Sqrt(Enumerable.Range(0, In).Sum(i => (double)merged[o * In + i] * merged[o * In + i])), 4);
    }

    [Fact]
    public void Files_use_peft_names_shapes_and_config_keys()
    {
        using var dir = new TempDir();
        WriteAndLoad(dir,
            new PeftConfig { R = R, LoraAlpha = 16, TargetModules = ["q_proj", "v_proj"], UseDora = true },
            Random(R * In, 1), Random(Out * R, 2), Random(Out, 3));
        using var file = SafeTensorsFile.Open(Path.Combine(dir.Path, PeftAdapter.WeightsFile));
        Assert.Equal([R, In], file.Describe($"base_model.model.{Module}.lora_A.weight").Shape);
        Assert.Equal([Out, R], file.Describe($"base_model.model.{Module}.lora_B.weight").Shape);
        Assert.Equal([Out], file.Describe($"base_model.model.{Module}.lora_magnitude_vector").Shape);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.Path, PeftAdapter.ConfigFile)))!;
        foreach (var key in new[] { "peft_type", "r", "lora_alpha", "lora_dropout", "target_modules", "bias",
            "task_type", "base_model_name_or_path", "use_dora", "use_rslora" })
            Assert.True(config[key] is not null || key == "base_model_name_or_path",
                $"adapter_config.json lacks {key}");
        Assert.Equal("LORA", config["peft_type"]!.GetValue<string>());
    }

    [Fact]
    public void Prompt_tuning_adapters_are_refused_with_the_reason()
    {
        using var dir = new TempDir();
        File.WriteAllText(Path.Combine(dir.Path, PeftAdapter.ConfigFile),
            """{"peft_type": "PROMPT_TUNING", "num_virtual_tokens": 8}""");
        var e = Assert.Throws<ModelFormatException>(() => PeftAdapter.Load(dir.Path));
        Assert.Contains("PROMPT_TUNING", e.Message);
    }

    [Fact]
    public void An_adapter_for_a_module_the_model_lacks_is_named()
    {
        using var dir = new TempDir();
        var adapter = WriteAndLoad(dir, new PeftConfig { R = R, LoraAlpha = 4 }, Random(R * In, 1), Random(Out * R, 2));
        var e = Assert.Throws<ModelFormatException>(() =>
            adapter.MergeInto(name => throw new ModelFormatException($"tensor '{name}' not found"), "base-model"));
        Assert.Contains($"'{Module}'", e.Message);
    }
}
