// A project's output quality and label drift over the real HTTP server and registry, outside any release: version 2
// is promoted with settings whose output schema wants a JSON object and a training set labelled by category. Answers
// that are objects (response_format) under training categories keep every number quiet; plain-text answers under
// categories training never had raise the invalid rate and the unseen-label share past their thresholds (a rule with a
// window of its own judges only the newest requests); thumbs down
// on the version's answers pull the feedback score under its threshold (an alert that fires downward) and thumbs up
// bring it back, which resolves it.
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using FineTune.Pipeline.Serving;
using Microsoft.Extensions.DependencyInjection;

namespace FineTune.Pipeline.Tests;

public sealed class OutputQualityTests
{
    static readonly string[] Trained = ["refund", "shipping", "account"];
    static readonly string[] Words = ("my order parcel card password login refund late broken charged twice where " +
        "is the please help need account locked address change email box arrived damaged wrong size item return")
        .Split(' ');

    [Fact]
    public async Task Invalid_answers_unseen_labels_and_low_ratings_fire_their_alerts_and_recover()
    {
        await using var d = await DeploymentHost.StartAsync(new()
        {
            ["Drift:Window"] = "40", ["Drift:MinPrompts"] = "20", ["Drift:MinRatings"] = "10",
            ["Drift:CheckSeconds"] = "3600",
            ["Alerts:Rules:0:Metric"] = "quality.invalid_rate", ["Alerts:Rules:0:Threshold"] = "0.05",
            ["Alerts:Rules:1:Metric"] = "quality.feedback_score", ["Alerts:Rules:1:Threshold"] = "0.5",
            ["Alerts:Rules:2:Metric"] = "drift.unseen_labels", ["Alerts:Rules:2:Threshold"] = "0.1",
            ["Alerts:Rules:3:Metric"] = "drift.label_shift", ["Alerts:Rules:3:Threshold"] = "0.3",
            // a rule over the newest 20 requests only: all of them invalid, while half of the whole window is
            ["Alerts:Rules:4:Metric"] = "quality.invalid_rate", ["Alerts:Rules:4:Threshold"] = "0.9",
            ["Alerts:Rules:4:Window"] = "20",
            ["Recording:Projects:0"] = "p",
        });
        await RecordClassifierDataAsync(d);
        var schema = JsonDocument.Parse("""{"type": "object"}""").RootElement;
        await d.PromoteAsync(2, new ReleaseSettings { OutputSchema = schema });
        var lineage = await d.Registry.ReadAsync(s => s.ListLineageAsync(d.Runs[1]));
        Assert.Contains(lineage, e => e.Relation == "configured" && e.To.Key == "deployments/p/production/v2");
        var monitor = d.Services.GetRequiredService<DriftMonitor>();

        var ids = new List<string>();
        for (int i = 0; i < 20; i++)
            ids.Add(await AskAsync(d, Trained[i % 3], json: true));
        await monitor.CheckAsync(default);
        Assert.Equal(0.0, monitor.Quality("p")!.InvalidRate);
        Assert.Equal((20, 0.0), (monitor.Labels("p")!.Labels, monitor.Labels("p")!.UnseenLabels));
        Assert.True(monitor.Labels("p")!.LabelShift < 0.1, monitor.Labels("p")!.ToString());
        Assert.Null(monitor.Quality("p")!.FeedbackScore);                 // no ratings yet
        Assert.Empty(monitor.Alerts);

        for (int i = 0; i < 20; i++)
            ids.Add(await AskAsync(d, i % 2 == 0 ? "billing" : "warranty", json: false));
        await monitor.CheckAsync(default);
        Assert.Equal(0.5, monitor.Quality("p")!.InvalidRate);             // the 20 plain answers of the last 40
        Assert.Equal(0.5, monitor.Labels("p")!.UnseenLabels);
        Assert.True(monitor.Labels("p")!.LabelShift > 0.45, monitor.Labels("p")!.ToString());
        Assert.Equal(["drift.label_shift", "drift.unseen_labels", "quality.invalid_rate", "quality.invalid_rate"],
            monitor.Alerts.Where(a => a.Firing).Select(a => a.Metric).Order().ToArray());
        Assert.Equal([(40, 0.5, 0.05), (20, 1.0, 0.9)], monitor.Alerts.Where(a => a.Metric == "quality.invalid_rate")
            .Select(a => (a.Prompts, a.Value, a.Threshold)).OrderBy(a => a.Prompts).Reverse().ToArray());

        foreach (var id in ids.Take(10))
            await RateAsync(d, id, "down");
        await monitor.CheckAsync(default);
        Assert.Equal((10, 0.0), (monitor.Quality("p")!.Ratings, monitor.Quality("p")!.FeedbackScore));
        var low = Assert.Single(monitor.Alerts, a => a.Metric == "quality.feedback_score");
        Assert.True(low.Firing);
        var events = await d.Registry.ReadAsync(s => s.ListEventsAsync(d.Runs[1]));
        Assert.Contains(events, e => e.Level == "warn"
            && e.Message.StartsWith("quality alert: quality.feedback_score is 0, under 0.5"));

        foreach (var id in ids.Skip(10).Take(30))
            await RateAsync(d, id, "up");
        await monitor.CheckAsync(default);
        Assert.Equal(0.75, monitor.Quality("p")!.FeedbackScore);
        Assert.False(monitor.Alerts.Last(a => a.Metric == "quality.feedback_score").Firing);
        events = await d.Registry.ReadAsync(s => s.ListEventsAsync(d.Runs[1]));
        Assert.Contains(events, e => e.Message.StartsWith(
            "quality resolved: quality.feedback_score is 0.75, back above 0.5"));
    }

    static async Task<string> AskAsync(DeploymentHost d, string category, bool json)
    {
        var body = new Dictionary<string, object>
        {
            ["model"] = "p", ["prompt"] = "my order is late", ["temperature"] = 0,
            ["max_tokens"] = json ? 12 : 2, ["metadata"] = new { category, customer_tier = "gold" },
        };
        if (json)
            body["response_format"] = new { type = "json_object" };
        using var response = await d.Http.PostAsJsonAsync("v1/completions", body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return JsonDocument.Parse(text).RootElement.GetProperty("id").GetString()!;
    }

    static async Task RateAsync(DeploymentHost d, string id, string rating)
    {
        using var rated = await d.Http.PostAsJsonAsync("v1/feedback", new { completion_id = id, rating });
        Assert.Equal(HttpStatusCode.OK, rated.StatusCode);
    }

    // v2 was trained on a support classifier: each prompt answered with its category (a "category" field).
    static Task RecordClassifierDataAsync(DeploymentHost d)
    {
        var random = new Random(5);
        return d.RecordDatasetAsync(2, Enumerable.Range(0, 300).Select(i => (object)new
        {
            prompt = string.Join(' ', Enumerable.Range(0, 9).Select(_ => Words[random.Next(Words.Length)])),
            completion = Trained[i % 3],
            category = Trained[i % 3],
        }));
    }
}
