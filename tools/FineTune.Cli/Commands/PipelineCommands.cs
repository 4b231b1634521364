// The pipeline's operator commands: upload, runs [--watch], events, cancel, models, promote, rollback. They talk to
// the registry and the store directly, and send promote/rollback as messages so Deployment (and serving) act on them.
// Where: FINETUNE_POSTGRES / FINETUNE_S3_* / FINETUNE_RABBITMQ (the services' servers, see scripts/pipeline-start.sh),
// else the local pipeline under --home (what `finetune run` uses).
using System.CommandLine;
using FineTune.Artifacts;
using FineTune.Contracts;
using FineTune.Pipeline;
using FineTune.Pipeline.Runs;
using FineTune.Registry;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace FineTune.Cli.Commands;

static class PipelineCommands
{
    // Given: that local pipeline home. Not given: the services' servers when FINETUNE_POSTGRES is set, else .finetune.
    public static Option<string?> Home() => new("--home") { Description = "A local pipeline home (as `finetune run --home`); default: the services' servers when FINETUNE_POSTGRES is set, else .finetune" };

    public static IEnumerable<Command> Create(TextWriter stdout, TextWriter stderr)
    {
        yield return Upload(stdout);
        yield return RunsCommand.Create(stdout);
        yield return Events(stdout);
        yield return Checkpoints(stdout);
        yield return Cancel(stdout);
        yield return Models(stdout);
        yield return Promote(stdout);
        yield return Rollback(stdout);
    }

    static Command Upload(TextWriter stdout)
    {
        var file = new Argument<string>("file") { Description = "Dataset file to drop into the ingestion bucket" };
        var project = new Option<string>("--project") { Description = "Project (the bucket prefix); a new file for a project retrains it", Required = true };
        var home = Home();
        var command = new Command("upload", "Drop a dataset into ingestion/<project>/: the pipeline starts a run on its own.") { file, project, home };
        command.SetAction(async (parse, ct) =>
        {
            var c = PipelineConnection.From(parse.GetValue(home));
            var path = parse.GetValue(file)!;
            if (!File.Exists(path)) throw new FileNotFoundException($"dataset file not found: '{path}'.", path);
            var p = ResourceNames.Validate(parse.GetValue(project), "--project");
            await c.Store.EnsureBucketsAsync([Buckets.Ingestion], ct);
            var artifact = await c.Store.PutFileAsync(Buckets.Ingestion, $"{p}/{Path.GetFileName(path)}", path, ct);
            await stdout.WriteLineAsync($"uploaded {artifact.Bucket}/{artifact.Key} ({artifact.Bytes:N0} bytes, sha256 {artifact.Sha256[..12]}…)");
            if (c.Distributed) new LastUpload(p, artifact.Bucket, artifact.Key, artifact.Sha256, DateTimeOffset.UtcNow).Write(c.Home);
            if (!c.Distributed) await stdout.WriteLineAsync("note: no services are configured (FINETUNE_S3_ENDPOINT unset); `finetune run FILE` runs the pipeline locally.");
            return 0;
        });
        return command;
    }

    static Command Events(TextWriter stdout)
    {
        var run = new Argument<Guid>("run") { Description = "Run id" };
        var follow = new Option<bool>("--follow") { Description = "Keep printing new events until the run ends" };
        var home = Home();
        var command = new Command("events", "A run's event stream: level, type (message|metrics), text and metrics data.") { run, follow, home };
        command.SetAction(async (parse, ct) =>
        {
            var c = PipelineConnection.From(parse.GetValue(home));
            var id = parse.GetValue(run);
            long seq = 0;
            while (true)
            {
                var (record, events) = await c.Registry.ReadAsync(async s => (await s.GetRunAsync(id, ct), await s.ListEventsAsync(id, seq, 1000, ct)), ct);
                if (record is null) throw new ArgumentException($"run {id} is not in the registry.");
                foreach (var e in events)
                    await stdout.WriteLineAsync($"{e.CreatedAt:yyyy-MM-dd HH:mm:ss} {e.Level,-5} {e.Type,-7} {e.Message}{(e.DataJson is null ? "" : $"  {e.DataJson}")}");
                if (events.Count > 0) seq = events[^1].Seq;
                if (!parse.GetValue(follow) || RunStatus.IsTerminal(record.Status)) return 0;
                await Task.Delay(1000, ct);
            }
        });
        return command;
    }

