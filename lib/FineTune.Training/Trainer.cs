// The training loop: one recipe (SFT, DPO, a reward model; see Recipes/) over a tokenized dataset with any method
// (full, LoRA, DoRA, QLoRA, IA³, prompt or prefix tuning). Per optimizer step: the step's micro-batches (gradient
// accumulation, the loss normalised by the step's units), global-norm clipping, AdamW at the scheduled rate;
// validation every N steps with early stopping and the best weights kept; atomic checkpoints that a restarted run
// continues from bit for bit.
// Usage: using var t = Trainer.Create(config); var report = t.Train(progress, ct). One run per process at a time: a run
// sets libtorch's process-wide thread count and owns its global generator (dropout), whose state checkpoints carry.
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using FineTune.Data.Tokenization;
using FineTune.Models;
using FineTune.Models.Checkpoints;
using FineTune.Torch;
using FineTune.Training.Recipes;

namespace FineTune.Training;

public sealed class Trainer : IDisposable
{
    static readonly string[] TokenizerFiles =
        ["tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
            "generation_config.json", "vocab.json", "merges.txt"];

    readonly TrainingConfig _config;
    readonly string _configJson;
    readonly Llama _model;
    readonly ITrainingRecipe _recipe;
    readonly AdamWOptimizer _optimizer;
    readonly TokenizedSplit _train;
    readonly TokenizedSplit? _validation;
    readonly TokenizedManifest _manifest;
    readonly BatchPlan[] _plans;             // one per epoch, rebuilt identically on resume
    readonly int _rowLength, _totalSteps;
    readonly int _evalEvery, _checkpointEvery;  // steps; 0 = only at the end
    readonly LearningRateSchedule _schedule;
    readonly TrainingTelemetry _telemetry;
    readonly string _runId;
    TrainerState _state;
    readonly List<StepMetrics> _history;
    readonly List<EvalMetrics> _evals;
    readonly string? _resumedFrom;
    readonly TrainingSamples? _samples;

    public Llama Model => _model;
    /// <summary>DPO and KTO with full fine-tuning: the frozen copy of the base the policy is compared with; otherwise
    /// null.</summary>
    public Llama? ReferenceModel => _recipe switch
    {
        DpoRecipe dpo => dpo.Reference,
        KtoRecipe kto => kto.Reference,
        GrpoRecipe grpo => grpo.Reference,
        PpoRecipe ppo => ppo.Reference,
        _ => null,
    };
    public int TotalSteps => _totalSteps;
    /// <summary>Trainable parameters the recipe adds beside the model's (PPO's value head).</summary>
    public IEnumerable<(string Name, Parameter Parameter)> RecipeParameters => _recipe.ExtraParameters;
    public TrainerState State => _state;

    Trainer(TrainingConfig config, Llama model, ITrainingRecipe recipe, TokenizedManifest manifest,
        TokenizedSplit train,
        TokenizedSplit? validation,
        string runId, System.Diagnostics.Metrics.IMeterFactory? meters)
    {
        _config = config;
        _configJson = TrainingConfigLoader.ToJson(config);
        _model = model;
        _recipe = recipe;
        _manifest = manifest;
        _train = train;
        _validation = validation;
        _runId = runId;
        _samples = TrainingSamples.Create(config, model, validation);
        var trainable = model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => (p.name,
            p.parameter)).Concat(recipe.ExtraParameters);
        _optimizer = new AdamWOptimizer(trainable, config.Optimizer.WeightDecay, config.Optimizer.Beta1,
            config.Optimizer.Beta2, config.Optimizer.Eps);
        _rowLength = RowLength(config, train, validation);
        bool packing = config.Data.Packing && recipe.Batching == Batching.Packed;
        _plans = Enumerable.Range(0, config.Training.Epochs)
            .Select(e => BatchPlan.Create(train.Lengths, config.Training.MicroBatchSize, _rowLength, packing,
                config.Training.Seed, e, bucketing: recipe.Batching != Batching.Shuffled)).ToArray();
        int accumulation = config.Training.GradientAccumulationSteps;
        int all = _plans.Sum(p => p.Steps(accumulation));
        _totalSteps = Math.Min(all, config.Training.MaxSteps ?? int.MaxValue);
        int perEpoch = _plans[0].Steps(accumulation);
        _evalEvery = StepInterval.Resolve(config.Eval.EverySteps, config.Eval.PerEpoch, perEpoch,
            EvalConfig.DefaultEverySteps);
        _checkpointEvery = StepInterval.Resolve(config.Checkpoint.EverySteps, config.Checkpoint.PerEpoch, perEpoch,
            CheckpointConfig.DefaultEverySteps);
        _schedule = LearningRateSchedule.From(config, _totalSteps);
        _telemetry = new TrainingTelemetry(runId, ConfigNames.Of(config.Method), meters);
        _history = [];
        _evals = [];
        _state = new TrainerState
        {
            Step = 0, Epoch = 0, StepInEpoch = 0, TokensSeen = 0, Seconds = 0, RngState = "", History = [], Evals = [],
            ConfigJson = _configJson,
        };

