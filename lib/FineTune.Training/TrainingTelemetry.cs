// OpenTelemetry metrics for training through System.Diagnostics.Metrics: a Meter named "FineTune.Training" that the
// service defaults export over OTLP (AddMeter), so the dashboard charts loss, learning rate and throughput per run.
using System.Diagnostics.Metrics;

namespace FineTune.Training;

public sealed class TrainingTelemetry : IDisposable
{
    public const string MeterName = "FineTune.Training";

    readonly Meter _meter;
    readonly Gauge<double> _trainLoss, _validLoss, _tokenAccuracy, _learningRate, _gradNorm, _tokensPerSecond;
    readonly Gauge<double> _rewardMargin, _reward, _kl;
    readonly Gauge<long> _peakMemory;
    readonly Counter<long> _steps, _tokens;
    readonly KeyValuePair<string, object?>[] _tags;

    public TrainingTelemetry(string runId, string method, IMeterFactory? factory = null)
    {
        _meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        _trainLoss = _meter.CreateGauge<double>("finetune.training.train_loss",
            description: "Mean training loss of the last optimizer step");
        _validLoss = _meter.CreateGauge<double>("finetune.training.valid_loss",
            description: "Validation loss at the last evaluation");
        _tokenAccuracy = _meter.CreateGauge<double>("finetune.training.token_accuracy",
            description: "Argmax accuracy on trained tokens");
        _learningRate = _meter.CreateGauge<double>("finetune.training.learning_rate");
        _gradNorm = _meter.CreateGauge<double>("finetune.training.grad_norm",
            description: "Global gradient norm before clipping");
        _tokensPerSecond = _meter.CreateGauge<double>("finetune.training.tokens_per_second", unit: "{token}/s");
        _peakMemory = _meter.CreateGauge<long>("finetune.training.peak_memory", unit: "By");
        _rewardMargin = _meter.CreateGauge<double>("finetune.training.reward_margin",
            description: "Preference recipes: mean reward of chosen (desirable) minus rejected answers");
        _reward = _meter.CreateGauge<double>("finetune.training.reward",
            description: "GRPO and PPO: mean reward of the step's sampled answers");
        _kl = _meter.CreateGauge<double>("finetune.training.kl",
            description: "GRPO and PPO: KL of the policy to its reference on the step's answers");
        _steps = _meter.CreateCounter<long>("finetune.training.steps", unit: "{step}");
        _tokens = _meter.CreateCounter<long>("finetune.training.tokens", unit: "{token}");
        _tags = [new("run_id", runId), new("method", method)];
    }

    public void Record(StepMetrics m)
    {
        _trainLoss.Record(m.TrainLoss, _tags);
        _tokenAccuracy.Record(m.TokenAccuracy, _tags);
        _learningRate.Record(m.LearningRate, _tags);
        _gradNorm.Record(m.GradNorm, _tags);
        _tokensPerSecond.Record(m.TokensPerSecond, _tags);
        _peakMemory.Record(m.PeakMemoryBytes, _tags);
        if (m.RewardMargin is { } margin)
            _rewardMargin.Record(margin, _tags);
        if (m.Rollout?.GetValueOrDefault("reward") is { } reward)
            _reward.Record(reward, _tags);
        if (m.Rollout?.GetValueOrDefault("kl") is { } kl)
            _kl.Record(kl, _tags);
        _steps.Add(1, _tags);
        _tokens.Add(m.Tokens, _tags);
    }

    public void Record(EvalMetrics e) => _validLoss.Record(e.ValidLoss, _tags);

    public void Dispose() => _meter.Dispose();
}