    static Command Checkpoints(TextWriter stdout)
    {
        var run = new Argument<Guid>("run") { Description = "Run id" };
        var home = Home();
        var command = new Command("checkpoints", "A run's training checkpoints: step, metrics, and where the bundle is.") { run, home };
        command.SetAction(async (parse, ct) =>
        {
            var c = PipelineConnection.From(parse.GetValue(home));
            var list = await c.Registry.ReadAsync(s => s.ListCheckpointsAsync(parse.GetValue(run), ct), ct);
            await stdout.WriteLineAsync($"{"step",6}  {"created",-20} {"artifact",-70} metrics");
            foreach (var cp in list.OrderBy(x => x.Step))
                await stdout.WriteLineAsync($"{cp.Step,6}  {cp.CreatedAt:yyyy-MM-dd HH:mm:ss}  {cp.Artifact.Bucket + "/" + cp.Artifact.Key,-70} {cp.MetricsJson}");
            return 0;
        });
        return command;
    }

    static Command Cancel(TextWriter stdout)
    {
        var run = new Argument<Guid>("run") { Description = "Run id" };
        var reason = new Option<string?>("--reason");
        var home = Home();
        var command = new Command("cancel", "Cancel a run; a running training job stops at its next lease renewal and frees its worker.") { run, reason, home };
        command.SetAction(async (parse, ct) =>
        {
            var c = PipelineConnection.From(parse.GetValue(home));
            var id = parse.GetValue(run);
            if (!await RunCancellation.CancelAsync(c.Registry, id, parse.GetValue(reason), ct))
            {
                var r = await c.Registry.ReadAsync(s => s.GetRunAsync(id, ct), ct);
                throw new ArgumentException(r is null ? $"run {id} is not in the registry." : $"run {id} already ended ({r.Status}); nothing to cancel.");
            }
            await stdout.WriteLineAsync($"run {id} cancelled");
            return 0;
        });
        return command;
    }

    static Command Models(TextWriter stdout)
    {
        var project = new Option<string?>("--project");
        var home = Home();
        var command = new Command("models", "The model registry: versions per project, their evaluation verdict, and the aliases (production, candidate).") { project, home };
        command.SetAction(async (parse, ct) =>
        {
            var c = PipelineConnection.From(parse.GetValue(home));
            await c.Registry.MigrateAsync(ct);
            var (versions, aliases, evaluations) = await c.Registry.ReadAsync(async s =>
            {
                var v = await s.ListModelVersionsAsync(parse.GetValue(project), ct);
                var a = await s.ListAliasesAsync(parse.GetValue(project), ct);
                var e = new Dictionary<(string, int), EvaluationRecord?>();
                foreach (var x in v) e[(x.Project, x.Version)] = await s.GetEvaluationAsync(x.Project, x.Version, ct);
                return (v, a, e);
            }, ct);
            await stdout.WriteLineAsync($"{"project",-14} {"version",7}  {"kind",-8} {"gate",-8} {"aliases",-22} {"created",-20} run");
            foreach (var v in versions)
            {
                var names = string.Join(",", aliases.Where(a => a.Project == v.Project && a.Version == v.Version).Select(a => a.Alias));
                var gate = evaluations[(v.Project, v.Version)] is { } e ? (e.Promote ? "pass" : "fail") : "";
                await stdout.WriteLineAsync($"{v.Project,-14} {v.Version,7}  {v.Kind,-8} {gate,-8} {names,-22} {v.CreatedAt:yyyy-MM-dd HH:mm:ss}  {v.RunId}");
            }
            return 0;
        });
        return command;
    }

    static Command Promote(TextWriter stdout)
    {
        var project = new Argument<string>("project");
        var version = new Argument<int>("version");
        var alias = new Option<string>("--alias") { DefaultValueFactory = _ => "production" };
        var home = Home();
        var command = new Command("promote", "Point an alias at a version whose evaluation passed the gate (others are refused).") { project, version, alias, home };
        command.SetAction(async (parse, ct) =>
        {
            var c = PipelineConnection.From(parse.GetValue(home));
            var (p, v, a) = (ResourceNames.Validate(parse.GetValue(project), "project"), parse.GetValue(version),
                ResourceNames.Validate(parse.GetValue(alias), "--alias"));
            var evaluation = await c.Registry.ReadAsync(s => s.GetEvaluationAsync(p, v, ct), ct);
            if (evaluation is not { Promote: true })
                throw new ArgumentException($"{p} version {v}: {(evaluation is null ? "not evaluated" : "its evaluation did not pass the gate")}; promotion goes through the gate.");
            await c.SendAsync(new PromoteModel { RunId = Guid.NewGuid(), Project = p, ModelVersion = v, Alias = a }, ct);
            var now = await c.WaitForAliasAsync(p, a, x => x == v, ct);
            await stdout.WriteLineAsync($"{p}/{a} → version {now}");
            return 0;
        });
        return command;
    }

