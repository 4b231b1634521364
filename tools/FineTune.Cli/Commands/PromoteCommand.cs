// `finetune promote PROJECT VERSION`: points production at a version that passed the gate (a message to Deployment).
// Where: the services' servers or a local pipeline home (PipelineConnection).
using System.CommandLine;
using FineTune.Contracts;

namespace FineTune.Cli.Commands;

static class PromoteCommand
{
    public static Command Create(TextWriter stdout)
    {
        var project = new Argument<string>("project");
        var version = new Argument<int>("version");
        var alias = new Option<string>("--alias") { DefaultValueFactory = _ => "production" };
        var home = PipelineConnection.HomeOption();
        var command = new Command("promote",
            "Point an alias at a version whose evaluation passed the gate (others are refused).") { project, version,
                alias, home };
        command.SetAction(async (parse, ct) =>
        {
            var c = PipelineConnection.From(parse.GetValue(home));
            var (p, v, a) = (ResourceNames.Validate(parse.GetValue(project), "project"), parse.GetValue(version),
                ResourceNames.Validate(parse.GetValue(alias), "--alias"));
            var evaluation = await c.Registry.ReadAsync(s => s.GetEvaluationAsync(p, v, ct), ct);
            if (evaluation is not { Promote: true })
                throw new ArgumentException($"{p} version {v}: " +
                    $"{(evaluation is null ? "not evaluated" : "its evaluation did not pass the gate")}; promotion " +
                    $"goes through the gate.");
            await c.SendAsync(new PromoteModel { RunId = Guid.NewGuid(), Project = p, ModelVersion = v, Alias = a },
                ct);
            var now = await c.WaitForAliasAsync(p, a, x => x == v, ct);
            await stdout.WriteLineAsync($"{p}/{a} → version {now}");
            return 0;
        });
        return command;
    }
}
