// finetune runs [--project P] [--watch]: the pipeline's runs with status, current stage, latest metrics and decision.
// --watch follows them until they end: it first waits for the run of the file `finetune upload` just dropped (the
// services pick a drop up within their scan interval), then redraws a live table on a terminal, or prints a line per
// change elsewhere (CI, a log file).
using System.CommandLine;
using FineTune.Contracts;
using FineTune.Registry;
using Spectre.Console;

namespace FineTune.Cli.Commands;

static class RunsCommand
{
    public static Command Create(TextWriter stdout)
    {
        var project = new Option<string?>("--project") { Description = "Only this project's runs" };
        var watch = new Option<bool>("--watch")
        {
            Description =
                "Follow the runs until they end, starting with the run of the last `finetune upload` (Ctrl-C stops " +
            "watching)"
        };
        var limit = new Option<int>("--limit") { DefaultValueFactory = _ => 20 };
        var wait = new Option<int>("--wait-seconds")
        {
            Description =
                "With --watch: how long to wait for the uploaded file's run to start", DefaultValueFactory = _ => 300
        };
        var home = PipelineConnection.HomeOption();
        var command = new Command("runs",
            "List pipeline runs: status, current stage, latest metrics, decision.") { project, watch, limit, wait,
            home };
        command.SetAction(async (parse, ct) =>
        {
            var c = PipelineConnection.From(parse.GetValue(home));
            await c.Registry.MigrateAsync(ct);
            string? only = parse.GetValue(project) is { } given ? ResourceNames.Validate(given, "--project") : null;
            Task<IReadOnlyList<Row>> Read() => ReadRowsAsync(c.Registry, only, parse.GetValue(limit), ct);
            if (!parse.GetValue(watch))
            {
                await stdout.WriteAsync(Table(await Read()));
                return 0;
            }
            if (c.Distributed && LastUpload.Read(c.Home) is { } upload && (only is null || only == upload.Project))
                await WaitForRunAsync(c.Registry, upload, TimeSpan.FromSeconds(parse.GetValue(wait)), stdout, ct);
            bool terminal = ReferenceEquals(stdout, System.Console.Out) && !System.Console.IsOutputRedirected;
            return terminal ? await LiveAsync(Read, ct) : await LinesAsync(Read, stdout, ct);
        });
        return command;
    }

    sealed record Row(RunRecord Run, string Stage, string Metric)
    {
        public string Line =>
            $"{Run.RunId,-36}  {Run.Project,-14} {Run.Status,-16} {Stage,-22} {Run.Decision ?? "",-9} " +
                              $"{Run.ModelVersion?.ToString() ?? "",7}  " +
                                  $"{Metric}{(Run.Error is null ? "" : $" {Run.Error}")}";
    }

    const string Header =
        "run                                   project        status           stage                  decision  " +
        "version  latest";

    static async Task<IReadOnlyList<Row>> ReadRowsAsync(RunRegistry registry, string? project, int limit,
        CancellationToken ct) =>
        await registry.ReadAsync(async s =>
        {
            var list = new List<Row>();
            foreach (var r in await s.ListRunsAsync(project, limit, ct))
            {
                var stage = (await s.ListStagesAsync(r.RunId, ct)).LastOrDefault();
                var metric = (await s.ListEventsAsync(r.RunId, 0, 100000,
                    ct)).LastOrDefault(e => e.Type == "metrics")?.Message ?? "";
                list.Add(new Row(r, stage is null ? "" : $"{stage.Stage} {stage.Status}", metric));
            }
            return (IReadOnlyList<Row>)list;
        }, ct);

    static string Table(IReadOnlyList<Row> rows) =>
        string.Join("", new[] { Header }.Concat(rows.Select(r => r.Line)).Select(l => l + Environment.NewLine));

