// A dataset dropped on the console's upload page: staged under the work directory (uploads/<id>/, never in the
// pipeline), checked by the data stages' own validation (format, per-record problems by code with examples), shown to
// the person, and only on their word put into ingestion/<project>/<file>, where the pipeline starts a run as for any
// drop. Names are checked (project: ResourceNames; file: its last segment, safe characters only), sizes limited, a
// staged upload is addressed by a random id only, and stale ones are deleted.
using System.Text.Json;
using System.Text.RegularExpressions;
using FineTune.Artifacts;
using FineTune.Contracts;
using FineTune.Data.Ingestion;
using FineTune.Pipeline;
using Microsoft.Extensions.Options;

namespace FineTune.Console;

/// <summary>One problem code with how many records had it and up to three examples (line, field, reason).</summary>
public sealed record UploadProblem(string Code, long Records, IReadOnlyList<(long Line, string? Field, string Reason)>
    Examples);

/// <summary>What the validation found in a staged upload; Ok and Verdict: whether it may enter the pipeline.</summary>
public sealed record UploadCheck(Guid Id, string Project, string FileName, long Bytes, string? Format, long Records,
    long Accepted, long Rejected, IReadOnlyList<UploadProblem> Problems, IReadOnlyList<string> Warnings, bool Ok,
    string Verdict);

public sealed partial class Uploads(IOptions<PipelineOptions> pipeline, ConsoleOptions options, IArtifactStore store)
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { IncludeFields = true };
    string Root => Path.Combine(Path.GetFullPath(pipeline.Value.WorkDirectory), "uploads");

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
    private static partial Regex SafeName();

    /// <summary>Stages <paramref name="content"/> and validates it.</summary>
    public async Task<UploadCheck> StageAsync(string project, string fileName, Stream content, CancellationToken ct)
    {
        project = ResourceNames.Validate(project, "project");
        var name = Path.GetFileName(fileName.Replace('\\', '/'));
        if (!SafeName().IsMatch(name))
            throw new ArgumentException($"file name '{name[..Math.Min(name.Length, 40)]}': use letters, digits, '.', " +
                "'_' or '-' (at most 128, starting with a letter or digit).");
        Sweep();
        var id = Guid.NewGuid();
        var dir = Path.Combine(Root, id.ToString("N"));
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, name);
        long limit = (long)(options.MaxUploadMegabytes * 1024 * 1024);
        await using (var file = File.Create(path))
        {
            var buffer = new byte[81920];
            long total = 0;
            for (int n; (n = await content.ReadAsync(buffer, ct)) > 0;)
            {
                total += n;
                if (total > limit)
                {
                    file.Close();
                    Directory.Delete(dir, recursive: true);
                    throw new ArgumentException($"the file is larger than {options.MaxUploadMegabytes:0} MB " +
                        "(Console:MaxUploadMegabytes).");
                }
                await file.WriteAsync(buffer.AsMemory(0, n), ct);
            }
        }
        var report = new ValidationReport();
        await foreach (var item in DatasetReader.ReadAsync(path, new ReadOptions(), ct))
            report.Add(item);
        // the limits the ingestion stage applies by default (a project's settings may loosen them)
        var defaults = new FineTune.Data.PrepareOptions();
        var verdict = report.Passed(defaults.MaxRejectRatio, defaults.MinExamples);
        var check = new UploadCheck(id, project, name, new FileInfo(path).Length,
            report.Detection is { } d ? $"{d.Format} in {d.Container}" : null, report.InputRecords,
            report.AcceptedRecords, report.RejectedRecords,
            [.. report.RejectedByCode.OrderByDescending(kv => kv.Value).Select(kv => new UploadProblem(kv.Key,
                kv.Value, [.. (report.Examples.GetValueOrDefault(kv.Key) ?? []).Take(3)
                    .Select(r => (r.Line, r.Field, r.Reason))]))],
            report.Warnings, verdict.Ok, verdict.Message);
        await File.WriteAllTextAsync(Path.Combine(dir, "check.json"), JsonSerializer.Serialize(check, Json), ct);
        return check;
    }

    public async Task<UploadCheck?> ReadAsync(Guid id, CancellationToken ct)
    {
        var path = Path.Combine(Root, id.ToString("N"), "check.json");
        return File.Exists(path)
            ? JsonSerializer.Deserialize<UploadCheck>(await File.ReadAllTextAsync(path, ct), Json) : null;
    }

    /// <summary>Puts a checked upload into the ingestion bucket (the pipeline takes it from there) and forgets it.
    /// </summary>
    public async Task<ArtifactRef> SubmitAsync(Guid id, CancellationToken ct)
    {
        var check = await ReadAsync(id, ct) ?? throw new FileNotFoundException("this upload is not staged (it was " +
            "submitted, or it expired); upload the file again.");
        if (!check.Ok)
            throw new InvalidOperationException($"{check.FileName} did not pass validation: {check.Verdict}");
        var dir = Path.Combine(Root, id.ToString("N"));
        await store.EnsureBucketsAsync([Buckets.Ingestion], ct);
        var artifact = await store.PutFileAsync(Buckets.Ingestion, $"{check.Project}/{check.FileName}",
            Path.Combine(dir, check.FileName), ct);
        Directory.Delete(dir, recursive: true);
        return artifact;
    }

    // Staged uploads nobody submitted are deleted after a day.
    void Sweep()
    {
        if (!Directory.Exists(Root))
            return;
        foreach (var dir in Directory.GetDirectories(Root))
            if (Directory.GetLastWriteTimeUtc(dir) < DateTime.UtcNow.AddDays(-1))
                Directory.Delete(dir, recursive: true);
    }
}
