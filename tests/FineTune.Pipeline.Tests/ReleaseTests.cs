// Progressive releases over the real HTTP server and registry: a version that passed the gate under a canary policy
// answers a sticky share of callers; under shadow it answers every request in the background and is never returned;
// the live analysis rolls back a candidate that fails (its callers answered by production meanwhile) and promotes one
// that is no worse, each decision in the registry with its numbers; a canary's answer that fails the project's output
// schema is replaced by production's.
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using FineTune.Registry;
using FineTune.Serving.Releases;

namespace FineTune.Pipeline.Tests;

public sealed class ReleaseTests
{
    internal static async Task Until(Func<bool> condition, int seconds = 60)
    {
        for (var deadline = DateTime.UtcNow.AddSeconds(seconds); !condition(); await Task.Delay(50))
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException("condition not reached");
    }

    static async Task<(string Variant, bool Fallback, string Text)> AskAsync(DeploymentHost d, string user,
        string prompt = "the cat sat", int maxTokens = 1)
    {
        using var response = await d.Http.PostAsJsonAsync("v1/completions", new
        {
            model = "p", prompt, max_tokens = maxTokens, temperature = 0, user,
        });
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        var text = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement
            .GetProperty("choices")[0].GetProperty("text").GetString()!;
        // No variant header: no release was running when the request arrived (one decided while a round of
        // concurrent requests was in flight leaves the rest of the round to production alone).
        var variant = response.Headers.TryGetValues("x-finetune-variant", out var values) ? values.Single() : "none";
        return (variant, response.Headers.Contains("x-finetune-fallback"), text);
    }

    static async Task<ReleaseRecord> DecidedAsync(DeploymentHost d, int version, Func<int, Task> traffic)
    {
        for (int round = 0; round < 200; round++)
        {
            var release = (await d.Registry.ReadAsync(s => s.ListReleasesAsync("p"))).Single(r =>
                r.Version == version);
            if (release.Status != "running")
                return release;
            await traffic(round);
        }
        throw new TimeoutException($"the release of v{version} was never decided");
    }

