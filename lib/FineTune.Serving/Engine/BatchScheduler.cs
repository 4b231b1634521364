// Continuous batching: one thread owns the model's batch session and, step after step, admits waiting requests into
// free KV-cache slots, runs one pass with every active sequence's next token plus a budget of prompt tokens of the
// joining ones (chunked prefill, so a long prompt never stalls the others), samples, hands each sequence its token and
// frees the slots of the sequences that ended or whose client went away. The queue is bounded: TryEnqueue says no
// when it is full, and the caller answers 429.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FineTune.Models.Generation;
using FineTune.Models.Inference;
using Microsoft.Extensions.Logging;

namespace FineTune.Serving.Engine;

public sealed class BatchScheduler : IDisposable
{
    sealed class Sequence(GenerationJob job, int slot)
    {
        public readonly GenerationJob Job = job;
        public readonly int Slot = slot;
        public readonly Sampler Sampler = new(job.Options);
        public readonly List<int> History = [.. job.Prompt];
        public readonly HashSet<int> StopIds = [.. job.Options.StopTokenIds];
        public int Position;      // tokens in the cache
        public int Generated;
        public int RowsThisStep;
        public long LastTokenAt;
        public bool Prefilling => Position < Job.Prompt.Count;
    }

    readonly IBatchSession _batch;
    readonly ServingOptions _options;
    readonly ServingMetrics _metrics;
    readonly ILogger _logger;
    readonly ConcurrentQueue<GenerationJob> _queue = new();
    readonly ConcurrentQueue<GenerationJob> _background = new();
    readonly AutoResetEvent _wake = new(false);
    readonly Sequence?[] _slots;
    readonly List<Sequence> _active = [];
    readonly Thread _thread;
    readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly int _vocab;
    readonly int _samplingThreads;
    int _queued;
    int _backgroundQueued;
    volatile bool _accepting = true;

    public BatchScheduler(CpuLlama model, ServingOptions options, ServingMetrics metrics, ILogger logger, string name)
    {
        _options = options;
        _metrics = metrics;
        _logger = logger;
        _vocab = model.Config.VocabSize;
        _samplingThreads = model.Threads;
        MaxSequenceLength = options.MaxSequenceLength > 0 ? Math.Min(options.MaxSequenceLength,
            model.Config.MaxPositionEmbeddings) : model.Config.MaxPositionEmbeddings;
        _batch = model.StartBatch(options.MaxBatchSize, MaxSequenceLength,
            Math.Max(options.PrefillTokensPerStep + options.MaxBatchSize, 1));
        _slots = new Sequence?[options.MaxBatchSize];
        _thread = new Thread(Loop) { IsBackground = true, Name = $"batch scheduler {name}" };
        _thread.Start();
    }

    public int MaxSequenceLength { get; }
    public int QueueLength => Volatile.Read(ref _queued);
    public int ActiveSequences { get; private set; }
    /// <summary>Completes when the scheduler has stopped (after <see cref="Drain"/>, once in-flight sequences
    /// finished).</summary>
    public Task Stopped => _stopped.Task;

    /// <summary>Queues a job; false when the queue is full or the scheduler is draining.</summary>
    public bool TryEnqueue(GenerationJob job)
    {
        if (!_accepting)
            return false;
        ref int queued = ref job.Background ? ref _backgroundQueued : ref _queued;
        if (Interlocked.Increment(ref queued) > _options.MaxQueueLength)
        {
            Interlocked.Decrement(ref queued);
            return false;
        }
        (job.Background ? _background : _queue).Enqueue(job);
        _wake.Set();
        return true;
    }

    /// <summary>Stops taking new jobs; queued and running ones finish, then the thread ends.</summary>
    public void Drain()
    {
        _accepting = false;
        _wake.Set();
    }

