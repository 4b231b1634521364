// The two generation endpoints. A request is read and checked (every bad field is a 400 naming it, an unknown model a
// 404, a prompt that does not fit the context a 400 context_length_exceeded), resolved to a served model once, turned
// into one GenerationJob per choice, queued (429 when the queue is full) and answered whole or streamed as SSE chunks
// ending with [DONE]. A client that goes away cancels its jobs, which frees their batch slots at the next step.
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using FineTune.Models.Generation;
using FineTune.Serving.Engine;
using FineTune.Serving.Feedback;
using FineTune.Serving.Releases;
using FineTune.Text;
using FineTune.Text.Structured;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace FineTune.Serving.Api;

public sealed partial class CompletionService(ModelCatalog catalog, ServingOptions options, ResponseCache cache,
    IOutputScreen screen, ServingMetrics metrics, ReleaseRouter releases, ReleaseMonitor monitor,
    IEnumerable<IRequestLog> requestLogs, ILogger<CompletionService> logger)
{
    enum Kind { Chat, Text }

    // An empty word list screens nothing: skip it rather than rebuild each response's text for it on every token.
    readonly IOutputScreen? _screen = screen is WordListScreen { IsEmpty: true } ? null : screen;
    // the request log, the drift monitor: each takes the answers of the models it wants
    readonly IRequestLog[] _requestLogs = [.. requestLogs.Where(l => l is not NoRequestLog)];

    sealed record Plan(Kind Kind, string Name, ServedModel Model, IReadOnlyList<IReadOnlyList<int>> Prompts,
        IReadOnlyList<string> PromptTexts,
        int N, int MaxTokens, GenerationOptions Options, IReadOnlyList<string> Stops, bool Stream, bool IncludeUsage,
            bool Echo)
    {
        /// <summary>The response format every choice follows (null: text), and its key for the response cache.
        /// </summary>
        public (ConstrainedVocabulary Format, string Key)? Format { get; init; }

        /// <summary>The prompt as the request log keeps it (JSON): the messages, or the prompt text.</summary>
        public Func<int, string> PromptJson { get; init; } = _ => "\"\"";

        /// <summary>The label the caller gave in metadata (label, category or class), for drift monitoring.</summary>
        public string? Label { get; init; }
    }

    public async Task ChatAsync(HttpContext http)
    {
        var started = Stopwatch.GetTimestamp();
        var request = await ReadAsync<ChatCompletionRequest>(http);
        var (name, model) = Resolve(request.Model);
        if (request.Messages is not { Count: > 0 })
            throw OpenAiError.Invalid("'messages' must be a non-empty array of {role, content}.", "messages");
        var messages = new List<ChatMessage>();
        for (int i = 0; i < request.Messages.Count; i++)
        {
            var m = request.Messages[i] ?? throw OpenAiError.Invalid($"messages[{i}] is null.", $"messages[{i}]");
            if (m.Role is not ("system" or "developer" or "user" or "assistant"))
                throw OpenAiError.Invalid($"messages[{i}].role is '{m.Role}'; expected one of system, developer, " +
                    $"user, assistant.", $"messages[{i}].role");
            messages.Add(new ChatMessage(m.Role == "developer" ? "system" : m.Role, ContentText(m.Content, i)));
        }
        if (request.Logprobs == true)
            throw OpenAiError.Invalid("logprobs are not supported by this server.", "logprobs");
        CheckPenalties(request.FrequencyPenalty, request.PresencePenalty);
        OpenAiRequests.RefuseUnsupported(request);
        var label = OpenAiRequests.Label(request);
        Plan PlanFor(ServedModel served)
        {
            var chat = served.Base.ChatTemplate ?? throw OpenAiError.Invalid($"The model '{name}' has no chat " +
                "template (its tokenizer has none); use /v1/completions with a text prompt.", "messages");
            var prompt = ChatPrompt.Encode(served.Base.Tokenizer, chat, messages,
                addBos: served.Base.Tokenizer.BosId is not null);
            var plan = Build(Kind.Chat, name, served, [prompt], [""], request.N,
                request.MaxCompletionTokens ?? request.MaxTokens,
                request.MaxCompletionTokens is not null ? "max_completion_tokens" : "max_tokens", request.Temperature,
                request.TopP, request.Seed, request.Stop, request.Stream == true,
                request.StreamOptions?.IncludeUsage == true, echo: false);
            var log = JsonSerializer.Serialize(messages.Select(m => new { role = m.Role, content = m.Content }));
            return plan with
            {
                Format = ResponseFormats.Read(request.ResponseFormat, served.Base.Structured),
                PromptJson = _ => log,
                Label = label,
            };
        }
        var plan = PlanFor(model);
        await ServeAsync(http, plan, PlanFor, request.User, started);
    }

    public async Task CompletionsAsync(HttpContext http)
    {
        var started = Stopwatch.GetTimestamp();
        var request = await ReadAsync<CompletionRequest>(http);
        var (name, model) = Resolve(request.Model);
        if (request.Suffix is not null)
            throw OpenAiError.Invalid("suffix is not supported by this server.", "suffix");
        if (request.Logprobs is not null and not 0)
            throw OpenAiError.Invalid("logprobs are not supported by this server.", "logprobs");
        CheckPenalties(request.FrequencyPenalty, request.PresencePenalty);
        OpenAiRequests.RefuseUnsupported(request);
        var label = OpenAiRequests.Label(request);
        Plan PlanFor(ServedModel served)
        {
            var (prompts, texts) = Prompts(request.Prompt, served.Base.Tokenizer, served.Base.Config.VocabSize);
            var plan = Build(Kind.Text, name, served, prompts, texts, request.N, request.MaxTokens, "max_tokens",
                request.Temperature, request.TopP, request.Seed, request.Stop, request.Stream == true,
                request.StreamOptions?.IncludeUsage == true, request.Echo == true);
            return plan with
            {
                Format = ResponseFormats.Read(request.ResponseFormat, served.Base.Structured),
                PromptJson = i => JsonSerializer.Serialize(texts[i]),
                Label = label,
            };
        }
        var plan = PlanFor(model);
        await ServeAsync(http, plan, PlanFor, request.User, started);
    }

    Task<T> ReadAsync<T>(HttpContext http) where T : class =>
        OpenAiRequests.ReadJsonAsync<T>(http, options.MaxRequestBytes);

    (string Name, ServedModel Model) Resolve(string? name)
    {
        if (string.IsNullOrWhiteSpace(name))
            throw OpenAiError.Invalid("You must provide a model parameter.", "model");
        return catalog.TryResolve(name, out var model) ? (name, model) : throw OpenAiError.ModelNotFound(name);
    }

    static void CheckPenalties(float? frequency, float? presence)
    {
        if (frequency is { } f && f != 0)
            throw OpenAiError.Invalid("frequency_penalty is not supported by this server (send 0 or leave it out).",
                "frequency_penalty");
        if (presence is { } p && p != 0)
            throw OpenAiError.Invalid("presence_penalty is not supported by this server (send 0 or leave it out).",
                "presence_penalty");
    }

    static string ContentText(JsonElement? content, int index)
    {
        if (content is not { } c || c.ValueKind == JsonValueKind.Null)
            return "";
        if (c.ValueKind == JsonValueKind.String)
            return c.GetString()!;
        if (c.ValueKind == JsonValueKind.Array)
        {
            var text = new StringBuilder();
            foreach (var part in c.EnumerateArray())
            {
                if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type",
                    out var type) || type.GetString() != "text"
                    || !part.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
                    throw OpenAiError.Invalid($"messages[{index}].content: only text parts ({{\"type\": \"text\", " +
                        $"\"text\": \"...\"}}) are supported.", $"messages[{index}].content");
                text.Append(t.GetString());
            }
            return text.ToString();
        }
        throw OpenAiError.Invalid($"messages[{index}].content must be a string or an array of text parts, got " +
            $"{c.ValueKind}.", $"messages[{index}].content");
    }

    static (List<IReadOnlyList<int>>, List<string>) Prompts(JsonElement? prompt, TextTokenizer tokenizer, int vocab)
    {
        bool bos = tokenizer.BosId is not null;
        IReadOnlyList<int> Ids(JsonElement array, string where)
        {
            var ids = new List<int>();
            foreach (var e in array.EnumerateArray())
            {
                if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out var id) || id < 0 || id >= vocab)
                    throw OpenAiError.Invalid($"{where} must hold token ids in [0, {vocab}); got {e.GetRawText()}.",
                        "prompt");
                ids.Add(id);
            }
            return ids;
        }
        if (prompt is not { } p || p.ValueKind == JsonValueKind.Null)
            throw OpenAiError.Invalid("You must provide a prompt.", "prompt");
        // Prompt text is data: special-token text in it stays text (send token ids to use control tokens).
        if (p.ValueKind == JsonValueKind.String)
            return ([tokenizer.Encode(p.GetString()!, SpecialTokenText.Literal, addBos: bos)], [p.GetString()!]);
        if (p.ValueKind == JsonValueKind.Array && p.GetArrayLength() > 0)
        {
            var first = p[0];
            if (first.ValueKind == JsonValueKind.Number)
            {
                var ids = Ids(p, "prompt");
                return ([ids], [tokenizer.Decode(ids)]);
            }
            var prompts = new List<IReadOnlyList<int>>();
            var texts = new List<string>();
            int i = 0;
            foreach (var e in p.EnumerateArray())
            {
                if (e.ValueKind == JsonValueKind.String)
                {
                    prompts.Add(tokenizer.Encode(e.GetString()!, SpecialTokenText.Literal, addBos: bos));
                    texts.Add(e.GetString()!);
                }
                else if (e.ValueKind == JsonValueKind.Array)
                {
                    var ids = Ids(e, $"prompt[{i}]");
                    prompts.Add(ids);
                    texts.Add(tokenizer.Decode(ids));
                }
                else
                    throw OpenAiError.Invalid($"prompt[{i}] must be a string or an array of token ids.", "prompt");
                i++;
            }
            return (prompts, texts);
        }
        throw OpenAiError.Invalid("prompt must be a string, an array of strings, or an array of token ids.", "prompt");
    }

    Plan Build(Kind kind, string name, ServedModel model, IReadOnlyList<IReadOnlyList<int>> prompts,
        IReadOnlyList<string> texts, int? n,
        int? maxTokens, string maxTokensField, float? temperature, float? topP, int? seed, JsonElement? stop,
            bool stream, bool includeUsage, bool echo)
    {
        int choices = n ?? 1;
        if (choices < 1 || choices > options.MaxChoices)
            throw OpenAiError.Invalid($"n must be between 1 and {options.MaxChoices}, got {choices}.", "n",
                "invalid_value");
        if (choices * prompts.Count > options.MaxQueueLength)
            throw OpenAiError.Invalid($"{choices * prompts.Count} choices in one request exceed this server's queue " +
                $"of {options.MaxQueueLength}.", "n", "invalid_value");
        float t = temperature ?? 1f;
        if (t < 0 || t > 2 || float.IsNaN(t))
            throw OpenAiError.Invalid($"temperature must be between 0 and 2, got {t}.", "temperature", "invalid_value");
        float p = topP ?? 1f;
        if (p <= 0 || p > 1 || float.IsNaN(p))
            throw OpenAiError.Invalid($"top_p must be greater than 0 and at most 1, got {p}.", "top_p",
                "invalid_value");
        if (maxTokens is < 1)
            throw OpenAiError.Invalid($"{maxTokensField} must be at least 1, got {maxTokens}.", maxTokensField,
                "invalid_value");
        var stops = Stops(stop);

        int context = model.Base.Scheduler.MaxSequenceLength;
        int longest = prompts.Max(x => x.Count);
        if (longest == 0)
            throw OpenAiError.Invalid("The prompt is empty.", "prompt");
        if (longest >= context)
            throw OpenAiError.Invalid($"This model's maximum context length is {context} tokens. However, your " +
                $"prompt is {longest} tokens, " +
                                      "leaving no room for a completion. Please reduce the length of the prompt.",
                                          kind == Kind.Chat ? "messages" : "prompt", "context_length_exceeded");
        int max = maxTokens ?? Math.Min(options.DefaultMaxTokens, context - longest);
        if (longest + max > context)
            throw OpenAiError.Invalid($"This model's maximum context length is {context} tokens. However, you " +
                $"requested {longest + max} tokens " +
                                      $"({longest} in the {(kind == Kind.Chat ? "messages" : "prompt")}, {max} in " +
                                          $"the completion). Please reduce the length of the " +
                                      $"{(kind == Kind.Chat ? "messages" : "prompt")} or {maxTokensField}.",
                                          maxTokensField, "context_length_exceeded");
        var generation = new GenerationOptions
        {
            MaxNewTokens = max, Temperature = t, TopP = p, Seed = seed,
            StopTokenIds = model.Base.StopIds
        };
        return new Plan(kind, name, model, prompts, texts, choices, max, generation, stops, stream, includeUsage, echo);
    }

    static IReadOnlyList<string> Stops(JsonElement? stop)
    {
        if (stop is not { } s || s.ValueKind == JsonValueKind.Null)
            return [];
        if (s.ValueKind == JsonValueKind.String)
            return s.GetString() is { Length: > 0 } one ? [one] : [];
        if (s.ValueKind == JsonValueKind.Array && s.GetArrayLength() <= 4 && s.EnumerateArray().All(e =>
            e.ValueKind == JsonValueKind.String))
            return s.EnumerateArray().Select(e => e.GetString()!).Where(x => x.Length > 0).ToList();
        throw OpenAiError.Invalid("stop must be a string or an array of up to 4 strings.", "stop");
    }

    /// <summary>What a request's choices came to: their texts, whether any was screened, and whether the answer was
    /// written (false: <c>accept</c> refused it and nothing was sent).</summary>
    sealed record Outcome(IReadOnlyList<string> Texts, bool Screened, bool Written);

    /// <param name="accept">Non-streamed answers only: checked before anything is written; false leaves the response
    /// untouched for another version to answer (a canary's fallback).</param>
    async Task<Outcome> RunAsync(HttpContext http, Plan plan, long started,
        Func<IReadOnlyList<CachedChoice>, bool>? accept = null)
    {
        using var activity = ServingMetrics.ActivitySource.StartActivity(plan.Kind == Kind.Chat
            ? "chat.completions" : "completions");
        activity?.SetTag("gen_ai.request.model", plan.Name);
        activity?.SetTag("gen_ai.response.model", plan.Model.Version);
        // what answered under the name asked for (project@vN behind the registry): a playground shows it
        if (!http.Response.HasStarted)
            http.Response.Headers["x-finetune-version"] = plan.Model.Version;
        activity?.SetTag("gen_ai.request.max_tokens", plan.MaxTokens);
        activity?.SetTag("gen_ai.request.temperature", plan.Options.Temperature);
        var id = (plan.Kind == Kind.Chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N")[..24];
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var fingerprint = "fp_"
            + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(plan.Model.Version)))[..10];
        int promptTokens = plan.Prompts.Sum(x => x.Count);
        metrics.RecordPromptTokens(promptTokens);
        string endpoint = plan.Kind == Kind.Chat ? "chat" : "completions";

        string? cacheKey = plan.Options.Temperature == 0 ? CacheKey(plan) : null;
        if (cacheKey is not null)
        {
            bool hit = cache.TryGet(cacheKey, out var cached);
            metrics.RecordCache(hit);
            activity?.SetTag("finetune.cache_hit", hit);
            if (hit)
            {
                if (accept is not null && !accept(cached.Choices))
                    return new Outcome([.. cached.Choices.Select(c => c.Text)], false, Written: false);
                http.Response.Headers["x-finetune-cache"] = "hit";
                await WriteAsync(http, plan, id, created, fingerprint, cached.Choices, cached.PromptTokens);
                metrics.RecordRequest(endpoint, "cache_hit", Stopwatch.GetElapsedTime(started));
                return new Outcome([.. cached.Choices.Select(c => c.Text)], false, Written: true);
            }
        }

        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        var jobs = StartJobs(plan, cancel);
        try
        {
            if (plan.Stream)
                await StreamAsync(http, plan, jobs, id, created, fingerprint, promptTokens, cancel);
            else
            {
                var choices = await CollectAsync(plan, jobs, cancel);
                if (accept is not null && !accept(choices))
                    return new Outcome([.. choices.Select(c => c.Text)], jobs.Any(j => j.Text.Screened), false);
                if (cacheKey is not null && choices.All(c => c.FinishReason != "content_filter"))
                    cache.Put(cacheKey, plan.Name, new CachedResponse(choices, promptTokens));
                await WriteAsync(http, plan, id, created, fingerprint, choices, promptTokens);
            }
            int completion = jobs.Sum(j => j.Text.Tokens);
            activity?.SetTag("gen_ai.usage.input_tokens", promptTokens);
            activity?.SetTag("gen_ai.usage.output_tokens", completion);
            if (jobs.Any(j => j.Text.Screened))
                metrics.RecordScreened();
            metrics.RecordRequest(endpoint, "ok", Stopwatch.GetElapsedTime(started));
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            metrics.RecordRequest(endpoint, "client_closed", Stopwatch.GetElapsedTime(started));
        }
        finally
        {
            // frees the slots of any job still running (a stop string, a screened choice, a gone client)
            cancel.Cancel();
        }
        if (!http.RequestAborted.IsCancellationRequested)
            Log(plan, id, jobs, http.Items[ReleaseItem] as string, http.Items[VariantItem] as string, started);
        return new Outcome([.. jobs.Select(j => j.Text.Text)], jobs.Any(j => j.Text.Screened), Written: true);
    }

    // The request log, for projects that opted in: one entry per choice, with the version (and variant) that answered.
    void Log(Plan plan, string id, List<(GenerationJob Job, ChoiceText Text, int Index)> jobs, string? release,
        string? variant, long started)
    {
        foreach (var log in _requestLogs)
        {
            if (!log.Records(plan.Model))
                continue;
            var at = DateTimeOffset.UtcNow;
            foreach (var (_, text, index) in jobs)
                log.Record(new ServedExchange(id, index, plan.Model, release, variant,
                    plan.Kind == Kind.Chat ? "chat" : "text", plan.PromptJson(index / plan.N), text.Text, at,
                    Stopwatch.GetElapsedTime(started), text.Screened, plan.Label));
        }
    }


    /// <summary>One job per choice, queued on the model's scheduler (429 when its queue is full).</summary>
    List<(GenerationJob Job, ChoiceText Text, int Index)> StartJobs(Plan plan, CancellationTokenSource cancel,
        bool background = false)
    {
        var jobs = new List<(GenerationJob Job, ChoiceText Text, int Index)>();
        for (int pi = 0; pi < plan.Prompts.Count; pi++)
            for (int c = 0; c < plan.N; c++)
            {
                var o = plan.Options.Seed is { } seed ? plan.Options with { Seed = seed + c } : plan.Options;
                var job = new GenerationJob(plan.Prompts[pi], o, plan.Model.Adapter, cancel.Token,
                    plan.Format?.Format.Start())
                { Background = background };
                jobs.Add((job, new ChoiceText(plan.Model.Base.Tokenizer, plan.Stops, _screen), pi * plan.N + c));
            }
        var scheduler = plan.Model.Base.Scheduler;
        foreach (var (job, _, _) in jobs)
            if (!scheduler.TryEnqueue(job))
            {
                cancel.Cancel();
                throw OpenAiError.Overloaded(plan.Name);
            }
        return jobs;
    }

    static async Task<List<CachedChoice>> CollectAsync(Plan plan,
        List<(GenerationJob Job, ChoiceText Text, int Index)> jobs, CancellationTokenSource cancel)
    {
        await Task.WhenAll(jobs.Select(j => DrainAsync(j.Job, j.Text, cancel)));
        return [.. jobs.Select(j => new CachedChoice(Shown(plan, j.Index, j.Text), j.Text.Finish!, j.Text.Tokens))];
    }

    // Echo puts the prompt text before a text completion.
    static string Shown(Plan plan, int index, ChoiceText text) =>
        (plan.Echo ? plan.PromptTexts[index / plan.N] : "") + (text.Screened ? "" : text.Text);

    static string CacheKey(Plan plan)
    {
        var key = new StringBuilder().Append(plan.Kind).Append('|').Append(plan.Model.Version).Append('|')
            .Append(plan.N).Append('|')
            .Append(plan.MaxTokens).Append('|').Append(plan.Echo).Append('|').Append(string.Join('\u0001',
                plan.Stops)).Append('|').Append(plan.Format?.Key).Append('|');
        foreach (var prompt in plan.Prompts)
            key.Append(string.Join(',', prompt)).Append(';');
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key.ToString())));
    }

    static async Task DrainAsync(GenerationJob job, ChoiceText text, CancellationTokenSource cancel)
    {
        await foreach (var e in job.Events.ReadAllAsync(cancel.Token))
        {
            if (e.End is { } end)
            {
                if (end == JobEnd.Failed)
                    throw OpenAiError.Server($"generation failed: {e.Error?.Message}");
                if (end == JobEnd.Cancelled && text.Finish is null)
                    throw new OperationCanceledException();
                text.End(end);
                return;
            }
            text.Push(e.Token);
            // a stop string or the screen: the job is cancelled when the request ends
            if (text.Finish is not null)
                return;
        }
    }

    async Task StreamAsync(HttpContext http, Plan plan, List<(GenerationJob Job, ChoiceText Text, int Index)> jobs,
        string id, long created,
        string fingerprint, int promptTokens, CancellationTokenSource cancel)
    {
        StartEventStream(http);
        var merged = Channel.CreateUnbounded<(int Index, string Text,
            string? Finish)>(new UnboundedChannelOptions { SingleReader = true });
        foreach (var (_, _, index) in jobs)
            await WriteChunkAsync(http, plan, id, created, fingerprint, index, "", null, first: true);
        var pumps = jobs.Select(j => Task.Run(async () =>
        {
            try
            {
                await foreach (var e in j.Job.Events.ReadAllAsync(cancel.Token))
                {
                    if (e.End is { } end)
                    {
                        if (end == JobEnd.Failed)
                            throw OpenAiError.Server($"generation failed: {e.Error?.Message}");
                        if (end == JobEnd.Cancelled && j.Text.Finish is null)
                            return;
                        var rest = j.Text.End(end);
                        merged.Writer.TryWrite((j.Index, rest, j.Text.Finish));
                        return;
                    }
                    var text = j.Text.Push(e.Token);
                    if (text.Length > 0 || j.Text.Finish is not null)
                        merged.Writer.TryWrite((j.Index, text, j.Text.Finish));
                    if (j.Text.Finish is not null)
                        return;
                }
            }
            catch (OperationCanceledException)
            {
            }
        })).ToList();
        var all = Task.WhenAll(pumps).ContinueWith(t => merged.Writer.TryComplete(t.Exception?.InnerException),
            TaskScheduler.Default);

        bool failed = false;
        try
        {
            await foreach (var (index, text, finish) in merged.Reader.ReadAllAsync(http.RequestAborted))
                await WriteChunkAsync(http, plan, id, created, fingerprint, index, text, finish, first: false);
        }
        catch (OpenAiError e)
        {
            failed = true;
            logger.LogError(e, "a streamed generation failed");
            await WriteEventAsync(http, JsonSerializer.Serialize(e.Body, OpenAiJson.Options));
        }
        await all;
        if (!failed && plan.IncludeUsage)
            await WriteEventAsync(http,
                UsageChunk(plan, id, created, fingerprint, promptTokens, jobs.Sum(j => j.Text.Tokens)));
        await WriteEventAsync(http, "[DONE]");
    }

    // The last chunk of a stream with include_usage: no choices, the token counts.
    static string UsageChunk(Plan plan, string id, long created, string fingerprint, int promptTokens,
        int completionTokens)
    {
        var usage = new Usage(promptTokens, completionTokens, promptTokens + completionTokens);
        object chunk = plan.Kind == Kind.Chat
            ? new ChatCompletionChunk(id, "chat.completion.chunk", created, plan.Name, [], fingerprint, usage)
            : new TextCompletion(id, "text_completion", created, plan.Name, [], usage, fingerprint);
        return JsonSerializer.Serialize(chunk, OpenAiJson.Options);
    }

    static void StartEventStream(HttpContext http)
    {
        http.Response.StatusCode = 200;
        http.Response.ContentType = "text/event-stream; charset=utf-8";
        http.Response.Headers.CacheControl = "no-cache";
        http.Response.Headers["X-Accel-Buffering"] = "no";
    }

    static Task WriteChunkAsync(HttpContext http, Plan plan, string id, long created, string fingerprint, int index,
        string text, string? finish, bool first)
    {
        // text completions have no role chunk
        if (plan.Kind == Kind.Text && first && !plan.Echo)
            return Task.CompletedTask;
        object chunk = plan.Kind == Kind.Chat
            ? new ChatCompletionChunk(id, "chat.completion.chunk", created, plan.Name,
                [new ChatChunkChoice(index, first ? new ChatDelta("assistant", "") : new ChatDelta(null, text),
                    finish)], fingerprint)
            : new TextCompletion(id, "text_completion", created, plan.Name,
                [new TextChoice(first ? plan.PromptTexts[index / plan.N] : text, index, null, finish)], null,
                    fingerprint);
        return WriteEventAsync(http, JsonSerializer.Serialize(chunk, OpenAiJson.Options));
    }

    static async Task WriteEventAsync(HttpContext http, string data)
    {
        await http.Response.WriteAsync("data: " + data + "\n\n", http.RequestAborted);
        await http.Response.Body.FlushAsync(http.RequestAborted);
    }

    async Task WriteAsync(HttpContext http, Plan plan, string id, long created, string fingerprint,
        IReadOnlyList<CachedChoice> choices, int promptTokens)
    {
        int completion = choices.Sum(c => c.CompletionTokens);
        var usage = new Usage(promptTokens, completion, promptTokens + completion);
        if (plan.Stream)
        {
            StartEventStream(http);
            for (int i = 0; i < choices.Count; i++)
            {
                await WriteChunkAsync(http, plan, id, created, fingerprint, i, "", null, first: true);
                await WriteChunkAsync(http, plan, id, created, fingerprint, i,
                    plan.Echo ? choices[i].Text[plan.PromptTexts[i / plan.N].Length..] : choices[i].Text,
                    choices[i].FinishReason, first: false);
            }
            if (plan.IncludeUsage)
                await WriteEventAsync(http, UsageChunk(plan, id, created, fingerprint, promptTokens, completion));
            await WriteEventAsync(http, "[DONE]");
            return;
        }
        object body = plan.Kind == Kind.Chat
            ? new ChatCompletion(id, "chat.completion", created, plan.Name,
                choices.Select((c, i) => new ChatChoice(i, new AssistantMessage("assistant", c.Text),
                    c.FinishReason)).ToList(), usage, fingerprint)
            : new TextCompletion(id, "text_completion", created, plan.Name,
                choices.Select((c, i) => new TextChoice(c.Text, i, null, c.FinishReason)).ToList(), usage, fingerprint);
        http.Response.ContentType = "application/json";
        await http.Response.WriteAsync(JsonSerializer.Serialize(body, OpenAiJson.Options), http.RequestAborted);
    }
}
