// Fixtures for training tests: a small random Llama saved as a Hugging Face directory, a tokenized dataset written
// straight into FTSHARD1 shards with a manifest (a memorisation set and a held-out split), and a config over them.
using FineTune.Data.Tokenization;
using FineTune.Models;
using FineTune.Models.Checkpoints;
using FineTune.Torch;

namespace FineTune.Training.Tests;

static class TinyRun
{
    /// <summary>Every training method with SFT, DPO over full weights and LoRA, a LoRA reward model, LoRA KTO and
    /// GRPO, and PPO over LoRA and full weights: the (method, objective) pairs that tests of the loop's machinery run
    /// over. GRPO and PPO are rewarded by a length penalty, which needs no tokenizer.</summary>
    /// <summary>What the collection race runs (each case is slow under a collection loop): every method and recipe,
    /// less PPO over full weights and KTO, whose native calls are those of PPO over LoRA and of DPO.</summary>
    public static TheoryData<string, string> RacedMethods
    {
        get
        {
            var raced = new TheoryData<string, string>();
            foreach (var row in EveryMethod)
                if ((string)row[1] != "kto" && !((string)row[0] == "full" && (string)row[1] == "ppo"))
                    raced.Add((string)row[0], (string)row[1]);
            return raced;
        }
    }

    public static TheoryData<string, string> EveryMethod => new()
    {
        { "full", "sft" }, { "lora", "sft" }, { "dora", "sft" }, { "qlora", "sft" }, { "ia3", "sft" },
        { "prompt_tuning", "sft" }, { "prefix_tuning", "sft" }, { "lora", "dpo" }, { "full", "dpo" },
        { "lora", "reward_model" }, { "lora", "kto" }, { "lora", "grpo" }, { "lora", "ppo" }, { "full", "ppo" },
    };

    /// <summary>A run of this method that evaluates and checkpoints every 2 steps (keeping one), with this
    /// loop.</summary>
    public static TrainingConfig Busy(string dir, string method, string objective, LoopConfig loop) =>
        Config(Config(), dir, method, objective) with
        {
            Training = loop,
            Eval = new EvalConfig { EverySteps = 2 },
            Checkpoint = new CheckpointConfig { EverySteps = 2, KeepLast = 1 },
        };

    public static LlamaConfig Config(bool tied = false) => new()
    {
        ModelType = "llama", HiddenSize = 32, IntermediateSize = 64, NumHiddenLayers = 2, NumAttentionHeads = 4,
        NumKeyValueHeads = 2,
        VocabSize = 64, MaxPositionEmbeddings = 128, RmsNormEps = 1e-6, TieWordEmbeddings = tied,
    };

    public static string SaveBase(string root, LlamaConfig? config = null, int seed = 11)
    {
        config ??= Config();
        var dir = Path.Combine(root, "base");
        var tensors = LlamaWeights.Random(config, seed, std: 0.2f);
        var byName = tensors.ToDictionary(t => t.Name);
        HfCheckpoint.Save(dir, config, tensors.Select(t => t.Info).ToList(), info => byName[info.Name].Bytes);
        return dir;
    }

    /// <summary>Sequences i: a fixed pattern per example (learnable), the first 3 tokens as prompt (mask 0).</summary>
    public static TokenizedExample Sequence(int i, int length)
    {
        var ids = Enumerable.Range(0, length).Select(t => t == 0 ? 1 : 2 + (i * 7 + t * (i % 5 + 1)) % 60).ToArray();
        var mask = ids.Select((_, t) => (byte)(t >= 3 ? 1 : 0)).ToArray();
        return new TokenizedExample([new TokenizedSequence(ids, mask)], 0, false, false);
    }

    public static TokenizedExample Pair(int i)
    {
        int[] prompt = [1, 2 + i % 50, 3 + i % 40];
        int[] chosen = [.. prompt, 10, 11, 12, 13];
        int[] rejected = [.. prompt, 40 + i % 10, 41, 42];
        byte[] Mask(int[] s) => s.Select((_, t) => (byte)(t >= prompt.Length ? 1 : 0)).ToArray();
        return new TokenizedExample([new TokenizedSequence(chosen, Mask(chosen)),
            new TokenizedSequence(rejected, Mask(rejected))], prompt.Length, false, false);
    }

    /// <summary>A rated answer: even examples answer as Pair's chosen (desirable), odd ones as its rejected.</summary>
    public static TokenizedExample Feedback(int i)
    {
        var pair = Pair(i);
        bool desirable = i % 2 == 0;
        return new TokenizedExample([pair.Sequences[desirable ? 0 : 1]], pair.PromptLength, false, false)
        {
            Desirable = desirable,
        };
    }

    public static string WriteDataset(string root, int train = 24, int validation = 8, bool pairs = false,
        int vocab = 64, int minLength = 6, bool feedback = false)
    {
        var dir = Path.Combine(root, "data");
        IEnumerable<TokenizedExample> Examples(int count, int offset) => Enumerable.Range(offset, count)
            .Select(i => feedback ? Feedback(i) : pairs ? Pair(i) : Sequence(i, minLength + i % 7));
        TokenizedDatasetWriter.Write(dir, new Dictionary<string, IEnumerable<TokenizedExample>>
        {
            ["train"] = Examples(train, 0), ["validation"] = Examples(validation, 1000),
        }, vocab);
        return dir;
    }

    /// <summary>A run over a freshly written base of this shape and a dataset of its kind (pairs for DPO).</summary>
    public static TrainingConfig Config(LlamaConfig model, string root, string method, string objective,
        int minLength = 6)
    {
        var c = Config(root, SaveBase(root, model),
            WriteDataset(root, pairs: objective is "dpo" or "reward_model", minLength: minLength,
                feedback: objective == "kto"), method);
        return c with
        {
            Objective = ConfigNames.Parse<TrainingObjective>(objective),
            Grpo = new GrpoConfig { NumGenerations = 2, MaxNewTokens = 3, Beta = 0.05, Rewards = [LengthReward] },
            Ppo = new PpoConfig { MaxNewTokens = 3, PpoEpochs = 1, NumMiniBatches = 2, Rewards = [LengthReward] },
            Lora = c.Lora with { Dropout = 0.1 },
            Data = c.Data with { MaxLength = Math.Max(32, 2 * minLength + 12) },
            Training = c.Training with { Epochs = 3 },
            Eval = new EvalConfig { EverySteps = 2 },
        };
    }

    static readonly RewardSpec LengthReward = new() { Type = "length", Target = 1, Penalty = 0.5 };

    public static TrainingConfig Config(string root, string baseModel, string data, string method = "lora") => new()
    {
        BaseModel = baseModel,
        Data = new DataConfig { Path = data, Packing = true, MaxLength = 32 },
        Method = ConfigNames.Parse<TrainingMethod>(method),
        Lora = new LoraSettings(Rank: 4, Alpha: 8, TargetModules: ["all-linear"]),
        Prompt = new PromptSettings(NumVirtualTokens: 4),
        Optimizer = new OptimizerConfig { Lr = 1e-2 },
        Schedule = new ScheduleConfig { Type = ScheduleType.Cosine, WarmupSteps = 2 },
        Training = new LoopConfig
        {
            Epochs = 10, MicroBatchSize = 2, GradientAccumulationSteps = 1, Seed = 5,
            Threads = 1
        },
        Eval = new EvalConfig { EverySteps = 4 },
        Checkpoint = new CheckpointConfig { EverySteps = 4, KeepLast = 2 },
        OutputDir = Path.Combine(root, "out"),
    };
}
