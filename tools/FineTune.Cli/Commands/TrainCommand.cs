// finetune train CONFIG [--set key=value …]: runs the training engine (lib/FineTune.Training) on one config file and
// writes checkpoints, the adapter or model, metrics.jsonl and training_report.json into its output_dir. Rerunning the
// same command after a kill or Ctrl-C continues from the newest checkpoint (resume: auto).
using System.CommandLine;
using System.Globalization;
using FineTune.Training;
using Spectre.Console;

namespace FineTune.Cli.Commands;

static class TrainCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var config = new Argument<string>("config")
        {
            Description = "Training config (JSON; see docs/training-config.md)"
        };
        var set = new Option<string[]>("--set")
        {
            Description =
                "Override a config key, e.g. --set lora.rank=16 (repeatable)", AllowMultipleArgumentsPerToken = false
        };
        var command = new Command("train",
            "Fine-tune a model (full, LoRA, DoRA, QLoRA, IA3, prompt or prefix tuning; SFT or DPO).") { config, set };
        command.SetAction(async (parse, ct) =>
        {
            TrainingConfig resolved;
            try
            {
                resolved = TrainingConfigLoader.Load(parse.GetValue(config)!, parse.GetValue(set) ?? []);
            }
            catch (TrainingConfigException e)
            {
                await stderr.WriteLineAsync($"error: {e.Message}");
                return 2;
            }
            using var trainer = Trainer.Create(resolved);
            await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"{ConfigNames.Of(resolved.Method)} {ConfigNames.Of(resolved.Objective)} on {resolved.BaseModel}: " +
                    $"{trainer.TotalSteps} steps, " +
                    $"{trainer.Model.named_parameters().Where(p => p.parameter.requires_grad).Sum(p => p.parameter.numel()):N0} trainable parameters{(trainer.State.Step > 0 ? $", resuming at step {trainer.State.Step}" : "")}"));
            var report = await WithProgress(stderr, trainer.TotalSteps,
                progress => Task.Run(() => trainer.Train(progress, ct), CancellationToken.None));
            await stdout.WriteLineAsync(Summary(report));
            return report.StopReason == "cancelled" ? 130 : 0;
        });
        return command;
    }

    static string Summary(TrainingReport r) => string.Create(CultureInfo.InvariantCulture,
        $"""
        {r.StopReason} at step {r.Steps}/{r.TotalSteps} in {r.Seconds:F1} s ({r.TokensPerSecond:F0} tokens/s, peak memory {r.PeakMemoryBytes / (1024.0 * 1024):F0} MiB)
        train loss {(r.History.Count > 0 ? r.History[^1].TrainLoss.ToString("F4", CultureInfo.InvariantCulture) : "-")}{(r.BestValidLoss is { } v ? $", best validation loss {v:F4} at step {r.BestStep}" : "")}
        output: {r.Output}
        report: {Path.Combine(Path.GetDirectoryName(r.Output)!, TrainingReport.FileName)}
        """);

    // A live bar (step, loss, tokens/s, ETA) on a terminal; plain log lines elsewhere (CI, files, tests).
    static async Task<TrainingReport> WithProgress(TextWriter stderr, int total, Func<IProgress<TrainingProgress>,
        Task<TrainingReport>> work)
    {
        bool terminal = ReferenceEquals(stderr, System.Console.Error) && !System.Console.IsErrorRedirected;
        if (!terminal)
            return await work(new Reporter(p => stderr.WriteLine(Line(p, total))));
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stderr) });
        TrainingReport report = null!;
        await console.Progress()
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(),
                new PercentageColumn(), new RemainingTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask("training", autoStart: true, maxValue: Math.Max(1, total));
                report = await work(new Reporter(p =>
                {
                    if (p.Metrics is { } m)
                    {
                        task.Value = m.Step;
                        task.Description = string.Create(CultureInfo.InvariantCulture,
                            $"step {m.Step}/{total} loss {m.TrainLoss:F4} {m.TokensPerSecond:F0} tok/s");
                    }
                    else if (p.Eval is not null || p.Message is not null)
                        console.MarkupLine(Markup.Escape(Line(p, total)));
                }));
                // an interrupted run keeps its bar where it stopped
                if (report.StopReason != "cancelled")
                    task.Value = task.MaxValue;
            });
        return report;
    }

    static string Line(TrainingProgress p, int total) => p switch
    {
        { Metrics: { } m } => string.Create(CultureInfo.InvariantCulture,
            $"step {m.Step}/{total} epoch {m.Epoch:F2} loss {m.TrainLoss:F4} acc {m.TokenAccuracy:F3} lr " +
                $"{m.LearningRate:E2} grad_norm {m.GradNorm:F3} {m.TokensPerSecond:F0} " +
                $"tok/s{(m.RewardMargin is { } margin ? $" margin {margin:F3}" : "")}" +
                $"{(m.Rollout is { } r ? $" reward {r["reward"]:F3} kl {r["kl"]:F3}" : "")}" +
                $"{(p.Remaining is { } left ? $" ETA {TrainingProgress.Format(left)}" : "")}"),
        // GRPO and PPO: the greedy answers' rewards (valid_loss is minus their total; a perplexity means nothing)
        { Eval: { Rewards: { } rewards } e } => string.Create(CultureInfo.InvariantCulture,
            $"eval step {e.Step}: reward {rewards["reward"]:F4} ({string.Join(", ", rewards
                .Where(kv => kv.Key != "reward").Select(kv => string.Create(CultureInfo.InvariantCulture,
                    $"{kv.Key} {kv.Value:F3}")))})"),
        { Eval: { } e } =>
            string.Create(CultureInfo.InvariantCulture,
            $"eval step {e.Step}: valid loss {e.ValidLoss:F4} (ppl {e.Perplexity:F2}) acc {e.TokenAccuracy:F3}") +
            // the first sample answer, so the console shows the answers change
            (e.Samples is [var first, ..]
                ? $"\n  sample {first.Example}: {first.Answer.ReplaceLineEndings("⏎")}"
                : ""),
        _ => p.Message ?? "",
    };

    sealed class Reporter(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
