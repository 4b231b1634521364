// `finetune events RUN [--follow]`: a run's event log (stage starts and ends, training steps, errors).
// Where: the services' servers or a local pipeline home (PipelineConnection).
using System.CommandLine;
using FineTune.Contracts;

namespace FineTune.Cli.Commands;

static class EventsCommand
{
    public static Command Create(TextWriter stdout)
    {
        var run = new Argument<Guid>("run") { Description = "Run id" };
        var follow = new Option<bool>("--follow") { Description = "Keep printing new events until the run ends" };
        var home = PipelineConnection.HomeOption();
        var command = new Command("events",
            "A run's event stream: level, type (message|metrics), text and metrics data.") { run, follow, home };
        command.SetAction(async (parse, ct) =>
        {
            var c = PipelineConnection.From(parse.GetValue(home));
            var id = parse.GetValue(run);
            long seq = 0;
            while (true)
            {
                var (record, events) = await c.Registry.ReadAsync(async s => (await s.GetRunAsync(id, ct),
                    await s.ListEventsAsync(id, seq, 1000, ct)), ct);
                if (record is null)
                    throw new ArgumentException($"run {id} is not in the registry.");
                foreach (var e in events)
                    await stdout.WriteLineAsync($"{e.CreatedAt:yyyy-MM-dd HH:mm:ss} {e.Level,-5} {e.Type,-7} " +
                        $"{e.Message}{(e.DataJson is null ? "" : $"  {e.DataJson}")}");
                if (events.Count > 0)
                    seq = events[^1].Seq;
                if (!parse.GetValue(follow) || RunStatus.IsTerminal(record.Status))
                    return 0;
                await Task.Delay(1000, ct);
            }
        });
        return command;
    }
}
