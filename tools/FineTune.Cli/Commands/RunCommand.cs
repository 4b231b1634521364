// finetune run [DATA_FILE] [--base MODEL_DIR] [--config FILE] [--out DIR]: the whole pipeline in one process — the
// services' consumers over MassTransit's in-memory transport, a local artifact folder and SQLite under --home — from a
// dropped file to the gate's decision. Without DATA_FILE it runs the shipped sample; without --base it pre-trains the
// tiny base model first (cached). Writes OUT/report.json and the run's files. Run it again after an interruption to go
// on.
using System.CommandLine;
using FineTune.Contracts;
using FineTune.Demo;
using FineTune.Models;
using FineTune.Pipeline;
using FineTune.Pipeline.Runs;
using FineTune.Registry;

namespace FineTune.Cli.Commands;

static class RunCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var data = new Argument<string?>("data-file")
        {
            Description = "Dataset file (JSONL, JSON, CSV, Parquet …); default: the shipped support-ticket sample",
            Arity = ArgumentArity.ZeroOrOne
        };
        var baseModel = new Option<string?>("--base")
        {
            Description = "Base model: a Hugging Face directory; default: the tiny base model, pre-trained on first use"
        };
        var config = new Option<string?>("--config")
        {
            Description =
                "Pipeline settings JSON (docs/pipeline.md): prepare, tokenize, training, evaluation, gate, retraining"
        };
        var output = new Option<string?>("--out")
        {
            Description = "Output directory for report.json and the run's files (default runs/<project>-<time>)"
        };
        var project = new Option<string?>("--project")
        {
            Description = "Project name (the ingestion prefix); default: the file's name"
        };
        var home = new Option<string>("--home")
        {
            Description = "Where the registry, artifacts and caches live",
            DefaultValueFactory = _ => ".finetune"
        };
        var threads = new Option<int>("--threads")
        {
            Description = "CPU threads for training and evaluation (0 = all cores)"
        };
        var judgeConfig = new Option<string?>("--judge-config")
        {
            Description = "JSON with a \"Judge\" section (Endpoint, Model, ApiKeyVariable, …) for the judge suite, " +
                "as finetune eval reads it; the key stays in the environment variable it names"
        };
        var command = new Command("run",
            "Run every stage in one process: clean, tokenize, train, evaluate, gate, promote.")
        {
            data, baseModel, config, output, project, home, threads, judgeConfig,
        };
        command.SetAction(async (parse, ct) =>
        {
            var homeDir = Path.GetFullPath(parse.GetValue(home)!);
            var file = parse.GetValue(data);
            var configFile = parse.GetValue(config);
            if (file is null)
            {
                var sample = Path.Combine(homeDir, "sample");
                if (!File.Exists(Path.Combine(sample, "train.jsonl")))
                    await SupportTickets.WriteAsync(sample, 400, 100, 7, ct);
                file = Path.Combine(sample, "train.jsonl");
                // The sample's own settings: a gate on the task's metrics (category, priority, summary, valid JSON).
                configFile ??= await SupportTickets.WriteSettingsAsync(sample, ct);
                await stderr.WriteLineAsync($"no dataset given: running the shipped sample {file} with its settings " +
                    $"{configFile}");
            }
            var settings = configFile is not null ? PipelineSettings.Load(configFile) : null;
            var name = parse.GetValue(project) is { } given ? ResourceNames.Validate(given,
                "--project") : ProjectName(file);
            var outDir = parse.GetValue(output) ?? Path.Combine("runs", $"{name}-{DateTime.Now:yyyyMMdd-HHmmss}");

            var baseDir = parse.GetValue(baseModel);
            // Settings that cannot fit the base model are refused now, before pre-training or any stage spends time.
            if (settings is not null)
                settings.MaxLengthFor(baseDir is null ? new TinyBaseModelOptions().Context
                    : LlamaConfig.Load(Path.Combine(baseDir, "config.json")).MaxPositionEmbeddings, configFile!);
            if (baseDir is null)
            {
                // No model hub offline: the tiny base model, pre-trained here on the generated corpus the first time.
                var cache = TinyBaseModel.DefaultCacheRoot();   // shared with `finetune pretrain` and every --home
                await stderr.WriteLineAsync($"base model: the tiny base model (cached under {cache}; the first " +
                    $"build pre-trains it, a few minutes)");
                baseDir = await TinyBaseModel.EnsureAsync(cache, new TinyBaseModelOptions(),
                    new PretrainPrinter(stderr), ct);
                await stderr.WriteLineAsync($"base model: {baseDir}");
            }
            else
                await stderr.WriteLineAsync($"base model: {baseDir}");
            var hostSettings = JudgeSettings(parse.GetValue(judgeConfig));
            if (settings?.Evaluation.Suites.Contains("judge") == true && !hostSettings.ContainsKey("Judge:Model"))
                throw new ArgumentException($"{configFile}: the judge suite needs --judge-config (a JSON file with " +
                    "a \"Judge\" section: Endpoint, Model, ApiKeyVariable).");
            await using var pipeline = await LocalPipeline.StartAsync(homeDir, new Dictionary<string, string?>(
                hostSettings)
            {
                ["Pipeline:Threads"] = parse.GetValue(threads)
                    .ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["Pipeline:TrainingLeaseSeconds"] = "15",
                ["Pipeline:TrainingPollSeconds"] = "0.5",
                ["Pipeline:RetryIntervalsSeconds:0"] = "1",
                ["Pipeline:RetryIntervalsSeconds:1"] = "5",
            }, ct: ct);
            var runId = await pipeline.SubmitAsync(file, name, baseDir, settings, ct);
            await stderr.WriteLineAsync($"run {runId} (project {name})");
            var printer = new ProgressPrinter(stderr);
            RunRecord run;
            try
            {
                run = await pipeline.WaitAsync(runId, printer.Show, TimeSpan.FromMilliseconds(500), ct);
            }
            catch (OperationCanceledException)
            {
                // The training worker keeps its newest checkpoint; the same command picks the run up where it stopped.
                await stderr.WriteLineAsync($"interrupted: run {runId} is unfinished; run the same command again to " +
                    $"continue it.");
                return 130;
            }
            var report = await RunReport.WriteAsync(pipeline.Registry, pipeline.Store, runId, outDir, ct);

            foreach (var s in report.Stages)
                await stdout.WriteLineAsync($"{s.Name,-13} {s.Status,-10} {s.Seconds,8:0.0} " +
                    $"s{(s.Attempts > 1 ? $"  ({s.Attempts} attempts)" : "")}");
            await stdout.WriteLineAsync(run.Decision is { } d
                ? $"decision: {d}{(report.ModelVersion is { } v ? $" (model version {v})" : "")}"
                : $"run {run.Status}: {run.Error}");
            foreach (var reason in report.Reasons)
                await stdout.WriteLineAsync($"  {reason}");
            await stdout.WriteLineAsync($"wrote {Path.Combine(outDir, "report.json")}");
            return run.Status == RunStatus.Succeeded ? 0 : 1;
        });
        return command;
    }

    // The file's name as a valid project name (ResourceNames): lower case, other characters as '-', at most 64.
    static string ProjectName(string file)
    {
        var stem = Path.GetFileNameWithoutExtension(file).ToLowerInvariant();
        var clean = new string(stem.Select(ch => char.IsAsciiLetterLower(ch) || char.IsAsciiDigit(ch) ? ch
            : '-').ToArray()).Trim('-');
        if (clean.Length > ResourceNames.MaxLength)
            clean = clean[..ResourceNames.MaxLength].TrimEnd('-');
        return clean.Length == 0 ? "project" : clean;
    }

    // Synchronous (lines stay in order): stage changes, and every 50th training step with its loss.
    sealed class PretrainPrinter(TextWriter stderr) : IProgress<TinyBaseModelProgress>
    {
        public void Report(TinyBaseModelProgress p)
        {
            if (p.Training is { } t)
            {
                if (t.Metrics is { } m && t.Step % 50 == 0)
                    stderr.WriteLine($"[pretrain] step {t.Step}/{t.TotalSteps}: loss {m.TrainLoss:0.000}, " +
                        $"{m.TokensPerSecond:N0} tokens/s");
                else if (t.Eval is { } e)
                    stderr.WriteLine($"[pretrain] step {t.Step}: validation loss {e.ValidLoss:0.000}");
                return;
            }
            stderr.WriteLine($"[pretrain] {p.Stage}: {p.Message}");
        }
    }

    // Plain lines (they read the same in a terminal, a log and CI): stage transitions, messages, every 10th metrics
    // event.
    /// <summary>The --judge-config file's "Judge" section as configuration keys (Judge:Endpoint, …).</summary>
    static Dictionary<string, string?> JudgeSettings(string? path)
    {
        var values = new Dictionary<string, string?>();
        if (path is null)
            return values;
        if (!File.Exists(path))
            throw new FileNotFoundException($"judge config not found: '{path}'.", path);
        if (System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))?["Judge"] is not
            System.Text.Json.Nodes.JsonObject judge)
            throw new ArgumentException($"{path}: no \"Judge\" section (Endpoint, Model, ApiKeyVariable, …).");
        foreach (var (key, value) in judge)
            values[$"Judge:{key}"] = value is System.Text.Json.Nodes.JsonValue v
                ? v.ToString()
                : throw new ArgumentException($"{path}: Judge.{key} must be a single value.");
        return values;
    }

    sealed class ProgressPrinter(TextWriter stderr)
    {
        readonly Dictionary<string, string> _stages = [];

        public void Show(RunRecord run, IReadOnlyList<StageRecord> stages, IReadOnlyList<RunEventRecord> events)
        {
            foreach (var s in stages)
                if (_stages.GetValueOrDefault(s.Stage) != s.Status)
                {
                    _stages[s.Stage] = s.Status;
                    stderr.WriteLine($"[{s.Stage}] " +
                        $"{s.Status}{(s.Seconds is { } sec ? $" after {sec:0.0} s" : "")}{(s.Error is null ? "" : $": {s.Error}")}");
                }
            foreach (var e in events)
            {
                if (e.Type == "metrics" && !e.Message.Contains("validation") && !IsTenth(e.Message))
                    continue;
                stderr.WriteLine($"  {e.Level,-5} {e.Message}");
            }
        }

        static bool IsTenth(string message) =>
            message.StartsWith("step ", StringComparison.Ordinal) && int.TryParse(message[5..message.IndexOf('/')],
                out var step) && step % 10 == 0;
    }
}
