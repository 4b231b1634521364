// finetune data check|prepare|tokenize|demo: thin fronts over FineTune.Data, the library the ingestion and
// tokenization services call. Exit code 2 when a dataset fails its checks (too many rejects, too few examples).
using System.CommandLine;
using FineTune.Data;
using FineTune.Data.Ingestion;
using FineTune.Data.Tokenization;
using FineTune.Demo;
using FineTune.Models;
using FineTune.Text;

namespace FineTune.Cli.Commands;

static class DataCommand
{
    const int DatasetFailed = 2;

    public static Command Create(TextWriter stdout) =>
        new("data", "Check, prepare and tokenize datasets.") { Check(stdout), Prepare(stdout), Tokenize(stdout),
            Demo(stdout) };

    static Option<SourceFormat> FormatOption() =>
        new("--format")
        {
            Description = "Source format: auto, alpaca, prompt_completion, chat, share_gpt, preference, text",
            DefaultValueFactory = _ => SourceFormat.Auto, CustomParser = r => ParseFormat(r.Tokens[0].Value)
        };

    static SourceFormat ParseFormat(string value) =>
        Enum.TryParse<SourceFormat>(value.Replace("_", ""), ignoreCase: true, out var format) ? format
            : throw new ArgumentException($"--format: '{value}' is not one of auto, alpaca, prompt_completion, " +
                $"chat, share_gpt, preference, text.");

    static Option<string?> ModelOption() =>
        new("--model")
        {
            Description = "Model or tokenizer directory: adds token statistics and the over-length check"
        };

    static Command Check(TextWriter stdout)
    {
        var file = new Argument<string>("file")
        {
            Description = "Dataset file (JSONL, JSON array, CSV, text; optionally gzipped)"
        };
        var format = FormatOption();
        var report = new Option<string?>("--report") { Description = "Also write the report as JSON to this path" };
        var maxRatio = new Option<double>("--max-reject-ratio")
        {
            Description = "Fail above this share of rejected records", DefaultValueFactory = _ => 0.2
        };
        var model = ModelOption();
        var maxTokens = new Option<int?>("--max-tokens")
        {
            Description = "Reject examples longer than this once tokenized (needs --model)"
        };
        var epochs = new Option<int>("--epochs")
        {
            Description = "For the training-token estimate",
            DefaultValueFactory = _ => 1
        };
        var command = new Command("check",
            "Validate a dataset file and report per-record problems and token statistics.") { file, format, report,
            maxRatio, model, maxTokens, epochs };
        command.SetAction(async (parse, ct) =>
        {
            var counter = TokenCounter(parse.GetValue(model));
            var validation = new ValidationReport(counter, parse.GetValue(maxTokens), parse.GetValue(epochs));
            await foreach (var item in DatasetReader.ReadAsync(parse.GetValue(file)!,
                new ReadOptions { Format = parse.GetValue(format) }, ct))
                validation.Add(item);
            await stdout.WriteAsync(validation.ToText());
            if (parse.GetValue(report) is { } path)
                await File.WriteAllTextAsync(path, validation.ToJson(), ct);
            var verdict = validation.Passed(parse.GetValue(maxRatio));
            await stdout.WriteLineAsync((verdict.Ok ? "ok: " : "FAILED: ") + verdict.Message);
            return verdict.Ok ? 0 : DatasetFailed;
        });
        return command;
    }

    static Command Prepare(TextWriter stdout)
    {
        var file = new Argument<string>("file") { Description = "Dataset file" };
        var output = new Option<string>("--out") { Description = "Output directory", Required = true };
        var config = new Option<string?>("--config")
        {
            Description = "JSON config (see docs/data-format.md); unknown keys are errors"
        };
        var format = FormatOption();
        var model = ModelOption();
        var maxTokens = new Option<int?>("--max-tokens")
        {
            Description = "Reject examples longer than this once tokenized (needs --model)"
        };
        var command = new Command("prepare",
            "Validate, clean, de-duplicate and split a dataset; write splits, rejects, duplicates and a data " +
            "card.") { file, output, config, format, model, maxTokens };
        command.SetAction(async (parse, ct) =>
        {
            var options = parse.GetValue(config) is { } path ? PrepareOptions.Load(path) : new PrepareOptions();
            if (parse.GetResult(format) is { Implicit: false })
                options = options with { Format = parse.GetValue(format) };
            var outDir = parse.GetValue(output)!;
            var result = await DatasetPreparer.PrepareAsync(parse.GetValue(file)!, outDir, options,
                TokenCounter(parse.GetValue(model)), parse.GetValue(maxTokens), ct);
            var c = result.Counts;
            await stdout.WriteLineAsync($"input {c.Input}: rejected {c.Rejected}, exact duplicates " +
                $"{c.ExactDuplicates}, near duplicates {c.NearDuplicates}, train {c.Train}, validation " +
                $"{c.Validation}, test {c.Test}");
            await stdout.WriteLineAsync($"dataset {result.Card.DatasetId} written to {outDir}");
            await stdout.WriteLineAsync((result.Verdict.Ok ? "ok: " : "FAILED: ") + result.Verdict.Message);
            return result.Verdict.Ok ? 0 : DatasetFailed;
        });
        return command;
    }

