// Production feedback over the registry. The request log: answers of the projects in Recording:Projects (opt-in; "*"
// for all), PII redacted as the data stages redact (emails, phones, card numbers, IPs, IBANs), clipped to
// Recording:MaxChars, queued and written in batches off the request path, deleted after Recording:RetentionDays with
// their feedback. The feedback store behind POST /v1/feedback: a rating is kept with the answer it rates.
using System.Text.Json;
using System.Threading.Channels;
using FineTune.Data.Cleaning;
using FineTune.Registry;
using FineTune.Serving.Engine;
using FineTune.Serving.Feedback;
using FineTune.Serving.Releases;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FineTune.Pipeline.Serving;

public sealed record RecordingOptions
{
    public const string Section = "Recording";
    /// <summary>Projects whose answers are recorded (and so can be rated); "*" for every project.</summary>
    public IReadOnlyList<string> Projects { get; init; } = [];
    public double RetentionDays { get; init; } = 30;
    /// <summary>Longest prompt or answer kept, in characters (the rest is cut).</summary>
    public int MaxChars { get; init; } = 16_000;
    /// <summary>Answers waiting to be written; beyond it new ones are dropped (and counted in the log).</summary>
    public int QueueLength { get; init; } = 10_000;

    public static RecordingOptions From(IConfiguration configuration) =>
        configuration.GetSection(Section).Get<RecordingOptions>() ?? new RecordingOptions();
}

public sealed class RegistryRequestLog(RunRegistry registry, RecordingOptions options,
    ILogger<RegistryRequestLog> log, TimeProvider? time = null) : BackgroundService, IRequestLog, IFeedbackStore
{
    readonly TimeProvider _time = time ?? TimeProvider.System;
    readonly Channel<ServedExchange> _queue = Channel.CreateBounded<ServedExchange>(
        new BoundedChannelOptions(Math.Max(1, options.QueueLength)) { FullMode = BoundedChannelFullMode.DropWrite });
    long _dropped;
    static readonly PiiOptions Pii = new();

    /// <summary>"project@vN" as RegistryServing names versions.</summary>
    static (string Project, int? Version)? Owner(ServedModel model)
    {
        int at = model.Version.LastIndexOf("@v", StringComparison.Ordinal);
        if (at <= 0 || !int.TryParse(model.Version[(at + 2)..], out var version))
            return null;
        return (model.Version[..at], version);
    }

    public bool Records(ServedModel model) =>
        Owner(model) is { } owner && (options.Projects.Contains("*") || options.Projects.Contains(owner.Project));

    public void Record(ServedExchange exchange)
    {
        if (!_queue.Writer.TryWrite(exchange))
            Interlocked.Increment(ref _dropped);
    }

    /// <summary>Writes what is queued now (the background loop does this continuously).</summary>
    public async Task FlushAsync(CancellationToken ct)
    {
        var batch = new List<ServedRequestRecord>();
        while (batch.Count < 500 && _queue.Reader.TryRead(out var e))
            if (Owner(e.Model) is { } owner)
                batch.Add(new ServedRequestRecord(e.CompletionId, e.Choice, owner.Project, owner.Version, e.ReleaseId,
                    e.Variant, e.Kind, Redact(e.PromptJson, json: true), Redact(e.Answer, json: false), e.At));
        if (batch.Count > 0)
            await registry.WriteAsync(s => s.RecordServedRequestsAsync(batch, ct), ct);
        if (Interlocked.Exchange(ref _dropped, 0) is > 0 and var dropped)
            log.LogWarning("The request log was full: {Dropped} answers were not recorded", dropped);
    }

    // The prompt is JSON (messages or a string): redact the strings inside it, so it stays JSON.
    string Redact(string text, bool json)
    {
        if (!json)
            return Clip(PiiRedactor.Redact(text, Pii, new long[5]));
        var node = System.Text.Json.Nodes.JsonNode.Parse(text);
        return Clip(RedactNode(node)?.ToJsonString() ?? "null");
    }

    static System.Text.Json.Nodes.JsonNode? RedactNode(System.Text.Json.Nodes.JsonNode? node)
    {
        switch (node)
        {
            case System.Text.Json.Nodes.JsonValue v when v.TryGetValue<string>(out var s):
                return System.Text.Json.Nodes.JsonValue.Create(PiiRedactor.Redact(s, Pii, new long[5]));
            case System.Text.Json.Nodes.JsonArray a:
                for (int i = 0; i < a.Count; i++)
                    a[i] = RedactNode(a[i]?.DeepClone());
                return a;
            case System.Text.Json.Nodes.JsonObject o:
                foreach (var key in o.Select(p => p.Key).ToList())
                    o[key] = RedactNode(o[key]?.DeepClone());
                return o;
            default:
                return node;
        }
    }

    string Clip(string text) => text.Length <= options.MaxChars ? text : text[..options.MaxChars];

    public async Task<FeedbackOutcome> AddAsync(FeedbackInput feedback, CancellationToken ct)
    {
        await FlushAsync(ct);   // an answer rated right after it was given may still be queued
        return await registry.WriteAsync(async s =>
        {
            var answer = await s.GetServedRequestAsync(feedback.CompletionId, feedback.Choice, ct);
            if (answer is null)
                return new FeedbackOutcome(false);
            var id = await s.AddFeedbackAsync(new FeedbackRecord(0, answer.Id, answer.Choice, answer.Project,
                feedback.Rating, feedback.Scale, feedback.Correction is { } c ? Redact(c, json: false) : null,
                feedback.Comment is { } m ? Redact(m, json: false) : null, _time.GetUtcNow()), ct);
            Variant? variant = answer.Variant switch
            {
                "production" => Variant.Production,
                "candidate" => Variant.Candidate,
                _ => null,
            };
            return new FeedbackOutcome(true, id, answer.ReleaseId, variant);
        }, ct);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var nextPurge = DateTimeOffset.MinValue;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await _queue.Reader.WaitToReadAsync(stoppingToken);
                await FlushAsync(stoppingToken);
                if (_time.GetUtcNow() >= nextPurge)
                {
                    var before = _time.GetUtcNow() - TimeSpan.FromDays(options.RetentionDays);
                    int deleted = await registry.WriteAsync(s => s.DeleteServedRequestsBeforeAsync(before,
                        stoppingToken), stoppingToken);
                    if (deleted > 0)
                        log.LogInformation("Deleted {Count} recorded answers older than {Days} days", deleted,
                            options.RetentionDays);
                    nextPurge = _time.GetUtcNow().AddHours(1);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                log.LogError(e, "Writing the request log failed; retrying");
                await Task.Delay(TimeSpan.FromSeconds(1), _time, CancellationToken.None);
            }
        }
    }
}