    [Fact]
    public async Task A_canary_answers_a_sticky_fifth_of_callers()
    {
        await using var d = await DeploymentHost.StartAsync();
        await d.ReleaseAsync(2, new ReleaseSettings
        {
            Policy = ReleasePolicy.Canary, CanaryWeight = 0.2,
            MinRequests = 1_000_000
        });

        var variants = new List<(string Variant, bool Fallback, string Text)>();
        for (int batch = 0; batch < 1000; batch += 50)   // 50 at a time: within the server's queue
            variants.AddRange(await Task.WhenAll(Enumerable.Range(batch, 50).Select(i => AskAsync(d, $"caller-{i}"))));
        int candidate = variants.Count(v => v.Variant == "candidate");
        Assert.InRange(candidate, 150, 250);    // 200 ± 4σ of Binomial(1000, 0.2)
        for (int user = 0; user < 20; user++)
        {
            var seen = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => AskAsync(d, $"caller-{user}")));
            Assert.Single(seen.Select(s => s.Variant).Append(variants[user].Variant).Distinct());
        }
        Assert.Equal(candidate + variants.Take(20).Count(v => v.Variant == "candidate") * 5,
            d.Monitor.Numbers("p@v2", Variant.Candidate).Requests);
    }

    [Fact]
    public async Task A_failing_canary_is_rolled_back_and_a_sound_one_promoted_on_live_numbers()
    {
        await using var d = await DeploymentHost.StartAsync();
        var window = new ReleaseSettings { Policy = ReleasePolicy.Canary, CanaryWeight = 0.5, MinRequests = 40 };
        // v3 cannot take these prompts (10 positions): every request routed to it fails, and production answers
        const string longPrompt = "the cat sat on the mat and the dog ran in the park under the sun";
        await d.ReleaseAsync(3, window);
        int fallbacks = 0;
        var rolledBack = await DecidedAsync(d, 3, async round =>
        {
            var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
                AskAsync(d, $"r{round}-{i}", longPrompt)));
            Assert.All(answers.Where(a => a.Fallback), a => Assert.Equal("production", a.Variant));
            fallbacks += answers.Count(a => a.Fallback);
        });
        Assert.Equal("rolled_back", rolledBack.Status);
        Assert.Contains(rolledBack.Reasons!, r => r.StartsWith("error_rate: fail, candidate 100%"));
        var numbers = JsonNode.Parse(rolledBack.NumbersJson!)!;
        Assert.True(numbers["candidate"]!["errors"]!.GetValue<long>() >= 40);
        Assert.Equal(0, numbers["production"]!["errors"]!.GetValue<long>());
        Assert.True(fallbacks >= 40, $"{fallbacks} fallbacks");
        Assert.Equal(1, await d.Registry.ReadAsync(s => s.GetAliasAsync("p", "production")));
        Assert.Null(await d.Registry.ReadAsync(s => s.GetAliasAsync("p", "canary")));
        Assert.Equal("rolled_back", (await d.Registry.ReadAsync(s => s.GetRunAsync(d.Runs[2])))!.Decision);
        await Until(() => !d.Router.TryGet("p", out _) && !d.Catalog.TryResolve("p:canary", out _));

        await d.ReleaseAsync(2, window);
        var promoted = await DecidedAsync(d, 2, round => Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
            AskAsync(d, $"s{round}-{i}", longPrompt))));
        Assert.Equal("promoted", promoted.Status);
        Assert.All(promoted.Reasons!, r => Assert.Contains(": pass,", r));
        Assert.Equal(2, await d.Registry.ReadAsync(s => s.GetAliasAsync("p", "production")));
        await Until(() => d.Catalog.TryResolve("p", out var m) && m.Version == "p@v2" && !d.Router.TryGet("p", out _));
        var history = await d.Registry.ReadAsync(s => s.ListDeploymentsAsync("p", "production"));
        Assert.Equal([2, 1], history.Select(h => h.Version).ToArray());
        var events = await d.Registry.ReadAsync(s => s.ListEventsAsync(d.Runs[1]));
        Assert.Contains(events, e => e.Message.StartsWith("canary release of v2 promoted on live traffic"));
    }

    [Fact]
    public async Task A_shadow_answers_in_the_background_and_a_canary_failing_the_schema_falls_back()
    {
        await using var d = await DeploymentHost.StartAsync();
        await d.ReleaseAsync(2, new ReleaseSettings { Policy = ReleasePolicy.Shadow, MinRequests = 1_000_000 });
        var production = await Task.WhenAll(Enumerable.Range(0, 30).Select(i => AskAsync(d, $"u{i}",
            maxTokens: 6)));
        Assert.All(production, a => Assert.Equal("production", a.Variant));
        var direct = await AskVersionAsync(d, "p:v1");
        Assert.All(production, a => Assert.Equal(direct, a.Text));    // production's answer, never the shadow's
        await Until(() => d.Monitor.Numbers("p@v2", Variant.Candidate).Requests == 30);
        var shadow = d.Monitor.ShadowAnswers("p@v2");
        Assert.Equal(30, shadow.Count);
        Assert.Equal(await AskVersionAsync(d, "p:v2"), shadow[0]);    // the candidate's own answer, recorded
        Assert.NotEqual(direct, shadow[0]);

        // A canary under an output schema its plain-text answers do not meet (v3: the base model, no adapter):
        // every caller routed to it is answered by production, and the answer is counted invalid.
        await d.Registry.WriteAsync(s => s.DecideReleaseAsync("p", 2, "rolled_back", ["test"], "{}"));
        await d.Registry.WriteAsync(s => s.RemoveAliasAsync("p", "shadow", d.Runs[1], "test"));
        var schema = JsonDocument.Parse("""{"type": "object", "properties": {"a": {"type": "string"}}}""")
            .RootElement;
        await d.ReleaseAsync(3, new ReleaseSettings
        {
            Policy = ReleasePolicy.Canary, CanaryWeight = 0.5,
            MinRequests = 1_000_000, OutputSchema = schema
        });
        var shortAnswer = await AskVersionAsync(d, "p:v1", maxTokens: 2);
        var answers = await Task.WhenAll(Enumerable.Range(0, 60).Select(i => AskAsync(d, $"w{i}", maxTokens: 2)));
        var fellBack = answers.Where(a => a.Fallback).ToList();
        Assert.InRange(fellBack.Count, 10, 50);
        Assert.All(fellBack, a => Assert.Equal(shortAnswer, a.Text));
        var numbers = d.Monitor.Numbers("p@v3", Variant.Candidate);
        Assert.Equal(fellBack.Count, numbers.Fallbacks);
        Assert.Equal(numbers.Requests, numbers.Invalid);
        Assert.Equal(0, numbers.Errors);
    }

    static async Task<string> AskVersionAsync(DeploymentHost d, string model, int maxTokens = 6)
    {
        using var response = await d.Http.PostAsJsonAsync("v1/completions", new
        {
            model, prompt = "the cat sat", max_tokens = maxTokens, temperature = 0,
        });
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement
            .GetProperty("choices")[0].GetProperty("text").GetString()!;
    }
}
