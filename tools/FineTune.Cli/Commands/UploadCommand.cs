// `finetune upload FILE --project P`: drops a dataset into ingestion/<project>/; the pipeline starts a run on its own.
// Where: the services' servers or a local pipeline home (PipelineConnection).
using System.CommandLine;
using FineTune.Contracts;

namespace FineTune.Cli.Commands;

static class UploadCommand
{
    public static Command Create(TextWriter stdout)
    {
        var file = new Argument<string>("file") { Description = "Dataset file to drop into the ingestion bucket" };
        var project = new Option<string>("--project")
        {
            Description = "Project (the bucket prefix); a new file for a project retrains it", Required = true
        };
        var home = PipelineConnection.HomeOption();
        var command = new Command("upload",
            "Drop a dataset into ingestion/<project>/: the pipeline starts a run on its own.") { file, project, home };
        command.SetAction(async (parse, ct) =>
        {
            var c = PipelineConnection.From(parse.GetValue(home));
            var path = parse.GetValue(file)!;
            if (!File.Exists(path))
                throw new FileNotFoundException($"dataset file not found: '{path}'.", path);
            var p = ResourceNames.Validate(parse.GetValue(project), "--project");
            await c.Store.EnsureBucketsAsync([Buckets.Ingestion], ct);
            var artifact = await c.Store.PutFileAsync(Buckets.Ingestion, $"{p}/{Path.GetFileName(path)}", path, ct);
            await stdout.WriteLineAsync($"uploaded {artifact.Bucket}/{artifact.Key} ({artifact.Bytes:N0} bytes, " +
                $"sha256 {artifact.Sha256[..12]}…)");
            if (c.Distributed)
                new LastUpload(p, artifact.Bucket, artifact.Key, artifact.Sha256,
                DateTimeOffset.UtcNow).Write(c.Home);
            if (!c.Distributed)
                await stdout.WriteLineAsync("note: no services are configured (FINETUNE_S3_ENDPOINT unset); " +
                    "`finetune run FILE` runs the pipeline locally.");
            return 0;
        });
        return command;
    }
}