    static Command Tokenize(TextWriter stdout)
    {
        var dir = new Argument<string>("dir")
        {
            Description = "A prepared dataset directory (train/validation/test.jsonl)"
        };
        var model = new Option<string>("--model") { Description = "Model or tokenizer directory", Required = true };
        var output = new Option<string>("--out") { Description = "Shards directory", Required = true };
        var maxLength = new Option<int?>("--max-length")
        {
            Description =
                "Truncate or drop examples longer than this (default: the model's context, max_position_embeddings; " +
            "2048 for a bare tokenizer)"
        };
        var truncation = new Option<Truncation>("--truncation")
        {
            Description = "right, left or drop",
            DefaultValueFactory = _ => Truncation.Right
        };
        var trainOnInputs = new Option<bool>("--train-on-inputs")
        {
            Description = "Compute the loss on prompt tokens too"
        };
        var template = new Option<string?>("--chat-template")
        {
            Description = "Override the chat template: chatml, llama2, llama3, alpaca"
        };
        var threads = new Option<int>("--threads") { Description = "Worker threads (0 = all cores)" };
        var command = new Command("tokenize",
            "Tokenize a prepared dataset into training shards with loss masks.") { dir, model, output, maxLength,
            truncation, trainOnInputs, template, threads };
        command.SetAction(async (parse, ct) =>
        {
            var modelDir = parse.GetValue(model)!;
            var configPath = Path.Combine(modelDir, "config.json");
            int? context = File.Exists(configPath) ? LlamaConfig.Load(configPath).MaxPositionEmbeddings : null;
            if (parse.GetValue(maxLength) is { } asked && asked > context)
                throw new ArgumentException($"--max-length {asked} is longer than the model's context of {context} " +
                    $"tokens (max_position_embeddings in " +
                                            $"{configPath}); the model was never trained on positions that far. Use " +
                                                $"--max-length {context} or less.");
            var options = new TokenizeOptions
            {
                MaxLength = parse.GetValue(maxLength) ?? context ?? 2048,
                Truncation = parse.GetValue(truncation),
                TrainOnInputs = parse.GetValue(trainOnInputs),
                Template = parse.GetValue(template) is { } name ? ChatTemplate.Parse(name) : null,
                Threads = parse.GetValue(threads),
            };
            var manifest = await DatasetTokenizer.TokenizeAsync(parse.GetValue(dir)!, parse.GetValue(model)!,
                parse.GetValue(output)!, options, null, ct);
            var t = manifest.Totals;
            await stdout.WriteLineAsync($"{t.Examples} examples, {t.Tokens} tokens ({t.TrainedTokens} trained), " +
                $"{t.Truncated} truncated, {t.Dropped} dropped -> {parse.GetValue(output)}");
            return 0;
        });
        return command;
    }

    static Command Demo(TextWriter stdout)
    {
        var output = new Option<string>("--out")
        {
            Description = "Directory for train.jsonl and test.jsonl",
            Required = true
        };
        var train = new Option<int>("--train") { Description = "Training examples", DefaultValueFactory = _ => 1000 };
        var test = new Option<int>("--test")
        {
            Description = "Test examples (products unseen in training)",
            DefaultValueFactory = _ => 200
        };
        var seed = new Option<int>("--seed") { Description = "Random seed", DefaultValueFactory = _ => 42 };
        var command = new Command("demo",
            "Write the synthetic support-ticket triage dataset the demo and tests use.") { output, train, test, seed };
        command.SetAction(async (parse, ct) =>
        {
            await SupportTickets.WriteAsync(parse.GetValue(output)!, parse.GetValue(train), parse.GetValue(test),
                parse.GetValue(seed), ct);
            await stdout.WriteLineAsync($"wrote {parse.GetValue(train)} train and {parse.GetValue(test)} test " +
                $"tickets to {parse.GetValue(output)}");
            return 0;
        });
        return command;
    }

    // Token count of a record as the model will see it: its chat template applied, BOS/EOS included.
    static Func<DataRecord, int>? TokenCounter(string? modelDir)
    {
        if (modelDir is null)
            return null;
        var tokenizer = TokenizerLoader.Load(modelDir);
        var examples = new ExampleTokenizer(tokenizer,
            tokenizer.ChatTemplate ?? ChatTemplate.For(ChatTemplateKind.ChatMl),
            new TokenizeOptions { MaxLength = null });
        return record => examples.Tokenize(record).Sequences.Select(s => s.Length).DefaultIfEmpty(0).Max();
    }
}
