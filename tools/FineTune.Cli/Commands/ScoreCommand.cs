// finetune score rouge|bleu|chrf|gsm8k|task FILE [--stemmer] [--cot] [--schema S]: scores predictions that already
// exist (JSONL lines with `prediction`, `reference` — for rouge, bleu and chrf a string or a list — and an optional
// `id`) and prints JSON with `items` (one per line) and `aggregate`; bleu and chrf also print sacrebleu's score line
// with its signature on stderr.
using System.CommandLine;
using System.Text.Json;
using FineTune.Evals.Scoring;

namespace FineTune.Cli.Commands;

static class ScoreCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var kind = new Argument<string>("kind") { Description = "rouge, bleu, chrf, gsm8k or task" };
        kind.AcceptOnlyFromAmong("rouge", "bleu", "chrf", "gsm8k", "task");
        var file = new Argument<string>("file")
        {
            Description = "JSONL with prediction, reference and optional id per line"
        };
        var stemmer = new Option<bool>("--stemmer")
        {
            Description = "ROUGE: Porter-stem tokens (as rouge_score's use_stemmer)"
        };
        var cot = new Option<bool>("--cot")
        {
            Description = "GSM8K: strict rule of gsm8k_cot ('The answer is N.') instead of '#### N'"
        };
        var schema = new Option<string?>("--schema")
        {
            Description =
                "task: a JSON Schema (properties, required; string/number/integer/boolean) the answers must follow; " +
                "default: inferred from the references",
        };
        var command = new Command("score",
            "Score existing predictions with ROUGE, BLEU, chrF (as sacrebleu), GSM8K exact match or the task " +
                "metrics (exact match; JSON " +
                "validity, schema validity and per-field accuracy, macro-F1, ROUGE-L).")
        {
            kind, file, stemmer, cot, schema,
        };
        command.SetAction(async (parse, ct) =>
        {
            var scoreKind = parse.GetValue(kind) switch
            {
                "rouge" => ScoreKind.Rouge,
                "bleu" => ScoreKind.Bleu,
                "chrf" => ScoreKind.Chrf,
                "task" => ScoreKind.Task,
                _ => ScoreKind.Gsm8k
            };
            var document = OutputScorer.Score(scoreKind, parse.GetValue(file)!, parse.GetValue(stemmer),
                parse.GetValue(cot) ? Gsm8kFormat.Cot : Gsm8kFormat.Gsm8k,
                    parse.GetValue(schema) is { } s ? TaskSchema.Load(s) : null);
            await stdout.WriteLineAsync(document.ToJsonString(new JsonSerializerOptions { WriteIndented = true })
                .AsMemory(), ct);
            if (document["options"]?["score_line"]?.GetValue<string>() is { } line)
                await stderr.WriteLineAsync(line.AsMemory(), ct);
            return 0;
        });
        return command;
    }
}
