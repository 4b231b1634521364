// `finetune models [--project P]`: the model registry: versions, their gate decisions, and the aliases.
// Where: the services' servers or a local pipeline home (PipelineConnection).
using System.CommandLine;
using FineTune.Registry;

namespace FineTune.Cli.Commands;

static class ModelsCommand
{
    public static Command Create(TextWriter stdout)
    {
        var project = new Option<string?>("--project");
        var home = PipelineConnection.HomeOption();
        var command = new Command("models",
            "The model registry: versions per project, their evaluation verdict, and the aliases (production, " +
                "candidate).") { project, home };
        command.SetAction(async (parse, ct) =>
        {
            var c = PipelineConnection.From(parse.GetValue(home));
            await c.Registry.MigrateAsync(ct);
            var (versions, aliases, evaluations) = await c.Registry.ReadAsync(async s =>
            {
                var v = await s.ListModelVersionsAsync(parse.GetValue(project), ct);
                var a = await s.ListAliasesAsync(parse.GetValue(project), ct);
                var e = new Dictionary<(string, int), EvaluationRecord?>();
                foreach (var x in v)
                    e[(x.Project, x.Version)] = await s.GetEvaluationAsync(x.Project, x.Version, ct);
                return (v, a, e);
            }, ct);
            await stdout.WriteLineAsync($"{"project",-14} {"version",7}  {"kind",-8} {"gate",-8} {"aliases",-22} " +
                $"{"created",-20} run");
            foreach (var v in versions)
            {
                var names = string.Join(",",
                    aliases.Where(a => a.Project == v.Project && a.Version == v.Version).Select(a => a.Alias));
                var gate = evaluations[(v.Project, v.Version)] is { } e ? (e.Promote ? "pass" : "fail") : "";
                await stdout.WriteLineAsync($"{v.Project,-14} {v.Version,7}  {v.Kind,-8} {gate,-8} {names,-22} " +
                    $"{v.CreatedAt:yyyy-MM-dd HH:mm:ss}  {v.RunId}");
            }
            return 0;
        });
        return command;
    }
}
