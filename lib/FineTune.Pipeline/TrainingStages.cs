// training.stages: one run trains several recipes in turn — SFT, then GRPO starting from the SFT model. Each entry is
// laid over the rest of the training section key by key (as the section is laid over the defaults), so a stage says
// only what differs. Without stages the section is the run's one stage. Every stage reads the run's one tokenized
// dataset, so their recipes must read the same kind of data, and each ends in a model that answers (a reward model
// is trained with `finetune train`, then named by a grpo or ppo reward).
using System.Text.Json.Nodes;
using FineTune.Data.Tokenization;
using FineTune.Training;
using FineTune.Training.Recipes;

namespace FineTune.Pipeline;

public static class TrainingStages
{
    public const string Key = "stages";
    public const int Max = 4;

    /// <summary>The training section of each stage, in order (one when the section has no stages).</summary>
    public static IReadOnlyList<JsonObject> Split(JsonObject section, string source)
    {
        if (!section.ContainsKey(Key))
            return [section];
        if (section[Key] is not JsonArray { Count: >= 1 and <= Max } list || list.Any(s => s is not JsonObject))
            throw new TrainingConfigException($"{source}: 'training.{Key}' must be a list of 1 to {Max} objects, " +
                "each the training keys that differ in that stage (e.g. [{\"objective\": \"sft\"}, " +
                "{\"objective\": \"grpo\", \"grpo\": {…}}]).");
        var common = (JsonObject)section.DeepClone();
        common.Remove(Key);
        var stages = new List<JsonObject>();
        for (int i = 0; i < list.Count; i++)
        {
            var stage = (JsonObject)list[i]!;
            if (stage.ContainsKey(Key))
                throw new TrainingConfigException($"{source}: 'training.{Key}[{i}].{Key}': stages do not nest.");
            stages.Add(TrainingSections.Merge(common, stage));
        }
        return stages;
    }

    /// <summary>The key prefix errors in stage <paramref name="index"/> are named with.</summary>
    public static string KeyPrefix(JsonObject section, int index) =>
        section.ContainsKey(Key) ? $"training.{Key}[{index}]." : "training.";

    /// <summary>Each stage as a checked training config: its own rules, then those between stages.</summary>
    public static IReadOnlyList<TrainingConfig> Check(JsonObject section, string source)
    {
        var stages = Split(section, source);
        if (section.ContainsKey(Key))
        {
            // Keys outside the stages, checked on their own first, are named where the file has them.
            var common = (JsonObject)section.DeepClone();
            common.Remove(Key);
            TrainingConfigLoader.ParseSection(common, source, "training.");
        }
        var configs = stages.Select((s, i) => TrainingConfigLoader.ParseSection(s, source, KeyPrefix(section, i)))
            .ToList();
        var firstKind = TrainingRecipes.DataKindOf(configs[0].Objective);
        for (int i = 0; i < configs.Count; i++)
        {
            var name = ConfigNames.Of(configs[i].Objective);
            var kind = TrainingRecipes.DataKindOf(configs[i].Objective);
            if (configs[i].Objective == TrainingObjective.RewardModel)
                throw new TrainingConfigException($"{source}: '{KeyPrefix(section, i)}objective' is {name}: a run " +
                    "ends in a model that answers, which is evaluated and served. Train a reward model with " +
                    "`finetune train` and name it in a grpo or ppo reward ({\"type\": \"reward_model\", " +
                    "\"model\": …}).");
            if (kind != firstKind)
                throw new TrainingConfigException($"{source}: '{KeyPrefix(section, i)}objective' is {name}, which " +
                    $"reads {Describe(kind)}, but stage 0 ({ConfigNames.Of(configs[0].Objective)}) reads " +
                    $"{Describe(firstKind)}: the stages of a run train on its one dataset.");
        }
        return configs;
    }

    static string Describe(ShardKind kind) => kind switch
    {
        ShardKind.Pairs => "preference pairs",
        ShardKind.Feedback => "rated answers",
        _ => "chat or text examples",
    };
}