        foreach (var name in new[] { "best", "adapter", "model" })
            TrainingCheckpoints.RecoverInterruptedSwap(Path.Combine(config.OutputDir, name));
        var checkpoint = FindResumePoint(config);
        if (checkpoint is not null)
        {
            var state = TrainingCheckpoints.ReadState(checkpoint);
            CheckSameRun(state.ConfigJson, checkpoint);
            using (NewDisposeScope())   // the copies' temporaries live until libtorch is done with them
            {
                TrainingCheckpoints.RestoreWeights(model, checkpoint);
                recipe.LoadState(checkpoint);
                _optimizer.Load(Path.Combine(checkpoint, TrainingCheckpoints.OptimizerFile), state.Step);
                set_rng_state(tensor(Convert.FromBase64String(state.RngState), dtype: ScalarType.Byte));
            }
            _state = state;
            _history.AddRange(state.History);
            _evals.AddRange(state.Evals);
            _resumedFrom = checkpoint;
        }
        else if (config.Resume == "never"
            && System.IO.Directory.Exists(TrainingCheckpoints.Directory(config.OutputDir)))
        {
            // a fresh run replaces the old one's checkpoints
            System.IO.Directory.Delete(TrainingCheckpoints.Directory(config.OutputDir), recursive: true);
        }
    }

    /// <summary>Setup: loads the base with the configured method, the data, the optimizer; resumes when a checkpoint
    /// applies.</summary>
    /// <param name="rewardFunctions">GRPO: reward functions written in C#, named in grpo.rewards as {"type":
    /// "custom", "name": …}</param>
    public static Trainer Create(TrainingConfig config, string? runId = null,
        System.Diagnostics.Metrics.IMeterFactory? meters = null,
        IEnumerable<Rewards.IRewardFunction>? rewardFunctions = null)
    {
        set_num_threads(config.Training.Threads ?? Environment.ProcessorCount);
        // reuse the step's large buffers instead of faulting them in again (see NativeHeap)
        NativeHeap.KeepFreedMemory();
        manual_seed(config.Training.Seed);
        var manifestDir = config.Data.Path;
        if (!File.Exists(Path.Combine(manifestDir, TokenizedManifest.FileName)))
            throw new FileNotFoundException($"data.path '{manifestDir}' has no {TokenizedManifest.FileName} " +
                $"(expected a tokenized dataset from `finetune data tokenize`).");
        var manifest = TokenizedManifest.Read(manifestDir);
        var train = TokenizedSplit.Open(manifestDir, manifest, "train")
            ?? throw new InvalidDataException($"data.path '{manifestDir}' has no train split.");
        var validation = TokenizedSplit.Open(manifestDir, manifest, "validation");
        if (train.Count == 0)
            throw new InvalidDataException($"the train split of '{manifestDir}' is empty.");
        if (config.Objective == TrainingObjective.Sft && train.TrainedTokens.All(t => t == 0))
            throw new InvalidDataException($"the train split of '{manifestDir}' trains no token (prompts alone?): " +
                "prompts are answered by objective grpo or ppo; sft needs answers to learn from.");

        var adapter = TrainingConfigLoader.Adapter(config);
        var model = TrainingRecipes.LoadModel(config, adapter);
        int context = model.Config.MaxPositionEmbeddings;
        foreach (var split in new[] { train, validation })
            if (split is { Count: > 0 } && split.Lengths.Max() is var longest && longest > context)
            {
                model.Dispose();
                throw new InvalidDataException($"a {split.Name} example of '{manifestDir}' has {longest} tokens, " +
                    $"more than the model's context of " +
                    $"{context} (max_position_embeddings): tokenize with --max-length {context} (the pipeline's " +
                        $"tokenize.max_length) or less.");
            }
        if (manifest.VocabSize > model.Config.VocabSize)
            throw new InvalidDataException($"the dataset was tokenized with a vocabulary of {manifest.VocabSize}, " +
                $"the model has {model.Config.VocabSize} (tokenized for another model?).");
        model.GradientCheckpointing = config.Training.GradientCheckpointing;
        if (UseBf16(config.Training.Bf16))
            model.ComputeDtype = ScalarType.BFloat16;
        ITrainingRecipe recipe;
        try
        {
            recipe = TrainingRecipes.Create(config, model, rewardFunctions);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        if (train.Kind != recipe.DataKind)
        {
            recipe.Dispose();
            model.Dispose();
            throw new InvalidDataException($"objective '{ConfigNames.Of(config.Objective)}' needs " +
                $"{recipe.DataKind switch
                {
                    ShardKind.Pairs => "preference pairs",
                    ShardKind.Feedback => "rated answers (feedback records)",
                    _ => "sequences (chat or text)",
                }}, but " +
                $"'{manifestDir}' holds {train.Kind}.");
        }
        return new Trainer(config, model, recipe, manifest, train, validation,
            runId ?? Guid.NewGuid().ToString("n"), meters);
    }

    public static Llama LoadBase(string path, PeftSettings? adapter) =>
        CheckBase(path, () => LlamaCheckpoints.Load(path, ScalarType.Float32, adapter));   // float32 master weights

    internal static Llama CheckBase(string path, Func<Llama> load) =>
        File.Exists(path) || HfCheckpoint.IsCheckpointDirectory(path)
            ? load()
            : throw new FileNotFoundException($"base_model '{path}' not found: expected a Hugging Face model " +
                $"directory (config.json + *.safetensors) or a llama2.c .bin file.");

    /// <summary>bf16 autocast: "auto" takes it where the CPU multiplies bfloat16 natively (AVX-512 BF16 or
    /// AMX).</summary>
    public static bool UseBf16(string setting) => setting switch
    {
        "true" => true,
        "auto" => CpuHasBf16(),
        _ => false,
    };

    static bool CpuHasBf16()
    {
        try
        {
            var flags = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags",
                StringComparison.Ordinal)) ?? "";
            return flags.Split(' ').Any(f => f is "avx512_bf16" or "amx_bf16");
        }
        catch (IOException)
        {
            return false;
        }
    }

    static int RowLength(TrainingConfig config, TokenizedSplit train, TokenizedSplit? validation)
    {
        int longest = Math.Max(train.Lengths.Max(), validation is { Count: > 0 } v ? v.Lengths.Max() : 0);
        if (config.Data.MaxLength is not { } max)
            return longest;
        foreach (var split in new[] { train, validation })
            if (split is not null)
                for (int i = 0; i < split.Count; i++)
                    if (split.Lengths[i] > max)
                        throw new InvalidDataException($"{split.Name} example {i} has {split.Lengths[i]} tokens, " +
                            $"more than data.max_length {max} (truncate when tokenizing: finetune data tokenize " +
                            $"--max-length {max}).");
        return max;
    }

    string? FindResumePoint(TrainingConfig config)
    {
        if (config.Resume == "never")
            return null;
        if (config.Resume != "auto")
        {
            if (!File.Exists(Path.Combine(config.Resume, TrainingCheckpoints.StateFile)))
                throw new FileNotFoundException($"resume '{config.Resume}' is not a checkpoint directory (no " +
                    $"{TrainingCheckpoints.StateFile}).");
            return config.Resume;
        }
        var all = TrainingCheckpoints.List(config.OutputDir);
        return all.Count == 0 ? null : all[^1].Path;
    }

    // A checkpoint continues only the run that wrote it: everything but where it goes and how long it runs must match.
    void CheckSameRun(string storedJson, string checkpoint)
    {
        string[] free = ["output_dir", "resume", "training.max_steps", "training.log_every_steps", "eval.every_steps",
            "eval.per_epoch",
                         "eval.max_batches", "eval.max_examples", "eval.early_stopping_patience", "eval.min_delta",
                             "checkpoint.every_steps",
                         "checkpoint.per_epoch", "checkpoint.keep_last"];
        var stored = JsonNode.Parse(storedJson)!.AsObject();
        var current = JsonNode.Parse(_configJson)!.AsObject();
        foreach (var key in Keys(stored, "").Union(Keys(current, "")).Where(k => !free.Contains(k)))
            if (Lookup(stored, key) != Lookup(current, key))
                throw new TrainingConfigException($"{checkpoint} was written by a run with a different config: " +
                    $"'{key}' was {Lookup(stored, key) ?? "absent"}, now {Lookup(current, key) ?? "absent"}. " +
                                                    "Use another output_dir, set resume: never to start over, or " +
                                                        "restore the setting.");
    }

    static IEnumerable<string> Keys(JsonObject o, string prefix) =>
        o.SelectMany(kv => kv.Value is JsonObject child ? Keys(child, prefix + kv.Key + ".") : [prefix + kv.Key]);

    static string? Lookup(JsonObject o, string key)
    {
        JsonNode? node = o;
        foreach (var part in key.Split('.'))
            node = node?[part];
        return node?.ToJsonString();
    }

    /// <summary>Runs the loop to the end (or early stop, or cancellation, which writes a checkpoint first).</summary>
    public TrainingReport Train(IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        System.IO.Directory.CreateDirectory(_config.OutputDir);
        File.WriteAllText(Path.Combine(_config.OutputDir, "config.json"), _configJson);
        RewriteMetricsFile();
        if (_resumedFrom is not null)
            progress?.Report(new TrainingProgress(_state.Step, _totalSteps, null, null,
                $"resumed from {_resumedFrom} at step {_state.Step}"));
        var clock = Stopwatch.StartNew();
        double secondsBefore = _state.Seconds;
        string stopReason = _state.Step >= _totalSteps ? "completed" : "";
        int accumulation = _config.Training.GradientAccumulationSteps;
        int epoch = _state.Epoch, stepInEpoch = _state.StepInEpoch, step = _state.Step, startStep = _state.Step;
        long tokensSeen = _state.TokensSeen;
        if (step == 0 && _evals.Count == 0 && _config.Eval.OnStart && _validation is { Count: > 0 })
            EvaluateAndKeepBest(0, progress, clock.Elapsed);
        while (stopReason == "" && step < _totalSteps)
        {
            if (stepInEpoch >= _plans[epoch].Steps(accumulation))
            {
                epoch++;
                stepInEpoch = 0;
                continue;
            }
            var stepClock = Stopwatch.StartNew();
            var micro = _plans[epoch].MicroBatchesOfStep(stepInEpoch, accumulation).ToList();
            double lr = _schedule.At(step);
            var updater = new StepUpdater(() =>
            {
                // clipping's coefficient goes into the step: the gradients are read once more, not twice
                double norm = _optimizer.GradNorm();
                _optimizer.Update(lr, AdamWOptimizer.ClipCoefficient(norm, _config.Optimizer.MaxGradNorm is > 0 and
                    var max ? max : double.PositiveInfinity));
                _optimizer.ZeroGrad();
                return norm;
            });
            var result = ForwardBackward(micro, step, updater);
            double gradNorm = updater.Updates > 0 ? updater.LastGradNorm : updater.Update();
            step++;
            stepInEpoch++;
            tokensSeen += result.Tokens;
            var metrics = new StepMetrics
            {
                Step = step, Epoch = epoch + (double)stepInEpoch / _plans[epoch].Steps(accumulation),
                TrainLoss = result.Loss, TokenAccuracy = result.Accuracy,
                LearningRate = lr, GradNorm = gradNorm, Tokens = result.Tokens,
                TokensPerSecond = result.Tokens / stepClock.Elapsed.TotalSeconds,
                PeakMemoryBytes = PeakMemory(), RewardChosen = result.RewardChosen,
                RewardRejected = result.RewardRejected, RewardMargin = result.RewardChosen - result.RewardRejected,
                Rollout = result.Rollout,
            };
            _history.Add(metrics);
            _telemetry.Record(metrics);
            AppendMetrics(metrics);
            if (step % _config.Training.LogEverySteps == 0 || step == _totalSteps)
                progress?.Report(new TrainingProgress(step, _totalSteps, metrics, null, null)
                {
                    Elapsed = clock.Elapsed, Remaining = clock.Elapsed / (step - startStep) * (_totalSteps - step),
                });

            bool last = step == _totalSteps;
            if (_validation is { Count: > 0 } && (last || _evalEvery > 0 && step % _evalEvery == 0)
                && EvaluateAndKeepBest(step, progress, clock.Elapsed))
                stopReason = "early_stopped";
            if (cancellationToken.IsCancellationRequested && stopReason == "")
                stopReason = "cancelled";
            if (last && stopReason == "")
                stopReason = "completed";
            bool periodic = _checkpointEvery > 0 && step % _checkpointEvery == 0;
            if (periodic || stopReason != "")
            {
                _state = _state with
                {
                    Step = step,
                    Epoch = epoch,
                    StepInEpoch = stepInEpoch,
                    TokensSeen = tokensSeen,
                    Seconds = secondsBefore + clock.Elapsed.TotalSeconds,
                    RngState = RngState(),
                    History = [.. _history],
                    Evals = [.. _evals],
                };
                TrainingCheckpoints.Save(_config.OutputDir, _model, _optimizer, _state, _config.BaseModel,
                    _recipe.SaveState);
                TrainingCheckpoints.Rotate(_config.OutputDir, _config.Checkpoint.KeepLast, _state.BestStep);
            }
        }
        if (stopReason == "")
            stopReason = "completed";
        return Finish(stopReason, secondsBefore + clock.Elapsed.TotalSeconds);
    }

    // Evaluates, records, keeps the weights when they are the best so far; true when early stopping's patience ran out.
    bool EvaluateAndKeepBest(int step, IProgress<TrainingProgress>? progress, TimeSpan elapsed)
    {
        var eval = Evaluate(step);
        if (_samples is not null)
            eval = eval with { Samples = _samples.Generate() };
        _evals.Add(eval);
        _telemetry.Record(eval);
        AppendMetrics(eval);
        progress?.Report(new TrainingProgress(step, _totalSteps, null, eval, null) { Elapsed = elapsed });
        if (_state.BestValidLoss is not { } best || eval.ValidLoss < best - _config.Eval.MinDelta)
        {
            _state = _state with { BestValidLoss = eval.ValidLoss, BestStep = step, EvalsWithoutImprovement = 0 };
            TrainingCheckpoints.WriteWeightsAtomically(_model, Path.Combine(_config.OutputDir, "best"),
                _config.BaseModel, CarriedFiles());
            return false;
        }
        _state = _state with { EvalsWithoutImprovement = _state.EvalsWithoutImprovement + 1 };
        return _config.Eval.EarlyStoppingPatience is { } patience && _state.EvalsWithoutImprovement >= patience;
    }

    StepResult ForwardBackward(IReadOnlyList<int[][]> microBatches, int step, StepUpdater updater)
    {
        _model.train();
        _optimizer.ZeroGrad();
        try
        {
            return _recipe.ForwardBackward(_train, microBatches, step, updater);
        }
        finally
        {
            _model.eval();
        }
    }

    EvalMetrics Evaluate(int step)
    {
        var clock = Stopwatch.StartNew();
        var split = _validation!;
        bool packing = _config.Data.Packing && _recipe.Batching == Batching.Packed;
        // The first max_examples examples: the same subset at every evaluation, so the numbers compare.
        var lengths = _config.Eval.MaxExamples is { } n && n < split.Count ? split.Lengths.Take(n).ToArray()
            : split.Lengths;
        var plan = BatchPlan.Create(lengths, _config.Training.MicroBatchSize, _rowLength, packing, 0, 0,
            shuffle: false);
        var batches = plan.MicroBatches.Take(_config.Eval.MaxBatches ?? int.MaxValue);
        using var _ = no_grad();
        _model.eval();
        var result = _recipe.Evaluate(split, batches);
        long count = Math.Max(1, result.Count);
        return new EvalMetrics(step, result.LossSum / count, (double)result.Hits / count, result.Count,
            clock.Elapsed.TotalSeconds)
        {
            RewardMargin = result.MarginSum / count, Rewards = result.Rewards,
        };
    }

    static string RngState()
    {
        using var scope = NewDisposeScope();
        var state = get_rng_state();
        return Convert.ToBase64String(state.data<byte>().ToArray());
    }

    static long PeakMemory()
    {
        using var process = Process.GetCurrentProcess();
        return process.PeakWorkingSet64;
    }

    IEnumerable<string> CarriedFiles() =>
        _model.Adapter is null && System.IO.Directory.Exists(_config.BaseModel)
            ? TokenizerFiles.Select(f => Path.Combine(_config.BaseModel, f)).Where(File.Exists)
            : [];

    string MetricsPath => Path.Combine(_config.OutputDir, "metrics.jsonl");

    static readonly JsonSerializerOptions LineJson = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    void AppendMetrics(StepMetrics m) =>
        File.AppendAllText(MetricsPath, JsonSerializer.Serialize(new { type = "train", metrics = m }, LineJson) + "\n");

    void AppendMetrics(EvalMetrics e) =>
        File.AppendAllText(MetricsPath, JsonSerializer.Serialize(new { type = "eval", metrics = e }, LineJson) + "\n");

    // On resume the file is rebuilt from the checkpoint's history: steps run after it (and lost with the kill) are
    // dropped.
    void RewriteMetricsFile()
    {
        File.WriteAllText(MetricsPath, "");
        foreach (var m in _history)
            AppendMetrics(m);
        foreach (var e in _evals)
            AppendMetrics(e);
    }

    TrainingReport Finish(string stopReason, double seconds)
    {
        var outputName = _model.Adapter is null ? "model" : "adapter";
        var output = Path.Combine(_config.OutputDir, outputName);
        var best = Path.Combine(_config.OutputDir, "best");
        // The delivered weights are the best validated ones when there was validation, else the last.
        if (_state.BestStep is not null && System.IO.Directory.Exists(best))
        {
            if (System.IO.Directory.Exists(output))
                System.IO.Directory.Delete(output, recursive: true);
            CopyDirectory(best, output);
        }
        else
            TrainingCheckpoints.WriteWeightsAtomically(_model, output, _config.BaseModel, CarriedFiles());
        var report = TrainingReport.Build(_config, _configJson, _manifest, _model, _optimizer, _history, _evals,
            _state, stopReason, seconds,
            output, _runId, _resumedFrom, _totalSteps);
        report.Write(Path.Combine(_config.OutputDir, TrainingReport.FileName));
        return report;
    }

    static void CopyDirectory(string from, string to)
    {
        System.IO.Directory.CreateDirectory(to);
        foreach (var file in System.IO.Directory.EnumerateFiles(from))
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)), overwrite: true);
    }

    public void Dispose()
    {
        _optimizer.Dispose();
        _telemetry.Dispose();
        _train.Dispose();
        _validation?.Dispose();
        _recipe.Dispose();
        _model.Dispose();
    }
}
