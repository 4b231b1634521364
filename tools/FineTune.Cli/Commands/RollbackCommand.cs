// `finetune rollback PROJECT`: moves production back to the version it pointed at before (a message to Deployment).
// Where: the services' servers or a local pipeline home (PipelineConnection).
using System.CommandLine;
using FineTune.Contracts;

namespace FineTune.Cli.Commands;

static class RollbackCommand
{
    public static Command Create(TextWriter stdout)
    {
        var project = new Argument<string>("project");
        var alias = new Option<string>("--alias") { DefaultValueFactory = _ => "production" };
        var reason = new Option<string?>("--reason");
        var home = PipelineConnection.HomeOption();
        var command = new Command("rollback",
            "Point an alias back at the version it had before the current one.") { project, alias, reason, home };
        command.SetAction(async (parse, ct) =>
        {
            var c = PipelineConnection.From(parse.GetValue(home));
            var (p, a) = (ResourceNames.Validate(parse.GetValue(project), "project"),
                ResourceNames.Validate(parse.GetValue(alias), "--alias"));
            var history = await c.Registry.ReadAsync(s => s.ListDeploymentsAsync(p, a, ct), ct);
            if (history.Count == 0 || history[0].PreviousVersion is not { } previous)
                throw new ArgumentException($"{p}/{a}: no earlier version to roll back to.");
            await c.SendAsync(new RollBackDeployment
            {
                RunId = Guid.NewGuid(), Project = p, Alias = a,
                Reason = parse.GetValue(reason)
            }, ct);
            var now = await c.WaitForAliasAsync(p, a, x => x == previous, ct);
            await stdout.WriteLineAsync($"{p}/{a}: version {history[0].Version} → {now}");
            return 0;
        });
        return command;
    }
}
