// finetune gate BASELINE_RESULTS CANDIDATE_RESULTS --rules RULES.json [--out DIR]: the promotion decision.
// Exit 0 = promote, 2 = keep the baseline; gate.json and gate.md go to --out.
using System.CommandLine;
using FineTune.Evals;
using FineTune.Evals.Gate;

namespace FineTune.Cli.Commands;

static class GateCommand
{
    public static Command Create(TextWriter stdout)
    {
        var baseline = new Argument<string>("baseline")
        {
            Description = "Results JSON of the model in production (or the base model)"
        };
        var candidate = new Argument<string>("candidate") { Description = "Results JSON of the candidate" };
        var rules = new Option<string>("--rules")
        {
            Description =
                "Gate rules JSON: [{\"metric\", \"kind\": improve|no_regression, \"threshold\"}]", Required = true
        };
        var output = new Option<string?>("--out") { Description = "Directory for gate.json and gate.md" };
        var command = new Command("gate", "Decide whether a candidate model may replace the baseline.") { baseline,
            candidate, rules, output };
        command.SetAction(async (parse, ct) =>
        {
            var before = EvalReport.Load(parse.GetValue(baseline)!);
            var after = EvalReport.Load(parse.GetValue(candidate)!);
            var mismatches = EvalReport.FormatMismatches(before, after).ToList();
            if (mismatches.Count > 0)
                throw new ArgumentException($"the two results used different prompt formats, so their numbers are " +
                    $"not comparable: {string.Join("; ", mismatches)}.");
            var decision = RegressionGate.Decide(before, after, GateRules.Load(parse.GetValue(rules)!));
            await stdout.WriteAsync(decision.ToMarkdown());
            if (parse.GetValue(output) is { } dir)
            {
                Directory.CreateDirectory(dir);
                await File.WriteAllTextAsync(Path.Combine(dir, "gate.json"), decision.ToJson(), ct);
                await File.WriteAllTextAsync(Path.Combine(dir, "gate.md"), decision.ToMarkdown(), ct);
            }
            return decision.Promote ? 0 : 2;
        });
        return command;
    }
}
