// LLM-as-judge over any IChatClient: rubric grading of single answers and order-swapped pairwise comparison, with a
// concurrency limit, retries (transport errors and malformed replies share MaxRetries), an on-disk cache and token
// usage.
using System.Globalization;
using Microsoft.Extensions.AI;

namespace FineTune.Evals.Judging;

public sealed class Judge
{
    readonly IChatClient client;
    readonly JudgeOptions options;
    readonly SemaphoreSlim gate;
    readonly JudgeCache cache;
    readonly ChatOptions chatOptions = new() { Temperature = 0f };
    long inputTokens, outputTokens, requests, cacheHits, answered;

    /// <param name="client">Usually <see cref="JudgeClientFactory.Create"/>; any IChatClient works (tests, other
    /// providers).</param>
    public Judge(IChatClient client, JudgeOptions options, Rubric? rubric = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        if (options.MaxConcurrency < 1)
            throw new ArgumentException("MaxConcurrency must be at least 1.", nameof(options));
        if (options.MaxRetries < 0)
            throw new ArgumentException("MaxRetries must not be negative.", nameof(options));
        Rubric = rubric ?? Rubric.Default;
        if (!(Rubric.Min < Rubric.Max))
            throw new ArgumentException($"Rubric range [{Rubric.Min}, {Rubric.Max}] is empty.", nameof(rubric));
        this.client = client;
        this.options = options;
        gate = new SemaphoreSlim(options.MaxConcurrency, options.MaxConcurrency);
        cache = new JudgeCache(options.CacheDirectory);
    }

    public Rubric Rubric { get; }

    /// <summary>Totals since this judge was created.</summary>
    public JudgeUsage Usage => new(Interlocked.Read(ref inputTokens), Interlocked.Read(ref outputTokens),
        Interlocked.Read(ref requests), Interlocked.Read(ref cacheHits));

    /// <summary>Grades every answer on the rubric; items whose replies stay malformed or whose requests keep failing
    /// are reported as failures, never as scores.</summary>
    public async Task<GradeReport> GradeAsync(IReadOnlyList<GradeRequest> items,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(items);
        var before = Usage;
        long answeredBefore = Interlocked.Read(ref answered);
        var outcomes = await Task.WhenAll(items.Select(item => GradeOneAsync(item, cancellationToken)));
        var usage = Since(before);
        ThrowIfUnreachable(outcomes.Select(o => o.Error), usage, answeredBefore);
        return new GradeReport(outcomes, usage, JudgeStatistics.GradeResult(outcomes, usage, options.Model, Rubric));
    }

    /// <summary>Compares candidate A with baseline B, asking in both orders: A wins only if it wins in both, loses only
    /// if B wins in both, and anything else (including a judge that always picks the same position) is a tie.</summary>
    public async Task<CompareReport> CompareAsync(IReadOnlyList<PairRequest> items,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(items);
        var before = Usage;
        long answeredBefore = Interlocked.Read(ref answered);
        var outcomes = await Task.WhenAll(items.Select(item => CompareOneAsync(item, cancellationToken)));
        var usage = Since(before);
        ThrowIfUnreachable(outcomes.Select(o => o.Error), usage, answeredBefore);
        return new CompareReport(outcomes, usage, JudgeStatistics.CompareResult(outcomes, usage, options.Model));
    }

    async Task<GradeOutcome> GradeOneAsync(GradeRequest item, CancellationToken ct)
    {
        var key = JudgeCache.Key("grade-v1", options.Model, Rubric.Text, Invariant(Rubric.Min), Invariant(Rubric.Max),
            item.Prompt, item.Reference, item.Answer);
        var call = await CallAsync(key, JudgePrompts.Grade(Rubric, item),
            reply => JudgeReplyParser.ParseGrade(reply, Rubric).Error, ct);
        if (call.Reply is null)
            return new GradeOutcome(item.Id, null, null, call.Error, call.Attempts, false);
        var (score, reasons, _) = JudgeReplyParser.ParseGrade(call.Reply, Rubric);
        return new GradeOutcome(item.Id, score, reasons, null, call.Attempts, call.Cached);
    }

    async Task<PairOutcome> CompareOneAsync(PairRequest item, CancellationToken ct)
    {
        var aFirst = CompareOrderAsync(item, item.AnswerA, item.AnswerB, ct);
        var bFirst = CompareOrderAsync(item, item.AnswerB, item.AnswerA, ct);
        var (a, aError) = await aFirst;
        var (b, bError) = await bFirst;
        if (aError is not null || bError is not null)
            return new PairOutcome(item.Id, PairVerdict.Failed, a, b, aError ?? bError);
        var verdict = (a, b) switch
        {
            ("1", "2") => PairVerdict.Win,    // A preferred in both positions
            ("2", "1") => PairVerdict.Loss,   // B preferred in both positions
            _ => PairVerdict.Tie,             // position-dependent or explicit tie
        };
        return new PairOutcome(item.Id, verdict, a, b, null);
    }

