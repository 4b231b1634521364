// finetune evalsets add NAME DIR|FILE --kind mmlu|gsm8k|task|rubric, finetune evalsets list [NAME]: the evaluation
// sets a pipeline config's gate names (evaluation.mmlu.set, evaluation.gsm8k.set, evaluation.judge.rubric), in the
// artifact store of the services' servers or a local pipeline home (PipelineConnection).
using System.CommandLine;
using FineTune.Contracts;
using FineTune.Pipeline.EvalSets;

namespace FineTune.Cli.Commands;

static class EvalSetsCommand
{
    public static Command Create(TextWriter stdout) =>
        new("evalsets", "Evaluation sets (benchmarks, held-out test sets, judge rubrics) in the pipeline's store.")
        {
            Add(stdout), List(stdout)
        };

    static Command Add(TextWriter stdout)
    {
        var name = new Argument<string>("name") { Description = "The set's name, as pipeline configs name it" };
        var path = new Argument<string>("path")
        {
            Description = "mmlu: a folder with dev/ and test/ CSVs; gsm8k: a folder with test.jsonl (and " +
                "train.jsonl) or one file; task: a prepared test.jsonl; rubric: a text file"
        };
        var kind = new Option<EvalSetKind>("--kind")
        {
            Description = "mmlu, gsm8k, task or rubric", Required = true,
            CustomParser = r =>
            {
                if (Enum.TryParse<EvalSetKind>(r.Tokens[0].Value, ignoreCase: true, out var k)
                    && !int.TryParse(r.Tokens[0].Value, out _))
                    return k;
                r.AddError($"--kind: '{r.Tokens[0].Value}' is not one of mmlu, gsm8k, task, rubric.");
                return default;
            },
        };
        var home = PipelineConnection.HomeOption();
        var command = new Command("add", "Check a set and store it as a new version (the same files again add " +
            "nothing).") { name, path, kind, home };
        command.SetAction(async (parse, ct) =>
        {
            var c = PipelineConnection.From(parse.GetValue(home));
            await c.Store.EnsureBucketsAsync(Buckets.All, ct);
            var (set, added) = await new EvalSetStore(c.Store).AddAsync(parse.GetValue(name)!, parse.GetValue(path)!,
                parse.GetValue(kind), ct);
            await stdout.WriteLineAsync(added
                ? $"added {set.Name} version {set.Version} ({EvalSetStore.Name(set.Kind)}, {set.Files} files, " +
                    $"{set.Bytes:N0} bytes, sha256 {set.Sha256[..12]})"
                : $"{set.Name}: version {set.Version} already holds these files (sha256 {set.Sha256[..12]}); " +
                    "nothing added");
            return 0;
        });
        return command;
    }

    static Command List(TextWriter stdout)
    {
        var name = new Argument<string?>("name")
        {
            Description = "Only this set's versions", Arity = ArgumentArity.ZeroOrOne
        };
        var home = PipelineConnection.HomeOption();
        var command = new Command("list", "Every evaluation set and version.") { name, home };
        command.SetAction(async (parse, ct) =>
        {
            var c = PipelineConnection.From(parse.GetValue(home));
            await c.Store.EnsureBucketsAsync(Buckets.All, ct);   // a new home or server has none yet
            var sets = await new EvalSetStore(c.Store).ListAsync(parse.GetValue(name), ct);
            await stdout.WriteLineAsync($"{"name",-20} {"version",7}  {"kind",-7} {"files",6} {"bytes",12}  " +
                $"{"sha256",-12}  added");
            foreach (var s in sets)
                await stdout.WriteLineAsync($"{s.Name,-20} {s.Version,7}  {EvalSetStore.Name(s.Kind),-7} " +
                    $"{s.Files,6} {s.Bytes,12:N0}  {s.Sha256[..12]}  {s.Added:yyyy-MM-dd HH:mm:ss}");
            if (sets.Count == 0)
                await stdout.WriteLineAsync("(none: add one with finetune evalsets add NAME PATH --kind KIND)");
            return 0;
        });
        return command;
    }
}
