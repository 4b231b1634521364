// What a run reports as metrics: stage durations for every stage, queue lag per consumed message, the finished run,
// evaluation scores (meter FineTune.Pipeline) and the training engine's loss and tokens/s (meter FineTune.Training).
using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using FineTune.Contracts;

namespace FineTune.Pipeline.Tests;

public sealed class TelemetryTests
{
    [Fact]
    public async Task A_run_records_stage_durations_queue_lag_scores_and_training_metrics()
    {
        var seen = new ConcurrentBag<(string Instrument, double Value, string Tags)>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name is PipelineTelemetry.Name or "FineTune.Training")
                    l.EnableMeasurementEvents(instrument);
            },
        };
        listener.SetMeasurementEventCallback<double>((i, v, tags,
            _) => seen.Add((i.Name, v, string.Join(",", tags.ToArray().Select(t => $"{t.Key}={t.Value}")))));
        listener.SetMeasurementEventCallback<long>((i, v, tags,
            _) => seen.Add((i.Name, v, string.Join(",", tags.ToArray().Select(t => $"{t.Key}={t.Value}")))));
        listener.Start();

        using var tmp = new TempDir();
        var baseModel = await PipelineFixture.BaseModelAsync();
        await using var pipeline = await LocalPipeline.StartAsync(Path.Combine(tmp.Path, "home"),
            PipelineFixture.FastHost());
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var run = await pipeline.WaitAsync(await pipeline.SubmitAsync(await PipelineFixture.TicketsAsync(tmp.Path, 80,
            31), "metrics", baseModel,
            PipelineFixture.FastSettings(epochs: 1), timeout.Token), null, TimeSpan.FromMilliseconds(200),
                timeout.Token);
        Assert.Equal(RunStatus.Succeeded, run.Status);

        var durations = seen.Where(m => m.Instrument == "finetune.pipeline.stage.duration").ToList();
        foreach (var stage in Stages.All)
            Assert.Contains(durations,
                m => m.Tags.Contains($"stage={stage}") && m.Tags.Contains("outcome=succeeded") && m.Value >= 0);
        Assert.Contains(seen,
            m => m.Instrument == "finetune.pipeline.queue.lag" && m.Tags.Contains("message=DatasetArrived"));
        Assert.Contains(seen,
            m => m.Instrument == "finetune.pipeline.runs.finished" && m.Tags.Contains("status=succeeded"));
        Assert.Contains(seen,
            m => m.Instrument == "finetune.pipeline.evaluation.score"
            && m.Tags.Contains("metric=perplexity/token_accuracy") && m.Tags.Contains("role=candidate"));
        // Items scored, as they are scored: the answers rouge and task share are generated under rouge.
        Assert.Contains(seen, m => m.Instrument == "finetune.pipeline.evaluation.items" && m.Value > 0
            && m.Tags.Contains("suite=rouge") && m.Tags.Contains("role=candidate"));
        // The training engine's meter, through the host's meter factory.
        Assert.Contains(seen, m => m.Instrument == "finetune.training.tokens" && m.Value > 0);
        Assert.Contains(seen, m => m.Instrument == "finetune.training.train_loss" && m.Value > 0);
    }
}
