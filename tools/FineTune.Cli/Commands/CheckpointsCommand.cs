// `finetune checkpoints RUN`: the checkpoints a run's training wrote (where a resumed run continues from).
// Where: the services' servers or a local pipeline home (PipelineConnection).
using System.CommandLine;

namespace FineTune.Cli.Commands;

static class CheckpointsCommand
{
    public static Command Create(TextWriter stdout)
    {
        var run = new Argument<Guid>("run") { Description = "Run id" };
        var home = PipelineConnection.HomeOption();
        var command = new Command("checkpoints",
            "A run's training checkpoints: step, metrics, and where the bundle is.") { run, home };
        command.SetAction(async (parse, ct) =>
        {
            var c = PipelineConnection.From(parse.GetValue(home));
            var list = await c.Registry.ReadAsync(s => s.ListCheckpointsAsync(parse.GetValue(run), ct), ct);
            await stdout.WriteLineAsync($"{"step",6}  {"created",-20} {"artifact",-70} metrics");
            foreach (var cp in list.OrderBy(x => x.Step))
                await stdout.WriteLineAsync($"{cp.Step,6}  {cp.CreatedAt:yyyy-MM-dd HH:mm:ss}  " +
                    $"{cp.Artifact.Bucket + "/" + cp.Artifact.Key,-70} {cp.MetricsJson}");
            return 0;
        });
        return command;
    }
}
