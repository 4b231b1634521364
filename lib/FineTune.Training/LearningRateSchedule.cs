// Learning rate per optimizer step: linear warmup (step k of W at lr·(k+1)/(W+1), so the first step is not spent at 0),
// then cosine or linear decay to lr · min_lr_ratio, or constant
// (the shapes of Hugging Face's get_cosine/linear_schedule_with_warmup, with a floor).
namespace FineTune.Training;

public sealed record LearningRateSchedule(double PeakLr, ScheduleType Type, int WarmupSteps, int TotalSteps,
    double MinLrRatio)
{
    public static LearningRateSchedule From(TrainingConfig c, int totalSteps)
    {
        int warmup = c.Schedule.WarmupSteps > 0 ? c.Schedule.WarmupSteps : (int)Math.Ceiling(c.Schedule.WarmupRatio
            * totalSteps);
        return new LearningRateSchedule(c.Optimizer.Lr, c.Schedule.Type, warmup, totalSteps, c.Schedule.MinLrRatio);
    }

    /// <summary>The rate for 0-based optimizer step <paramref name="step"/>.</summary>
    public double At(int step)
    {
        if (step < WarmupSteps)
            return PeakLr * (step + 1) / (WarmupSteps + 1);
        if (Type == ScheduleType.Constant)
            return PeakLr;
        double progress = TotalSteps <= WarmupSteps ? 1 : Math.Min(1,
            (double)(step - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps));
        double shape = Type == ScheduleType.Cosine ? 0.5 * (1 + Math.Cos(Math.PI * progress)) : 1 - progress;
        return PeakLr * (MinLrRatio + (1 - MinLrRatio) * shape);
    }
}
