// Input drift over the real HTTP server and registry: the production version's dataset carries a prompt profile in
// its data card; prompts like the training data keep every drift score under its threshold, a stream of prompts from
// another distribution (shorter, another script, other words) raises all three past their thresholds and fires each
// alert once — a warning event on the production version's run and a POST to the rule's webhook; a failed answer
// raises the error rate past the 0.1% service level and fires its alert.
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using FineTune.Pipeline.Serving;
using Microsoft.Extensions.DependencyInjection;

namespace FineTune.Pipeline.Tests;

public sealed class DriftTests
{
    static readonly string[] Words = ("the a cat dog sat ran on mat park sun moon tree bird sang happy little big " +
        "red blue green story time once upon day night").Split(' ');

    static string Story(Random random) =>
        string.Join(' ', Enumerable.Range(0, random.Next(4, 9)).Select(_ => Words[random.Next(Words.Length)]));

    // shorter, another script, other words (within the test model's 96 positions)
    static readonly string[] Russian =
        ("где мой заказ посылка деньги " +
            "возврат доставка неделя номер").Split(' ');

    static string Other(Random random) =>
        string.Join(' ', Enumerable.Range(0, random.Next(2, 4)).Select(_ => Russian[random.Next(Russian.Length)]));

    [Fact]
    public async Task Prompts_from_another_distribution_raise_drift_and_fire_the_alerts_once()
    {
        using var hook = new HttpListener();
        int port = FreePorts.Next();
        hook.Prefixes.Add($"http://127.0.0.1:{port}/hook/");
        hook.Start();
        var posts = new List<JsonElement>();
        var listening = Task.Run(async () =>
        {
            while (hook.IsListening)
            {
                var context = await hook.GetContextAsync();
                using var reader = new StreamReader(context.Request.InputStream);
                var body = JsonDocument.Parse(await reader.ReadToEndAsync()).RootElement.Clone();
                lock (posts)
                    posts.Add(body);
                context.Response.StatusCode = 204;
                context.Response.Close();
            }
        });

        await using var d = await DeploymentHost.StartAsync(new()
        {
            ["Drift:Window"] = "100", ["Drift:MinPrompts"] = "50", ["Drift:CheckSeconds"] = "3600",
            ["Alerts:Rules:0:Metric"] = "drift.prompt_length_psi", ["Alerts:Rules:0:Threshold"] = "0.25",
            ["Alerts:Rules:1:Metric"] = "drift.word_js", ["Alerts:Rules:1:Threshold"] = "0.3",
            ["Alerts:Rules:2:Metric"] = "drift.script_shift", ["Alerts:Rules:2:Threshold"] = "0.2",
            ["Alerts:Rules:2:Webhook"] = $"http://127.0.0.1:{port}/hook/",
            ["Alerts:Rules:3:Metric"] = "quality.error_rate", ["Alerts:Rules:3:Threshold"] = "0.001",
            ["Alerts:Rules:3:Project"] = "p", ["Alerts:Rules:3:Retrain"] = "true",
            ["Recording:Projects:0"] = "p",
        });
        await RecordTrainingDataAsync(d);
        var monitor = d.Services.GetRequiredService<DriftMonitor>();
        var random = new Random(4);

        await AskAllAsync(d, Enumerable.Range(0, 100).Select(_ => Story(random)));
        await monitor.CheckAsync(default);
        var same = monitor.Scores("p")!;
        Assert.True(same.LengthPsi < 0.25 && same.WordJs < 0.3 && same.ScriptShift < 0.2, same.ToString());
        Assert.Empty(monitor.Alerts);
        var quality = monitor.Quality("p")!;                    // the service levels of the same requests
        Assert.Equal((100, 0.0, 0.0), (quality.Requests, quality.ErrorRate, quality.ScreenRate));
        Assert.InRange(quality.LatencyP95Ms, 0.01, 60_000);

        await AskAllAsync(d, Enumerable.Range(0, 100).Select(_ => Other(random)));
        await monitor.CheckAsync(default);
        var moved = monitor.Scores("p")!;
        Assert.True(moved.LengthPsi > 0.25 && moved.WordJs > 0.3 && moved.ScriptShift > 0.2, moved.ToString());
        Assert.Equal(["drift.prompt_length_psi", "drift.script_shift", "drift.word_js"], monitor.Alerts
            .Where(a => a.Firing).Select(a => a.Metric).Order().ToArray());
        await monitor.CheckAsync(default);                      // still drifted: no second alert
        Assert.Equal(3, monitor.Alerts.Count);

        var events = await d.Registry.ReadAsync(s => s.ListEventsAsync(d.Runs[0]));
        Assert.Equal(3, events.Count(e => e.Level == "warn" && e.Message.StartsWith("drift alert: ")));

        // failed answers (server errors, a full queue) raise the error rate past the 0.1% service level: one alert,
        // and (the rule says retrain) the correction someone sent becomes a retraining run's data
        using (var answer = await d.Http.PostAsJsonAsync("v1/completions",
            new { model = "p", prompt = "the cat", max_tokens = 2, temperature = 0 }))
        {
            var id = JsonDocument.Parse(await answer.Content.ReadAsStringAsync()).RootElement.GetProperty("id")
                .GetString();
            using var rated = await d.Http.PostAsJsonAsync("v1/feedback",
                new { completion_id = id, rating = "down", correction = "the cat sat." });
            Assert.Equal(HttpStatusCode.OK, rated.StatusCode);
        }
        Assert.True(d.Catalog.TryResolve("p", out var production));
        monitor.Failed(production, TimeSpan.FromMilliseconds(5));
        await monitor.CheckAsync(default);
        Assert.Equal(0.01, monitor.Quality("p")!.ErrorRate, 6);          // 1 of the last 100
        var alert = Assert.Single(monitor.Alerts, a => a.Metric == "quality.error_rate");
        Assert.True(alert.Firing);
        events = await d.Registry.ReadAsync(s => s.ListEventsAsync(d.Runs[0]));
        Assert.Contains(events, e => e.Message.StartsWith("quality alert: quality.error_rate is 0.01, above 0.001")
            && e.Message.Contains("; retraining from the project's new feedback (p/feedback-"));
        var exported = await d.Registry.ReadAsync(s => s.ListFeedbackAsync("p"));
        Assert.StartsWith("p/feedback-", Assert.Single(exported).ExportKey);
        for (int i = 0; i < 100 && posts.Count == 0; i++)
            await Task.Delay(50);
        var post = Assert.Single(posts);
        Assert.Equal("drift.script_shift", post.GetProperty("metric").GetString());
        Assert.Equal("p", post.GetProperty("project").GetString());
        hook.Stop();
    }

    static async Task AskAllAsync(DeploymentHost d, IEnumerable<string> prompts)
    {
        foreach (var chunk in prompts.Chunk(25))
            await Task.WhenAll(chunk.Select(async prompt =>
            {
                using var response = await d.Http.PostAsJsonAsync("v1/completions",
                    new { model = "p", prompt, max_tokens = 1, temperature = 0 });
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }));
    }

    // v1 (production) was trained on short English stories: its run's dataset and data card, as ingestion leaves them.
    static Task RecordTrainingDataAsync(DeploymentHost d)
    {
        var random = new Random(3);
        return d.RecordDatasetAsync(1, Enumerable.Range(0, 300).Select(_ => (object)new
        {
            prompt = Story(random), completion = Story(random),
        }));
    }
}
