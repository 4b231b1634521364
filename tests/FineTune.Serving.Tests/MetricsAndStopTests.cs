// The server's instruments record what a request did (time to first token, tokens, batch size, errors by type), and
// the stop parameter cuts the text before the stop string with finish_reason "stop", streamed or not.
using System.Diagnostics.Metrics;
using System.Net.Http.Json;
using System.Text.Json;

namespace FineTune.Serving.Tests;

[Collection("serving")]
public sealed class MetricsAndStopTests(ServingFixture fixture)
{
    ServerHandle Server => fixture.Server;

    [Fact]
    public async Task A_request_is_measured_time_to_first_token_tokens_batch_and_errors_by_type()
    {
        var seen = new System.Collections.Concurrent.ConcurrentDictionary<string, List<(double Value, string Tags)>>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == ServingMetrics.MeterName)
                l.EnableMeasurementEvents(instrument);
        };
        void Record(Instrument i, double v, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var text = string.Join(",", tags.ToArray().Select(t => $"{t.Key}={t.Value}"));
            var list = seen.GetOrAdd(i.Name, _ => []);
            lock (list)
                list.Add((v, text));
        }
        listener.SetMeasurementEventCallback<double>((i, v, t, _) => Record(i, v, t));
        listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        listener.SetMeasurementEventCallback<int>((i, v, t, _) => Record(i, v, t));
        listener.Start();

        using var ok = await Server.Http.PostAsJsonAsync("v1/completions",
            new { model = Server.BaseName, prompt = "the sun", max_tokens = 7, temperature = 0.5, seed = 1 });
        ok.EnsureSuccessStatusCode();
        using var bad = await Server.Http.PostAsJsonAsync("v1/completions", new { model = "missing", prompt = "x" });
        listener.RecordObservableInstruments();

        Assert.Contains(seen["serving.time_to_first_token"], m => m.Value > 0 && m.Value < 30);
        Assert.True(seen["serving.tokens_generated"].Sum(m => m.Value) >= 7);
        Assert.Contains(seen["serving.batch_size"], m => m.Value >= 1);
        Assert.Contains(seen["serving.requests"],
            m => m.Tags.Contains("endpoint=completions") && m.Tags.Contains("outcome=ok"));
        Assert.Contains(seen["serving.errors"],
            m => m.Tags.Contains("type=invalid_request_error") && m.Tags.Contains("status=404"));
        Assert.Contains(seen["serving.queue_depth"], m => m.Tags.Contains($"model={Server.BaseName}"));
    }

    [Fact]
    public async Task Stop_strings_cut_the_text_before_them_whole_and_streamed()
    {
        var body = new { model = Server.BaseName, prompt = "the cat sat on", max_tokens = 40, temperature = 0 };
        using var plain = await Server.Http.PostAsJsonAsync("v1/completions", body);
        var full = JsonDocument.Parse(await plain.Content.ReadAsStringAsync())
            .RootElement.GetProperty("choices")[0].GetProperty("text").GetString()!;
        Assert.True(full.Length > 12, full);
        var stop = full.Substring(full.Length / 2, 3);
        var cut = full[..full.IndexOf(stop, StringComparison.Ordinal)];

        using var whole = await Server.Http.PostAsJsonAsync("v1/completions",
            new { body.model, body.prompt, body.max_tokens, body.temperature, stop });
        var choice = JsonDocument.Parse(await whole.Content.ReadAsStringAsync()).RootElement.GetProperty("choices")[0];
        Assert.Equal(cut, choice.GetProperty("text").GetString());
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());

        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
        {
            Content = JsonContent.Create(new
            {
                body.model, body.prompt, body.max_tokens, body.temperature,
                stop = new[] { stop, "never-there" }, stream = true
            }),
        };
        using var streamed = await Server.Http.SendAsync(request);
        var events = (await streamed.Content.ReadAsStringAsync()).Split('\n').Where(l =>
            l.StartsWith("data: {")).Select(l => JsonDocument.Parse(l[6..]).RootElement).ToList();
        Assert.Equal(cut,
            string.Concat(events.Select(e => e.GetProperty("choices")[0].GetProperty("text").GetString())));
        Assert.Equal("stop", events[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }
}
