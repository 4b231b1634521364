// The server's instruments (meter "FineTune.Serving") and its ActivitySource: time to first token, inter-token
// latency, tokens, queue wait and depth, batch size and step time, cache hits, screened responses, errors by type.
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace FineTune.Serving;

public sealed class ServingMetrics : IDisposable
{
    public const string MeterName = "FineTune.Serving";
    public static readonly ActivitySource ActivitySource = new(MeterName);

    readonly Meter _meter;
    readonly Histogram<double> _ttft, _interToken, _queueWait, _step, _requestDuration;
    readonly Histogram<int> _batchRows, _batchSequences;
    readonly Counter<long> _tokens, _promptTokens, _requests, _errors, _cache, _screened;

    public ServingMetrics(IMeterFactory? factory = null)
    {
        _meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        _ttft = _meter.CreateHistogram<double>("serving.time_to_first_token", "s", "Request queued to its first token");
        _interToken = _meter.CreateHistogram<double>("serving.inter_token_latency", "s",
            "Time between a sequence's tokens");
        _queueWait = _meter.CreateHistogram<double>("serving.queue_wait", "s", "Request queued to a KV-cache slot");
        _step = _meter.CreateHistogram<double>("serving.step_duration", "s", "One batched forward pass");
        _requestDuration = _meter.CreateHistogram<double>("serving.request_duration", "s",
            "A completion request, first byte in to last byte out");
        _batchRows = _meter.CreateHistogram<int>("serving.batch_rows", "{row}",
            "Tokens run in one pass (decode + prefill)");
        _batchSequences = _meter.CreateHistogram<int>("serving.batch_size", "{sequence}", "Sequences in one pass");
        _tokens = _meter.CreateCounter<long>("serving.tokens_generated", "{token}");
        _promptTokens = _meter.CreateCounter<long>("serving.prompt_tokens", "{token}");
        _requests = _meter.CreateCounter<long>("serving.requests", "{request}",
            "Completion requests by endpoint and outcome");
        _errors = _meter.CreateCounter<long>("serving.errors", "{error}",
            "Error responses by OpenAI error type and status");
        _cache = _meter.CreateCounter<long>("serving.response_cache", "{lookup}",
            "Response cache lookups by result (hit, miss)");
        _screened = _meter.CreateCounter<long>("serving.screened", "{response}",
            "Responses stopped by the output screen");
    }

    /// <summary>Gauges read on collection: queue depth and active sequences of every loaded model.</summary>
    public void ObserveLoad(Func<IEnumerable<(string Model, int Queued, int Active)>> read)
    {
        _meter.CreateObservableGauge("serving.queue_depth",
            () => read().Select(m => new Measurement<int>(m.Queued,
            new KeyValuePair<string, object?>("model", m.Model))), "{request}");
        _meter.CreateObservableGauge("serving.active_sequences",
            () => read().Select(m => new Measurement<int>(m.Active,
            new KeyValuePair<string, object?>("model", m.Model))), "{sequence}");
    }

    public void RecordFirstToken(TimeSpan t) => _ttft.Record(t.TotalSeconds);
    public void RecordInterToken(TimeSpan t) => _interToken.Record(t.TotalSeconds);
    public void RecordQueueWait(TimeSpan t) => _queueWait.Record(t.TotalSeconds);
    public void RecordToken() => _tokens.Add(1);
    public void RecordPromptTokens(int n) => _promptTokens.Add(n);
    public void RecordStep(int rows, int sequences, TimeSpan t)
    {
        _step.Record(t.TotalSeconds);
        _batchRows.Record(rows);
        _batchSequences.Record(sequences);
    }
    public void RecordRequest(string endpoint, string outcome, TimeSpan t)
    {
        var tags = new TagList { { "endpoint", endpoint }, { "outcome", outcome } };
        _requests.Add(1, tags);
        _requestDuration.Record(t.TotalSeconds, tags);
    }
    public void RecordError(string type, int status) =>
        _errors.Add(1, new TagList { { "type", type }, { "status", status } });
    public void RecordCache(bool hit) =>
        _cache.Add(1, new KeyValuePair<string, object?>("result", hit ? "hit" : "miss"));
    public void RecordScreened() => _screened.Add(1);

    public void Dispose() => _meter.Dispose();
}