    void Loop()
    {
        var logits = Enumerable.Range(0, _slots.Length).Select(_ => new float[_vocab]).ToArray();
        var tokens = new int[_slots.Length];
        var rows = new List<BatchRow>();
        WarmUpSampling(logits[0]);
        var owners = new List<Sequence>();
        try
        {
            while (true)
            {
                Admit();
                DropCancelled();
                if (_active.Count == 0)
                {
                    if (!_accepting && _queue.IsEmpty && _background.IsEmpty)
                        break;
                    _wake.WaitOne(TimeSpan.FromSeconds(1));
                    continue;
                }
                BuildRows(rows, owners);
                long started = Stopwatch.GetTimestamp();
                try
                {
                    _batch.Run(CollectionsMarshal.AsSpan(rows), logits);
                }
                catch (Exception e)
                {
                    _logger.LogError(e, "a batch pass of {Rows} rows failed; ending its {Sequences} sequences",
                        rows.Count, _active.Count);
                    foreach (var s in _active.ToArray())
                        Finish(s, JobEnd.Failed, e);
                    continue;
                }
                _metrics.RecordStep(rows.Count, _active.Count, Stopwatch.GetElapsedTime(started));
                foreach (var s in _active)
                    s.Position += s.RowsThisStep;
                Sample(owners, logits, tokens);
                for (int i = 0; i < owners.Count; i++)
                    Advance(owners[i], tokens[i]);
            }
        }
        catch (Exception e)
        {
            _logger.LogCritical(e, "the batch scheduler stopped");
            foreach (var s in _active.ToArray())
                Finish(s, JobEnd.Failed, e);
        }
        finally
        {
            while (_queue.TryDequeue(out var job))
            {
                Interlocked.Decrement(ref _queued);
                job.End(JobEnd.Cancelled);
            }
            while (_background.TryDequeue(out var job))
            {
                Interlocked.Decrement(ref _backgroundQueued);
                job.End(JobEnd.Cancelled);
            }
            _batch.Dispose();
            _stopped.TrySetResult();
        }
    }

    // Waiting jobs fill free slots in arrival order; background jobs only while no other job waits, and into at most
    // half of the batch, so the requests people wait for are never queued behind them.
    void Admit()
    {
        for (int slot = 0; slot < _slots.Length; slot++)
        {
            if (_slots[slot] is not null)
                continue;
            GenerationJob? job;
            if (_queue.TryDequeue(out job))
                Interlocked.Decrement(ref _queued);
            else if (_active.Count(s => s.Job.Background) < _slots.Length / 2 && _background.TryDequeue(out job))
                Interlocked.Decrement(ref _backgroundQueued);
            else
                break;
            if (job.Cancellation.IsCancellationRequested)
            {
                job.End(JobEnd.Cancelled);
                slot--;
                continue;
            }
            if (job.Prompt.Count == 0 || job.Prompt.Count >= MaxSequenceLength)
            {
                job.End(JobEnd.Failed,
                    new ArgumentException($"the prompt has {job.Prompt.Count} tokens; this server takes 1 to " +
                    $"{MaxSequenceLength - 1}."));
                slot--;
                continue;
            }
            _metrics.RecordQueueWait(Stopwatch.GetElapsedTime(job.EnqueuedAt));
            var s = new Sequence(job, slot);
            _slots[slot] = s;
            _active.Add(s);
        }
        ActiveSequences = _active.Count;
    }

    void DropCancelled()
    {
        foreach (var s in _active.ToArray())
            if (s.Job.Cancellation.IsCancellationRequested)
                Finish(s, JobEnd.Cancelled);
    }

