// POST /projects/{project}/sample: drops the shipped support-ticket sample into ingestion/<project>/, as
// `finetune data demo` + `finetune upload` would; the bucket scan starts its run. The AppHost's "Drop the sample
// dataset" command calls it. The same seed gives the same file, which the pipeline recognises and does not run twice.
using FineTune.Artifacts;
using FineTune.Contracts;
using FineTune.Demo;

static class SampleDrop
{
    public static IEndpointRouteBuilder MapSampleDrop(this IEndpointRouteBuilder app)
    {
        app.MapPost("/projects/{project}/sample", async (IArtifactStore store, string project, int? seed, int? train,
            CancellationToken ct) =>
        {
            string name;
            try
            {
                name = ResourceNames.Validate(project, "project");
            }
            catch (ArgumentException e)
            {
                return Results.BadRequest(new { error = e.Message });
            }
            var count = train ?? 400;
            if (count is < 10 or > 20_000)
                return Results.BadRequest(new { error = $"train must be between 10 and 20000 examples; got {count}" });
            var dir = Directory.CreateTempSubdirectory("finetune-sample-");
            try
            {
                await SupportTickets.WriteAsync(dir.FullName, count, testCount: 0, seed ?? 7, ct);
                await store.EnsureBucketsAsync([Buckets.Ingestion], ct);
                var artifact = await store.PutFileAsync(Buckets.Ingestion, $"{name}/sample-seed{seed ?? 7}.jsonl",
                    Path.Combine(dir.FullName, "train.jsonl"), ct);
                return Results.Accepted(value: new { artifact.Bucket, artifact.Key, artifact.Bytes, artifact.Sha256 });
            }
            finally
            {
                dir.Delete(recursive: true);
            }
        }).WithTags("ingestion");
        return app;
    }
}
