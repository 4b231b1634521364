// finetune pretrain [--out CACHE_DIR] [--config FILE] [--set key=value …]: finds or builds (a few minutes) the tiny
// Llama base model pre-trained on the generated corpus (lib/FineTune.Demo) and prints its directory on
// stdout, progress on stderr. Keys: name dim layers heads kv_heads hidden context vocab corpus_bytes steps batch lr
// seed threads.
using System.CommandLine;
using System.Globalization;
using FineTune.Demo;
using FineTune.Training;

namespace FineTune.Cli.Commands;

static class PretrainCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var output = new Option<string?>("--out")
        {
            Description = $"Cache directory for base models (default {TinyBaseModel.DefaultCacheRoot()})"
        };
        var config = new Option<string?>("--config")
        {
            Description = "Options as JSON (snake_case keys; every key optional)"
        };
        var set = new Option<string[]>("--set")
        {
            Description =
                "Override an option, e.g. --set steps=300 (repeatable)", AllowMultipleArgumentsPerToken = false
        };
        var command = new Command("pretrain",
            "Build (or find in the cache) a tiny Llama base model pre-trained on generated text, for machines " +
            "without a model hub.")
            { output, config, set };
        command.SetAction(async (parse, ct) =>
        {
            TinyBaseModelOptions options;
            try
            {
                options = TinyBaseModel.LoadOptions(parse.GetValue(config), parse.GetValue(set) ?? []);
            }
            catch (TrainingConfigException e)
            {
                await stderr.WriteLineAsync($"error: {e.Message}");
                return 2;
            }
            try
            {
                var dir = await TinyBaseModel.EnsureAsync(parse.GetValue(output) ?? TinyBaseModel.DefaultCacheRoot(),
                    options, new Reporter(stderr, options.Steps), ct);
                await stdout.WriteLineAsync(dir);
                return 0;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                await stderr.WriteLineAsync("interrupted: nothing was written to the cache.");
                return 130;
            }
        });
        return command;
    }

    // Stage lines as they come; training every 5% of the steps and at each evaluation.
    sealed class Reporter(TextWriter stderr, int steps) : IProgress<TinyBaseModelProgress>
    {
        readonly int _every = Math.Max(1, steps / 20);

        public void Report(TinyBaseModelProgress value)
        {
            var line = value.Training switch
            {
                null => value.Message,
                { Metrics: { } m } when m.Step % _every == 0 || m.Step == value.Training.TotalSteps =>
                    string.Create(CultureInfo.InvariantCulture,
                    $"step {m.Step}/{value.Training.TotalSteps} loss {m.TrainLoss:F4} lr {m.LearningRate:E2} " +
                        $"{m.TokensPerSecond:F0} tok/s, {value.Training.Elapsed.TotalSeconds:F0} s"),
                { Eval: { } e } =>
                    string.Create(CultureInfo.InvariantCulture,
                    $"eval step {e.Step}: valid loss {e.ValidLoss:F4} (ppl {e.Perplexity:F2})"),
                _ => null,
            };
            if (line is not null)
                stderr.WriteLine(line);
        }
    }
}
