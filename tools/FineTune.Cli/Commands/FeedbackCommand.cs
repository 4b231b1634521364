// `finetune feedback PROJECT [--export DIR]`: the production feedback a project received (POST /v1/feedback on the
// Deployment service, for projects in Recording:Projects): ratings by the version and variant that answered,
// corrections, what is not exported yet; --export writes it as training data (sft.jsonl, preference.jsonl,
// kto.jsonl) that `finetune data prepare` and the pipeline read. Where: the services' servers or a local home.
using System.CommandLine;
using FineTune.Pipeline.Feedback;

namespace FineTune.Cli.Commands;

static class FeedbackCommand
{
    public static Command Create(TextWriter stdout)
    {
        var project = new Argument<string>("PROJECT");
        var export = new Option<string?>("--export")
        {
            Description = "write sft.jsonl, preference.jsonl and " +
            "kto.jsonl into this folder"
        };
        var home = PipelineConnection.HomeOption();
        var command = new Command("feedback",
            "Production feedback on a project's answers, and its export as SFT, preference and KTO data.")
            { project, export, home };
        command.SetAction(async (parse, ct) =>
        {
            var name = parse.GetValue(project)!;
            var c = PipelineConnection.From(parse.GetValue(home));
            await c.Registry.MigrateAsync(ct);
            var (feedback, requests) = await c.Registry.ReadAsync(async s =>
                (await s.ListFeedbackAsync(name, ct: ct), await s.ListServedRequestsAsync(name, ct)), ct);
            var answers = requests.ToDictionary(r => (r.Id, r.Choice));
            await stdout.WriteLineAsync($"{name}: {requests.Count} recorded answers, {feedback.Count} ratings " +
                $"({feedback.Count(f => f.Correction is not null)} with a correction, " +
                $"{feedback.Count(f => f.ExportedAt is null)} not exported yet)");
            await stdout.WriteLineAsync($"{"version",7}  {"variant",-10} {"ratings",7}  {"mean",5}");
            foreach (var group in feedback.Where(f => answers.ContainsKey((f.CompletionId, f.Choice)))
                .GroupBy(f => (answers[(f.CompletionId, f.Choice)].Version, answers[(f.CompletionId, f.Choice)]
                    .Variant)).OrderBy(g => g.Key.Version))
                await stdout.WriteLineAsync($"{group.Key.Version,7}  {group.Key.Variant ?? "-",-10} " +
                    $"{group.Count(),7}  {group.Average(f => f.Rating),5:0.00}");
            foreach (var key in feedback.Select(f => f.ExportKey).OfType<string>().Distinct())
                await stdout.WriteLineAsync($"exported to the ingestion bucket as {key}");
            if (parse.GetValue(export) is { } dir)
            {
                var data = FeedbackExport.Build(feedback, requests);
                await FeedbackExport.WriteAsync(data, dir, ct);
                await stdout.WriteLineAsync($"wrote {data.Sft.Count} SFT, {data.Preference.Count} preference and " +
                    $"{data.Kto.Count} KTO examples to {dir}");
            }
            return 0;
        });
        return command;
    }
}
