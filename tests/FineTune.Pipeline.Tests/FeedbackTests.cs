// Production feedback over the real HTTP server and registry: a project that opted in has its answers recorded (PII
// redacted, with the version that answered); POST /v1/feedback rates one (thumbs or stars, a correction, a comment);
// the feedback exports as SFT, preference and KTO data that the data stages accept whole; and an export over the
// policy's threshold lands in the ingestion bucket, where it starts a run whose lineage begins at the feedback.
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using FineTune.Contracts;
using FineTune.Data;
using FineTune.Pipeline.Feedback;
using FineTune.Pipeline.Ingestion;
using FineTune.Pipeline.Serving;
using Microsoft.Extensions.DependencyInjection;

namespace FineTune.Pipeline.Tests;

public sealed class FeedbackTests
{
    static async Task<(string Id, string[] Answers)> ChatAsync(DeploymentHost d, string content, int seed)
    {
        using var response = await d.Http.PostAsJsonAsync("v1/chat/completions", new
        {
            model = "p", n = 2, temperature = 1, seed, max_tokens = 8,
            messages = new[] { new { role = "user", content } },
        });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        return (json.GetProperty("id").GetString()!, [.. json.GetProperty("choices").EnumerateArray()
            .Select(c => c.GetProperty("message").GetProperty("content").GetString()!)]);
    }

    static async Task<HttpResponseMessage> RateAsync(DeploymentHost d, object body) =>
        await d.Http.PostAsJsonAsync("v1/feedback", body);

    [Fact]
    public async Task Feedback_on_recorded_answers_exports_as_training_data_and_starts_a_run()
    {
        await using var d = await DeploymentHost.StartAsync(new()
        {
            ["Recording:Projects:0"] = "p", ["Feedback:Export:MinCount"] = "2",
        }, ingestion: true);
        var a = await ChatAsync(d, "my mail is ann@example.com, where is my parcel?", 1);
        var b = await ChatAsync(d, "the cat sat on the mat", 2);

        foreach (var (body, status) in new (object, HttpStatusCode)[]
        {
            (new { completion_id = a.Id, rating = "up" }, HttpStatusCode.OK),
            (new { completion_id = a.Id, choice = 1, rating = "down", correction = "It ships today.",
                comment = "wrong" }, HttpStatusCode.OK),
            (new { completion_id = b.Id, rating = 5, correction = "A cat sat." }, HttpStatusCode.OK),
            (new { completion_id = b.Id, choice = 1, rating = 1 }, HttpStatusCode.OK),
            (new { completion_id = "chatcmpl-nothing", rating = "up" }, HttpStatusCode.NotFound),
            (new { completion_id = a.Id, rating = "meh" }, HttpStatusCode.BadRequest),
            (new { completion_id = a.Id, rating = 6 }, HttpStatusCode.BadRequest),
        })
        {
            using var response = await RateAsync(d, body);
            Assert.True(status == response.StatusCode, await response.Content.ReadAsStringAsync());
            if (status != HttpStatusCode.OK)
            {
                var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement
                    .GetProperty("error");
                Assert.Equal(status == HttpStatusCode.NotFound ? "completion_id" : "rating",
                    error.GetProperty("param").GetString());
            }
        }

        // recorded with the version that answered, the e-mail redacted
        var (requests, feedback) = await d.Registry.ReadAsync(async s =>
            (await s.ListServedRequestsAsync("p"), await s.ListFeedbackAsync("p")));
        Assert.Equal(4, requests.Count);
        Assert.All(requests, r => Assert.Equal(1, r.Version));
        Assert.Contains(requests, r => r.Prompt.Contains("[EMAIL]"));
        Assert.DoesNotContain(requests, r => r.Prompt.Contains("ann@example.com"));
        Assert.Equal(a.Answers[1], requests.Single(r => r.Id == a.Id && r.Choice == 1).Answer);
        Assert.Equal([1.0, 0.0, 1.0, 0.0], feedback.Select(f => f.Rating).ToArray());

        // SFT from the corrections, preference pairs, KTO from the clear ratings: all accepted by the data stages
        var data = FeedbackExport.Build(feedback, requests);
        Assert.Equal((2, 2, 4), (data.Sft.Count, data.Preference.Count, data.Kto.Count));
        using var tmp = new TempDir();
        await FeedbackExport.WriteAsync(data, tmp.Path, default);
        foreach (var kind in Enum.GetValues<FeedbackKind>())
        {
            var result = await DatasetPreparer.PrepareAsync(Path.Combine(tmp.Path, FeedbackDatasets.FileName(kind)),
                Path.Combine(tmp.Path, $"prepared-{kind}"),
                new PrepareOptions { ExactDuplicates = false, MinExamples = 1 });
            Assert.Equal(0, result.Counts.Rejected);
            Assert.Equal(data.Of(kind).Count, result.Counts.Input);
        }
        var sft = JsonDocument.Parse(data.Sft[0]).RootElement.GetProperty("messages");
        Assert.Equal("It ships today.", sft[sft.GetArrayLength() - 1].GetProperty("content").GetString());

        // the policy: 2 SFT examples reach the threshold, the file lands in the ingestion prefix and starts a run
        var exporter = d.Services.GetRequiredService<FeedbackExporter>();
        var key = Assert.Single(await exporter.ExportDueAsync(default));
        Assert.Matches(@"^p/feedback-\d{8}-\d{6}-sft\.jsonl$", key);
        Assert.Empty(await exporter.ExportDueAsync(default));      // exported feedback is not exported twice
        Assert.All(await d.Registry.ReadAsync(s => s.ListFeedbackAsync("p")), f => Assert.Equal(key, f.ExportKey));
        var started = await d.Services.GetRequiredService<BucketWatcher>().ScanAsync(default);
        var run = (await d.Registry.ReadAsync(s => s.ListRunsAsync("p"))).SingleOrDefault(r => r.SourceKey == key);
        Assert.True(run is not null, $"no run for {key} ({started.Count} started); the host logged:\n{d.Logs}");
        Assert.Equal("feedback", run!.Trigger);
        var lineage = await d.Registry.ReadAsync(s => s.ListLineageAsync(run.RunId));
        Assert.Contains(lineage, e => e.From == BucketWatcher.FeedbackRef("p") && e.To.Key == key);
    }
}
