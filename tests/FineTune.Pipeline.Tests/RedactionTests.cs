// Issue 25 in the pipeline: a drop full of personal data, with PII redaction on (the default). Nothing the run writes
// — the datasets bucket (splits, rejects, card), the other buckets, the scratch space, the registry's events and runs,
// log lines at information level or above, trace tags — contains a planted value. Only the ingestion bucket keeps the
// user's own file as dropped.
using System.Collections.Concurrent;
using System.Diagnostics;
using FineTune.Contracts;
using FineTune.Registry;
using Microsoft.Extensions.Logging;

namespace FineTune.Pipeline.Tests;

public class RedactionTests
{
    [Fact]
    public async Task A_drop_with_personal_data_leaves_none_of_it_in_any_artifact_event_log_or_trace()
    {
        using var tmp = new TempDir();
        var baseModel = await PipelineFixture.BaseModelAsync();
        var home = Path.Combine(tmp.Path, "home");
        var logs = new ConcurrentQueue<string>();
        var tags = new ConcurrentQueue<string>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = _ => true,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a =>
            {
                tags.Enqueue(a.DisplayName);
                foreach (var (key, value) in a.TagObjects)
                    tags.Enqueue($"{key}={value}");
                foreach (var e in a.Events)
                    tags.Enqueue(e.Name + string.Join(",", e.Tags.Select(t => $"{t.Key}={t.Value}")));
            },
        };
        ActivitySource.AddActivityListener(listener);
        await using (var pipeline = await LocalPipeline.StartAsync(home, PipelineFixture.FastHost(),
            logging: b => b.AddProvider(new Collect(logs)).SetMinimumLevel(LogLevel.Information)))
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            var settings = PipelineFixture.FastSettings(epochs: 1) with
            {
                Prepare = System.Text.Json.Nodes.JsonNode.Parse(
                    """{ "max_reject_ratio": 0.5, "min_examples": 5 }""")!.AsObject(),
            };
            var runId = await pipeline.SubmitAsync(PlantedPii.WriteFile(tmp.Path), "pii", baseModel, settings,
                timeout.Token);
            var run = await pipeline.WaitAsync(runId, null, TimeSpan.FromMilliseconds(200), timeout.Token);
            Assert.True(run.Status == RunStatus.Succeeded, run.Error);

            var events = await pipeline.Registry.ReadAsync(s => s.ListEventsAsync(runId, 0, 100000));
            var stages = await pipeline.Registry.ReadAsync(s => s.ListStagesAsync(runId));
            var text = string.Join("\n",
                events.Select(e => $"{e.Message} {e.DataJson}").Concat(stages.Select(s => $"{s.Error}"))
                .Concat(run.Reasons).Append(run.Error ?? ""));
            Assert.DoesNotContain(PlantedPii.Values, v => text.Contains(v, StringComparison.Ordinal));
            Assert.True(File.Exists(Path.Combine(home, "artifacts", "datasets", "pii", runId.ToString("N"),
                "rejects.jsonl")));
        }
        Assert.NotEmpty(logs);
        foreach (var value in PlantedPii.Values)
        {
            Assert.DoesNotContain(logs, l => l.Contains(value, StringComparison.Ordinal));
            Assert.DoesNotContain(tags, t => t.Contains(value, StringComparison.Ordinal));
        }
        // Every file of the home but the user's own drop: buckets, scratch space, the registry database.
        Assert.Empty(PlantedPii.Leaks(home, Path.Combine(home, "artifacts", "ingestion")));
    }

    sealed class Collect(ConcurrentQueue<string> lines) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Logger(lines);
        public void Dispose() { }

        sealed class Logger(ConcurrentQueue<string> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;
            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception,
                Func<TState, Exception?, string> formatter)
            {
                if (IsEnabled(logLevel))
                    lines.Enqueue(formatter(state, exception) + (exception is null ? "" : " " + exception));
            }
        }
    }
}