    // Every decoding sequence contributes its last token; joining ones share the prefill budget in arrival order.
    // Rows are emitted grouped by adapter (each sequence's rows stay in position order) so LoRA runs over row blocks.
    void BuildRows(List<BatchRow> rows, List<Sequence> owners)
    {
        rows.Clear();
        owners.Clear();
        int budget = _options.PrefillTokensPerStep;
        foreach (var s in _active)
        {
            if (!s.Prefilling)
                s.RowsThisStep = 1;
            else
            {
                s.RowsThisStep = Math.Min(budget, s.Job.Prompt.Count - s.Position);
                budget -= s.RowsThisStep;
            }
        }
        foreach (var s in _active.OrderBy(s => s.Job.Adapter is null ? 0 : RuntimeHelpers.GetHashCode(s.Job.Adapter)))
        {
            for (int i = 0; i < s.RowsThisStep; i++)
            {
                int position = s.Position + i;
                bool last = position >= s.Job.Prompt.Count - 1;
                rows.Add(new BatchRow(s.Slot, position, s.History[position], last, s.Job.Adapter));
                if (last)
                    owners.Add(s);
            }
        }
    }

    // Rows are sampled in parallel (each sequence has its own sampler and seed, so the order does not matter): between
    // passes the kernel threads are idle, and a 32k-vocabulary draw is tens of microseconds a row.
    void Sample(List<Sequence> owners, float[][] logits, int[] tokens)
    {
        if (owners.Count < 4 || _samplingThreads < 2)
        {
            for (int i = 0; i < owners.Count; i++)
                tokens[i] = Draw(owners[i], logits[i]);
            return;
        }
        System.Threading.Tasks.Parallel.For(0, owners.Count,
            new ParallelOptions { MaxDegreeOfParallelism = _samplingThreads },
            i => tokens[i] = Draw(owners[i], logits[i]));
    }

    // A response format masks the tokens that cannot continue it first; -1 when none can (the document is complete
    // and the model has no stop token): the sequence ends.
    int Draw(Sequence s, float[] logits)
    {
        if (s.Job.Constraint is { } constraint)
        {
            int left = Math.Min(s.Job.Options.MaxNewTokens - s.Generated, MaxSequenceLength - s.Position + 1);
            if (!constraint.Apply(logits, left))
                return -1;
        }
        return s.Sampler.Next(logits, s.History);
    }

    // The vectorized helpers sampling uses are generic methods that start in tier-0 code; a few hundred draws at start
    // get them optimized before the first request instead of during its first seconds.
    static void WarmUpSampling(float[] scratch)
    {
        var random = new Random(0);
        for (int i = 0; i < scratch.Length; i++)
            scratch[i] = (float)random.NextDouble();
        var hot = new Sampler(new GenerationOptions { Temperature = 0.8f, Seed = 0 });
        var nucleus = new Sampler(new GenerationOptions { Temperature = 0.8f, TopP = 0.9f, Seed = 0 });
        for (int i = 0; i < 300; i++)
        {
            hot.Next(scratch, []);
            if (i % 10 == 0)
                nucleus.Next(scratch, []);
            Sampler.ArgMax(scratch);
        }
    }

    void Advance(Sequence s, int token)
    {
        long now = Stopwatch.GetTimestamp();
        if (s.Generated == 0)
            _metrics.RecordFirstToken(Stopwatch.GetElapsedTime(s.Job.EnqueuedAt, now));
        else
            _metrics.RecordInterToken(Stopwatch.GetElapsedTime(s.LastTokenAt, now));
        s.LastTokenAt = now;
        s.Generated++;
        if (token < 0 || s.StopIds.Contains(token))
        {
            Finish(s, JobEnd.Stop);
            return;
        }
        s.Job.Constraint?.Accept(token);
        s.History.Add(token);
        s.Job.Emit(token);
        _metrics.RecordToken();
        if (s.Generated >= s.Job.Options.MaxNewTokens || s.Position >= MaxSequenceLength)
            Finish(s, JobEnd.Length);
    }

    void Finish(Sequence s, JobEnd end, Exception? error = null)
    {
        _slots[s.Slot] = null;
        _active.Remove(s);
        ActiveSequences = _active.Count;
        s.Job.End(end, error);
    }

    public void Dispose()
    {
        Drain();
        _stopped.Task.Wait(TimeSpan.FromSeconds(30));
        _wake.Dispose();
    }
}