    static Command Rollback(TextWriter stdout)
    {
        var project = new Argument<string>("project");
        var alias = new Option<string>("--alias") { DefaultValueFactory = _ => "production" };
        var reason = new Option<string?>("--reason");
        var home = Home();
        var command = new Command("rollback", "Point an alias back at the version it had before the current one.") { project, alias, reason, home };
        command.SetAction(async (parse, ct) =>
        {
            var c = PipelineConnection.From(parse.GetValue(home));
            var (p, a) = (ResourceNames.Validate(parse.GetValue(project), "project"), ResourceNames.Validate(parse.GetValue(alias), "--alias"));
            var history = await c.Registry.ReadAsync(s => s.ListDeploymentsAsync(p, a, ct), ct);
            if (history.Count == 0 || history[0].PreviousVersion is not { } previous)
                throw new ArgumentException($"{p}/{a}: no earlier version to roll back to.");
            await c.SendAsync(new RollBackDeployment { RunId = Guid.NewGuid(), Project = p, Alias = a, Reason = parse.GetValue(reason) }, ct);
            var now = await c.WaitForAliasAsync(p, a, x => x == previous, ct);
            await stdout.WriteLineAsync($"{p}/{a}: version {history[0].Version} → {now}");
            return 0;
        });
        return command;
    }
}

/// <summary>The registry, store and (for commands) bus the operator commands use.</summary>
sealed class PipelineConnection
{
    public required RunRegistry Registry { get; init; }
    public required IArtifactStore Store { get; init; }
    public required bool Distributed { get; init; }
    public string? RabbitMq { get; init; }
    public required string Home { get; init; }

    public static PipelineConnection From(string? homeOption)
    {
        bool local = homeOption is not null || Environment.GetEnvironmentVariable("FINETUNE_POSTGRES") is not { Length: > 0 };
        var pg = local ? null : Environment.GetEnvironmentVariable("FINETUNE_POSTGRES");
        var s3 = local ? null : Environment.GetEnvironmentVariable("FINETUNE_S3_ENDPOINT");
        var home = Path.GetFullPath(homeOption ?? ".finetune");
        return new PipelineConnection
        {
            Registry = RunRegistry.Create(pg is { Length: > 0 } ? new RegistryOptions("postgres", pg)
                : new RegistryOptions("sqlite", $"Data Source={Path.Combine(home, "registry.db")}")),
            Store = new ArtifactStoreOptions
            {
                S3Endpoint = s3,
                S3AccessKey = Environment.GetEnvironmentVariable("FINETUNE_S3_ACCESS_KEY") ?? "",
                S3SecretKey = Environment.GetEnvironmentVariable("FINETUNE_S3_SECRET_KEY") ?? "",
                BucketPrefix = Environment.GetEnvironmentVariable("FINETUNE_S3_BUCKET_PREFIX"),
                LocalDirectory = Path.Combine(home, "artifacts"),
            }.Create(),
            Distributed = s3 is { Length: > 0 },
            RabbitMq = !local && Environment.GetEnvironmentVariable("FINETUNE_RABBITMQ") is { Length: > 0 } r ? r : null,
            Home = home,
        };
    }

    /// <summary>Publishes a command: over RabbitMQ to the Deployment service, or to a local Deployment consumer.</summary>
    public async Task SendAsync<T>(T message, CancellationToken ct) where T : class
    {
        if (RabbitMq is { } uri)
        {
            var bus = Bus.Factory.CreateUsingRabbitMq(cfg => cfg.Host(new Uri(uri)));
            await bus.StartAsync(ct);
            try { await bus.Publish(message, ct); }
            finally { await bus.StopAsync(CancellationToken.None); }
            return;
        }
        await using var local = await LocalPipeline.StartAsync(Home, stages: PipelineStages.Deployment, ct: ct);
        await local.Services.GetRequiredService<IBus>().Publish(message, ct);
        await Task.Delay(TimeSpan.FromSeconds(1), ct);   // the in-memory consumer runs before the host stops
    }

    public async Task<int?> WaitForAliasAsync(string project, string alias, Func<int?, bool> done, CancellationToken ct)
    {
        for (int i = 0; i < 60; i++)
        {
            var v = await Registry.ReadAsync(s => s.GetAliasAsync(project, alias, ct), ct);
            if (done(v)) return v;
            await Task.Delay(500, ct);
        }
        throw new TimeoutException($"{project}/{alias} did not change within 30 s: is the Deployment service running?");
    }
}
