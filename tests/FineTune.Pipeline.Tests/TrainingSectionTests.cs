// Issue 17: the settings' training section is checked with the rest of the settings when they load, by the training
// config's own rules, so a bad value is refused naming its key before ingestion or tokenization spend any time.
namespace FineTune.Pipeline.Tests;

public class TrainingSectionTests
{
    [Theory]
    [InlineData("""{ "training": { "method": "lora", "lora": { "rank": 0 } } }""", "training.lora.rank must be a positive integer")]
    [InlineData("""{ "training": { "method": "lora", "lora": { "rnak": 8 } } }""", "unknown key 'training.lora.rnak'")]
    [InlineData("""{ "training": { "method": "lorra" } }""", "key 'training.method' must be one of full, lora")]
    [InlineData("""{ "training": { "optimizer": { "lr": -1 } } }""", "key 'training.optimizer.lr' must be positive")]
    [InlineData("""{ "training": { "training": { "epochs": "three" } } }""", "key 'training.training.epochs' has a value of the wrong type")]
    public void A_bad_training_value_is_refused_at_load_naming_the_key(string json, string expected)
    {
        var e = Assert.Throws<InvalidPipelineSettingsException>(() => PipelineSettings.Parse(json, "pipeline.json"));
        Assert.StartsWith("pipeline.json: ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void The_default_training_section_and_a_valid_one_load_as_typed_configs()
    {
        var defaults = new PipelineSettings().TrainingConfig();
        Assert.Equal(("lora", 16, 3), (defaults.Method, defaults.Lora.Rank, defaults.Training.Epochs));
        var custom = PipelineSettings.Parse("""{ "training": { "method": "ia3", "training": { "epochs": 1 } } }""", "p").TrainingConfig();
        Assert.Equal(("ia3", 1), (custom.Method, custom.Training.Epochs));
    }

    [Fact]
    public void A_settings_file_with_a_bad_training_value_is_refused_by_load()
    {
        using var tmp = new TempDir();
        var path = Path.Combine(tmp.Path, "pipeline.json");
        File.WriteAllText(path, """{ "training": { "lora": { "rank": 0 } } }""");
        var e = Assert.Throws<InvalidPipelineSettingsException>(() => PipelineSettings.Load(path));
        Assert.Contains($"{path}: training.lora.rank", e.Message);
    }
}
