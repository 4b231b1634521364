// Issue 17: the settings' training section is checked with the rest of the settings when they load, by the training
// config's own rules, so a bad value is refused naming its key before ingestion or tokenization spend any time.
using FineTune.Training;

namespace FineTune.Pipeline.Tests;

public class TrainingSectionTests
{
    [Theory]
    [InlineData("""{ "training": { "method": "lora", "lora": { "rank": 0 } } }""",
        "training.lora.rank must be a positive integer")]
    [InlineData("""{ "training": { "method": "lora", "lora": { "rnak": 8 } } }""", "unknown key 'training.lora.rnak'")]
    [InlineData("""{ "training": { "method": "lorra" } }""", "key 'training.method' must be one of full, lora")]
    [InlineData("""{ "training": { "optimizer": { "lr": -1 } } }""", "key 'training.optimizer.lr' must be positive")]
    [InlineData("""{ "training": { "training": { "epochs": "three" } } }""",
        "key 'training.training.epochs' has a value of the wrong type")]
    public void A_bad_training_value_is_refused_at_load_naming_the_key(string json, string expected)
    {
        var e = Assert.Throws<InvalidPipelineSettingsException>(() => PipelineSettings.Parse(json, "pipeline.json"));
        Assert.StartsWith("pipeline.json: ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Bleu_and_chrf_are_evaluation_suites_and_an_unknown_suite_is_named()
    {
        var settings = PipelineSettings.Parse("""{ "evaluation": { "suites": ["task", "bleu", "chrf"] } }""", "p");
        Assert.Equal(["task", "bleu", "chrf"], settings.Evaluation.Suites);
        var e = Assert.Throws<InvalidPipelineSettingsException>(() =>
            PipelineSettings.Parse("""{ "evaluation": { "suites": ["blue"] } }""", "pipeline.json"));
        Assert.Contains("'evaluation.suites' is blue; expected mmlu, gsm8k, gsm8k_cot, rouge, bleu, chrf, task, " +
            "judge, perplexity", e.Message);
    }

    [Theory]
    [InlineData("""{ "evaluation": { "suites": ["mmlu"] } }""",
        "suite mmlu needs 'evaluation.mmlu.set', the name of an MMLU evaluation set (finetune evalsets add")]
    [InlineData("""{ "evaluation": { "suites": ["gsm8k_cot"], "mmlu": { "set": "mmlu" } } }""",
        "suite gsm8k_cot needs 'evaluation.gsm8k.set'")]
    [InlineData("""{ "evaluation": { "suites": ["mmlu"], "mmlu": { "set": "mmlu", "shots": 6 } } }""",
        "'evaluation.mmlu' needs shots 0–5 and sample ≥ 1 (shots 6, sample 200)")]
    [InlineData("""{ "evaluation": { "suites": ["gsm8k"], "gsm8k": { "set": "../gsm8k" } } }""",
        "'evaluation.gsm8k.set' is ../gsm8k")]
    [InlineData("""{ "evaluation": { "suites": ["task", "task"] } }""", "names a suite twice")]
    [InlineData("""{ "evaluation": { "mmlu": { "set": "m", "sampel": 5 } } }""", "sampel")]
    public void Benchmark_suites_need_their_evaluation_sets_named(string json, string expected)
    {
        var e = Assert.Throws<InvalidPipelineSettingsException>(() => PipelineSettings.Parse(json, "pipeline.json"));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void A_gate_on_every_suite_parses_with_its_sets()
    {
        var settings = PipelineSettings.Parse("""
            {
              "evaluation": {
                "suites": ["task", "mmlu", "gsm8k", "judge"],
                "mmlu": { "set": "mmlu", "version": 2, "shots": 5, "sample": 100, "seed": 1 },
                "gsm8k": { "set": "gsm8k", "limit": 20 },
                "judge": { "rubric": "support-rubric", "pairwise": true }
              },
              "gate": [
                { "metric": "task/category_accuracy", "kind": "improve", "threshold": 0.02 },
                { "metric": "mmlu/acc", "kind": "no_regression", "threshold": 0.02 },
                { "metric": "gsm8k/exact_match,strict-match", "kind": "no_regression", "threshold": 0.05 },
                { "metric": "judge/win_rate", "kind": "at_least", "threshold": 0.4 }
              ]
            }
            """, "pipeline.json");
        Assert.Equal((2, 100, 1), (settings.Evaluation.Mmlu!.Version, settings.Evaluation.Mmlu.Sample,
            settings.Evaluation.Mmlu.Seed));
        Assert.Equal((20, 256), (settings.Evaluation.Gsm8k!.Limit, settings.Evaluation.Gsm8k.MaxNewTokens));
        Assert.Equal("support-rubric", settings.Evaluation.Judge!.Rubric);
        Assert.Equal(4, settings.Gate.Count);
    }

    [Fact]
    public void The_default_training_section_and_a_valid_one_load_as_typed_configs()
    {
        var defaults = new PipelineSettings().TrainingConfig();
        Assert.Equal((TrainingMethod.Lora, 16, 3), (defaults.Method, defaults.Lora.Rank, defaults.Training.Epochs));
        var custom = PipelineSettings.Parse("""{ "training": { "method": "ia3", "training": { "epochs": 1 } } }""",
            "p").TrainingConfig();
        Assert.Equal((TrainingMethod.Ia3, 1), (custom.Method, custom.Training.Epochs));
    }

    [Theory]
    [InlineData("""{ "tokenize": { "truncation": "middle" } }""",
        "'tokenize.truncation' is \"middle\"; expected right, left, drop")]
    [InlineData("""{ "retraining": { "start_from": "latest" } }""",
        "'retraining.start_from' is \"latest\"; expected base, production")]
    [InlineData("""{ "retraining": { "data": 1 } }""", "'retraining.data' is 1; expected cumulative, incremental")]
    [InlineData("""{ "training": { "schedule": { "type": "cosin" } } }""",
        "key 'training.schedule.type' must be one of cosine, linear, constant, got 'cosin'")]
    [InlineData("""{ "training": { "objective": "orpo" } }""",
        "key 'training.objective' must be one of sft, dpo, reward_model, kto, grpo, ppo, got 'orpo'")]
    public void A_choice_outside_its_set_is_refused_naming_the_key_and_the_choices(string json, string expected)
    {
        var e = Assert.Throws<InvalidPipelineSettingsException>(() => PipelineSettings.Parse(json, "pipeline.json"));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void A_partial_training_section_keeps_the_other_defaults_and_one_rank_default_serves_both()
    {
        var partial =
            PipelineSettings.Parse("""{ "training": { "optimizer": { "lr": 0.001 }, "lora": { "rank": 4 } } }""",
            "p").TrainingConfig();
        var defaults = new PipelineSettings().TrainingConfig();
        Assert.Equal(0.001, partial.Optimizer.Lr);
        Assert.Equal(4, partial.Lora.Rank);
        // What the file did not say stays the pipeline's: all-linear targets, three epochs, evaluations per epoch.
        Assert.Equal(defaults.Lora.TargetModules, partial.Lora.TargetModules);
        Assert.Equal(["all-linear"], partial.Lora.TargetModules);
        Assert.Equal((3, 2, 256), (partial.Training.Epochs, partial.Eval.PerEpoch, partial.Eval.MaxExamples));
        // A rank nobody sets is the training config's, in the pipeline as in `finetune train`.
        Assert.Equal(new TrainingConfig().Lora.Rank, defaults.Lora.Rank);
        Assert.Equal(new TrainingConfig().Lora.Alpha, defaults.Lora.Alpha);
    }

    [Fact]
    public void Giving_every_steps_replaces_the_default_per_epoch_instead_of_conflicting_with_it()
    {
        var c =
            PipelineSettings.Parse("""{ "training": { "eval": { "every_steps": 10 }, "checkpoint": { "every_steps": 5 } } }""", "p")
            .TrainingConfig();
        Assert.Equal((10, null, 5, null), (c.Eval.EverySteps, c.Eval.PerEpoch, c.Checkpoint.EverySteps,
            c.Checkpoint.PerEpoch));
        Assert.Equal(256, c.Eval.MaxExamples);
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
