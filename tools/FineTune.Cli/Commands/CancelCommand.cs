// `finetune cancel RUN`: ends a run as cancelled; a running training job checkpoints and stops.
// Where: the services' servers or a local pipeline home (PipelineConnection).
using System.CommandLine;
using FineTune.Pipeline.Runs;

namespace FineTune.Cli.Commands;

static class CancelCommand
{
    public static Command Create(TextWriter stdout)
    {
        var run = new Argument<Guid>("run") { Description = "Run id" };
        var reason = new Option<string?>("--reason");
        var home = PipelineConnection.HomeOption();
        var command = new Command("cancel",
            "Cancel a run; a running training job stops at its next lease renewal and frees its worker.") { run,
                reason, home };
        command.SetAction(async (parse, ct) =>
        {
            var c = PipelineConnection.From(parse.GetValue(home));
            var id = parse.GetValue(run);
            if (!await RunCancellation.CancelAsync(c.Registry, id, parse.GetValue(reason), ct))
            {
                var r = await c.Registry.ReadAsync(s => s.GetRunAsync(id, ct), ct);
                throw new ArgumentException(r is null ? $"run {id} is not in the registry."
                    : $"run {id} already ended ({r.Status}); nothing to cancel.");
            }
            await stdout.WriteLineAsync($"run {id} cancelled");
            return 0;
        });
        return command;
    }
}