    // The uploaded object becomes a run when the Ingestion service's scan (or a bucket notification) claims it.
    static async Task WaitForRunAsync(RunRegistry registry, LastUpload upload, TimeSpan patience, TextWriter stdout,
        CancellationToken ct)
    {
        bool said = false;
        var deadline = DateTimeOffset.UtcNow + patience;
        while (true)
        {
            var claimed = (await registry.ReadAsync(s => s.ListRawObjectsAsync(upload.Project, ct), ct))
                .FirstOrDefault(o => o.Key == upload.Key && o.Sha256 == upload.Sha256);
            if (claimed is not null)
            {
                if (said)
                    await stdout.WriteLineAsync($"run {claimed.RunId} started for {upload.Bucket}/{upload.Key}");
                return;
            }
            if (DateTimeOffset.UtcNow > deadline)
                throw new TimeoutException($"no run started for {upload.Bucket}/{upload.Key} within " +
                    $"{patience.TotalSeconds:0} s of waiting: " +
                                           "is the Ingestion service running (scripts/pipeline-start.sh) and " +
                                               "pointed at the same servers?");
            if (!said)
            {
                await stdout.WriteLineAsync($"waiting for the pipeline to pick up {upload.Bucket}/{upload.Key} …");
                said = true;
            }
            await Task.Delay(1000, ct);
        }
    }

    static bool AllEnded(IReadOnlyList<Row> rows) => rows.All(r => RunStatus.IsTerminal(r.Run.Status));

    // Not a terminal: the table once, then one line per run whose row changed, until every listed run has ended.
    static async Task<int> LinesAsync(Func<Task<IReadOnlyList<Row>>> read, TextWriter stdout, CancellationToken ct)
    {
        var rows = await read();
        await stdout.WriteAsync(Table(rows));
        var shown = rows.ToDictionary(r => r.Run.RunId, r => r.Line);
        while (!AllEnded(rows))
        {
            await Task.Delay(2000, ct);
            rows = await read();
            foreach (var row in rows.Where(r => shown.GetValueOrDefault(r.Run.RunId) != r.Line))
            {
                shown[row.Run.RunId] = row.Line;
                await stdout.WriteLineAsync(row.Line);
            }
        }
        return 0;
    }

    // A terminal: one table redrawn in place every 2 s.
    static async Task<int> LiveAsync(Func<Task<IReadOnlyList<Row>>> read, CancellationToken ct)
    {
        var rows = await read();
        await AnsiConsole.Live(Render(rows)).StartAsync(async live =>
        {
            while (!AllEnded(rows))
            {
                await Task.Delay(2000, ct);
                rows = await read();
                live.UpdateTarget(Render(rows));
            }
        });
        return 0;
    }

    static Table Render(IReadOnlyList<Row> rows)
    {
        var table = new Table().AddColumns("run", "project", "status", "stage", "decision", "version", "latest");
        foreach (var r in rows)
            table.AddRow(Markup.Escape(r.Run.RunId.ToString()), Markup.Escape(r.Run.Project),
                Markup.Escape(r.Run.Status), Markup.Escape(r.Stage),
                Markup.Escape(r.Run.Decision ?? ""), r.Run.ModelVersion?.ToString() ?? "",
                    Markup.Escape(r.Metric + (r.Run.Error is null ? "" : $" {r.Run.Error}")));
        return table;
    }
}

/// <summary>What `finetune upload` dropped last (HOME/last-upload.json), so `finetune runs --watch` can wait for its
/// run.</summary>
sealed record LastUpload(string Project, string Bucket, string Key, string Sha256, DateTimeOffset UploadedAt)
{
    const string FileName = "last-upload.json";

    public static LastUpload? Read(string home)
    {
        var path = Path.Combine(home, FileName);
        if (!File.Exists(path))
            return null;
        try
        {
            return System.Text.Json.JsonSerializer.Deserialize<LastUpload>(File.ReadAllText(path));
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    public void Write(string home)
    {
        Directory.CreateDirectory(home);
        File.WriteAllText(Path.Combine(home, FileName), System.Text.Json.JsonSerializer.Serialize(this));
    }
}