    async Task<(string? Winner, string? Error)> CompareOrderAsync(PairRequest item, string first, string second,
        CancellationToken ct)
    {
        var key = JudgeCache.Key("compare-v1", options.Model, Rubric.Text, item.Prompt, item.Reference, first, second);
        var call = await CallAsync(key, JudgePrompts.Compare(Rubric, item.Prompt, item.Reference, first, second),
            reply => JudgeReplyParser.ParseCompare(reply).Error, ct);
        return call.Reply is null ? (null, call.Error) : (JudgeReplyParser.ParseCompare(call.Reply).Winner, null);
    }

    sealed record Call(string? Reply, string? Error, int Attempts, bool Cached);

    // Not one response (nor cached answer) for any item: the judge was never reached, and failures are no result.
    void ThrowIfUnreachable(IEnumerable<string?> errors, JudgeUsage usage, long answeredBefore)
    {
        var first = errors.FirstOrDefault(e => e is not null);
        if (first is null || usage.CacheHits > 0 || Interlocked.Read(ref answered) > answeredBefore)
            return;
        throw new JudgeUnavailableException($"the judge at {options.Endpoint} (model {options.Model}) answered no " +
            $"request: {first}");
    }

    /// <summary>A usable reply (validate returns null) from the cache or from up to 1 + MaxRetries requests.</summary>
    async Task<Call> CallAsync(string key, string prompt, Func<string, string?> validate, CancellationToken ct)
    {
        if (await cache.TryGetAsync(key, ct) is { } cached && validate(cached) is null)
        {
            Interlocked.Increment(ref cacheHits);
            return new Call(cached, null, 0, true);
        }
        List<ChatMessage> messages = [new(ChatRole.System, JudgePrompts.SystemPrompt), new(ChatRole.User, prompt)];
        string? error = null;
        var delay = TimeSpan.Zero;
        var attempts = 0;
        while (attempts <= options.MaxRetries)
        {
            if (delay > TimeSpan.Zero)
                await Task.Delay(delay, ct);
            attempts++;
            var sent = await SendAsync(messages, ct);
            if (sent.Reply is null)
            {
                error = sent.Error;
                if (!sent.Retry)
                    break;
                delay = JudgeRetry.Delay(attempts - 1, sent.RetryAfter, options.RetryBaseDelay, options.MaxRetryDelay);
                continue;
            }
            error = validate(sent.Reply);
            if (error is null)
            {
                await cache.PutAsync(key, sent.Reply, ct);
                return new Call(sent.Reply, null, attempts, false);
            }
            error = $"malformed reply: {error}";
            delay = TimeSpan.Zero;   // the endpoint is fine; ask again at once, showing the judge what was wrong
            messages = [messages[0], messages[1], new(ChatRole.Assistant, sent.Reply),
                new(ChatRole.User, JudgePrompts.Correction(error))];
        }
        return new Call(null, $"failed after {attempts} attempt(s): {error}", attempts, false);
    }

    sealed record Sent(string? Reply, string? Error, bool Retry, TimeSpan? RetryAfter);

    /// <summary>One request under the concurrency limit and the per-request timeout. Transient failures come back as
    /// retryable errors, other client errors as final ones; 401/403/404 (wrong key, model or URL) and caller
    /// cancellation are thrown, since every other item would fail the same way.</summary>
    async Task<Sent> SendAsync(List<ChatMessage> messages, CancellationToken ct)
    {
        await gate.WaitAsync(ct);
        try
        {
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(ct);
            attempt.CancelAfter(options.Timeout);
            Interlocked.Increment(ref requests);
            try
            {
                var response = await client.GetResponseAsync(messages, chatOptions, attempt.Token);
                Interlocked.Increment(ref answered);
                if (response.Usage is { } usage)
                {
                    Interlocked.Add(ref inputTokens, usage.InputTokenCount ?? 0);
                    Interlocked.Add(ref outputTokens, usage.OutputTokenCount ?? 0);
                }
                return new Sent(response.Text, null, false, null);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                return new Sent(null,
                    $"timed out after " +
                    $"{options.Timeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s", true, null);
            }
            catch (Exception e) when (!JudgeRetry.IsConfigurationError(e) && e is not OperationCanceledException)
            {
                // an error status: the server is there
                if (JudgeRetry.HasStatus(e))
                    Interlocked.Increment(ref answered);
                var retry = JudgeRetry.IsTransient(e, out var retryAfter);
                return new Sent(null, $"{e.GetType().Name}: {e.Message}", retry, retryAfter);
            }
        }
        finally
        {
            gate.Release();
        }
    }

    JudgeUsage Since(JudgeUsage before)
    {
        var now = Usage;
        return new JudgeUsage(now.InputTokens - before.InputTokens, now.OutputTokens - before.OutputTokens,
            now.Requests - before.Requests, now.CacheHits - before.CacheHits);
    }

    static string Invariant(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}

/// <summary>The judge endpoint answered none of a suite's requests (unreachable, or every request timed out): the suite
/// fails with this reason rather than reporting a score made of failures.</summary>
public sealed class JudgeUnavailableException(string message) : Exception(message);
