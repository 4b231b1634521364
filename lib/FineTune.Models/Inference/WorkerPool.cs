// A fixed set of worker threads for CpuLlama's kernels. Dispatch is a counter bump the workers spin on (briefly, then
// they sleep), so a parallel matmul costs about a microsecond to start instead of a thread-pool round trip.
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace FineTune.Models.Inference;

/// <summary>Work split into parts: Run(part, parts) does part `part` of `parts`.</summary>
internal interface IParallelWork
{
    void Run(int part, int parts);
}

/// <summary>A work counter alone on its cache line: the threads claiming work through it do not also keep evicting
/// the job's other fields from each other's caches.</summary>
[StructLayout(LayoutKind.Explicit, Size = 192)]
internal struct ClaimCounter
{
    [FieldOffset(64)] int _value;

    public void Reset() => Volatile.Write(ref _value, 0);

    /// <summary>Claims the next n units; returns the first.</summary>
    public int Claim(int n) => Interlocked.Add(ref _value, n) - n;
}

internal sealed class WorkerPool : IDisposable
{
    // How long an idle worker spins before it sleeps: covers the gaps between the kernels of one decode step.
    static readonly long SpinTicks = Stopwatch.Frequency / 2000; // 0.5 ms

    readonly Thread[] _workers;
    readonly object _gate = new();
    IParallelWork? _work;
    int _parts;
    int _generation;
    int _pending;
    volatile bool _disposed;
    Exception? _error;

    /// <summary>Total threads including the caller's: size - 1 workers are started.</summary>
    public WorkerPool(int size)
    {
        _workers = new Thread[size - 1];
        for (int i = 0; i < _workers.Length; i++)
        {
            int index = i + 1;
            _workers[i] = new Thread(() => Loop(index)) { IsBackground = true, Name = $"CpuLlama worker {index}" };
            _workers[i].Start();
        }
    }

    public int Size => _workers.Length + 1;

    /// <summary>Runs parts 1..parts-1 on workers and part 0 on the calling thread; returns when all are done. Not
    /// re-entrant.</summary>
    public void Run(IParallelWork work, int parts)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _work = work;
        _parts = parts;
        _error = null;
        Volatile.Write(ref _pending, _workers.Length);
        lock (_gate)
        {
            _generation++;
            Monitor.PulseAll(_gate);
        }
        try
        {
            work.Run(0, parts);
        }
        finally
        {
            var spin = new SpinWait();
            while (Volatile.Read(ref _pending) != 0)
                spin.SpinOnce(sleep1Threshold: -1);
            _work = null;
        }
        if (_error is { } error)
            throw new AggregateException("a CpuLlama worker failed", error);
    }

    void Loop(int index)
    {
        int seen = 0;
        while (true)
        {
            if (Volatile.Read(ref _generation) == seen)
            {
                long until = Stopwatch.GetTimestamp() + SpinTicks;
                while (Volatile.Read(ref _generation) == seen && Stopwatch.GetTimestamp() < until)
                    Thread.SpinWait(20);
                if (Volatile.Read(ref _generation) == seen)
                    lock (_gate)
                        while (_generation == seen)
                            Monitor.Wait(_gate);
            }
            seen = Volatile.Read(ref _generation);
            if (_disposed)
                return;
            if (index < _parts)
            {
                try
                {
                    _work!.Run(index, _parts);
                }
                catch (Exception e)
                {
                    _error = e;
                }
            }
            Interlocked.Decrement(ref _pending);
        }
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        lock (_gate)
        {
            _generation++;
            Monitor.PulseAll(_gate);
        }
    }
}
