// The training config file: defaults, --set overrides, and errors that name the key for unknown keys, wrong types and
// impossible values.
using System.Text.Json.Nodes;

namespace FineTune.Training.Tests;

public class ConfigTests
{
    static TrainingConfig Parse(string json, params string[] overrides) =>
        TrainingConfigLoader.Parse(JsonNode.Parse(json)!.AsObject(), "train.json", overrides);

    const string Minimal = """{ "base_model": "m", "data": { "path": "d" }, "output_dir": "o" }""";

    [Fact]
    public void A_minimal_file_gets_the_documented_defaults()
    {
        var c = Parse(Minimal);
        Assert.Equal(TrainingMethod.Lora, c.Method);
        Assert.Equal(TrainingObjective.Sft, c.Objective);
        Assert.Equal(16, c.Lora.Rank);
        Assert.Equal(["q_proj", "v_proj"], c.Lora.TargetModules);
        Assert.Equal(2e-4, c.Optimizer.Lr);
        Assert.Equal(ScheduleType.Cosine, c.Schedule.Type);
        Assert.True(c.Data.Packing);
        Assert.Equal("auto", c.Resume);
    }

    [Fact]
    public void Set_overrides_nested_keys_with_typed_values()
    {
        var c = Parse(Minimal, "lora.rank=16", "optimizer.lr=1e-3", "lora.target_modules=[\"all-linear\"]",
            "method=dora", "training.max_steps=7");
        Assert.Equal(16, c.Lora.Rank);
        Assert.Equal(1e-3, c.Optimizer.Lr);
        Assert.Equal(["all-linear"], c.Lora.TargetModules);
        Assert.Equal(TrainingMethod.Dora, c.Method);
        Assert.Equal(7, c.Training.MaxSteps);
    }

    [Theory]
    [InlineData("""{ "base_model": "m", "data": { "path": "d" }, "output_dir": "o", "lora": { "rnak": 8 } }""",
        "unknown key 'lora.rnak'", "rank")]
    [InlineData("""{ "base_model": "m", "data": { "path": "d" }, "output_dir": "o", "learning_rate": 1 }""",
        "unknown key 'learning_rate'", "optimizer")]
    [InlineData("""{ "base_model": "m", "data": { "path": "d" }, "output_dir": "o", "lora": { "rank": 0 } }""",
        "lora.rank", "positive")]
    [InlineData("""{ "base_model": "m", "data": { "path": "d" }, "output_dir": "o", "optimizer": { "lr": 0 } }""",
        "'optimizer.lr'", "positive")]
    [InlineData("""{ "base_model": "m", "data": { "path": "d" }, "output_dir": "o", "optimizer": { "lr": -1e-4 } }""",
        "'optimizer.lr'", "positive")]
    [InlineData("""{ "base_model": "m", "data": { "path": "d" }, "output_dir": "o", "lora": { "target_modules": ["qkv_proj"] } }""", "'qkv_proj' matches nothing", "lora.target_modules")]
    [InlineData("""{ "base_model": "m", "data": { "path": "d" }, "output_dir": "o", "lora": { "rank": "eight" } }""",
        "'lora.rank'", "wrong type")]
    [InlineData("""{ "base_model": "m", "data": { "path": "d" }, "output_dir": "o", "method": "adapters" }""",
        "'method'", "full, lora, dora, qlora, ia3")]
    [InlineData("""{ "base_model": "m", "data": { "path": "d" }, "output_dir": "o", "training": 3 }""",
        "'training' is a section", "micro_batch_size")]
    [InlineData("""{ "data": { "path": "d" }, "output_dir": "o" }""", "'base_model'", "required")]
    [InlineData("""{ "base_model": "m", "data": { "path": "d" }, "output_dir": "o", "method": "ia3", "ia3": { "feedforward_modules": ["up_proj"] } }""", "ia3.feedforward_modules", "subset")]
    [InlineData("""{ "base_model": "m", "data": { "path": "d" }, "output_dir": "o", "method": "prefix_tuning", "training": { "gradient_checkpointing": true } }""", "training.gradient_checkpointing", "prefix_tuning")]
    [InlineData("""{ "base_model": "m", "data": { "path": "d" }, "output_dir": "o", "eval": { "every_steps": 5, "per_epoch": 4 } }""", "eval.per_epoch", "every_steps")]
    [InlineData("""{ "base_model": "m", "data": { "path": "d" }, "output_dir": "o", "checkpoint": { "per_epoch": 0 } }""", "checkpoint.per_epoch", "positive")]
    [InlineData("""{ "base_model": "m", "data": { "path": "d" }, "output_dir": "o", "eval": { "max_examples": 0 } }""",
        "eval.max_examples", "positive")]
    public void Bad_configs_are_rejected_naming_the_key(string json, string expected, string hint)
    {
        var e = Assert.Throws<TrainingConfigException>(() => Parse(json));
        Assert.Contains(expected, e.Message);
        Assert.Contains(hint, e.Message);
        Assert.StartsWith("train.json: ", e.Message);
    }

    [Fact]
    public void A_malformed_override_says_what_it_expected()
    {
        var e = Assert.Throws<TrainingConfigException>(() => Parse(Minimal, "lora.rank"));
        Assert.Contains("key=value", e.Message);
    }

    [Fact]
    public void The_resolved_config_round_trips_through_json()
    {
        var c = Parse(Minimal, "lora.rank=4", "eval.early_stopping_patience=3");
        var again = TrainingConfigLoader.Parse(JsonNode.Parse(TrainingConfigLoader.ToJson(c))!.AsObject(), "resolved");
        Assert.Equal(TrainingConfigLoader.ToJson(c), TrainingConfigLoader.ToJson(again));
    }
}
