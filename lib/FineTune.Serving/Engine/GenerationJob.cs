// One sequence to generate: its prompt, sampling settings and adapter going in; its tokens coming out through a
// channel the HTTP handler reads while the scheduler keeps decoding.
using System.Diagnostics;
using System.Threading.Channels;
using FineTune.Models.Generation;
using FineTune.Models.Inference;
using FineTune.Text.Structured;

namespace FineTune.Serving.Engine;

public enum JobEnd { Stop, Length, Cancelled, Failed }

/// <summary>A token, or the end of the sequence (Token is -1 then). At: when the scheduler produced it
/// (Stopwatch timestamp).</summary>
public readonly record struct JobEvent(int Token, JobEnd? End = null, Exception? Error = null, long At = 0);

public sealed class GenerationJob
{
    readonly Channel<JobEvent> _events = Channel.CreateUnbounded<JobEvent>(new UnboundedChannelOptions
    {
        SingleReader = true, SingleWriter = true
    });

    public GenerationJob(IReadOnlyList<int> prompt, GenerationOptions options, CpuLoraAdapter? adapter,
        CancellationToken cancellation, TokenConstraint? constraint = null)
    {
        Prompt = prompt;
        Options = options;
        Adapter = adapter;
        Cancellation = cancellation;
        Constraint = constraint;
    }

    public IReadOnlyList<int> Prompt { get; }
    public GenerationOptions Options { get; }
    public CpuLoraAdapter? Adapter { get; }
    public CancellationToken Cancellation { get; }
    /// <summary>The response format the tokens must follow (masked before each draw), or null.</summary>
    public TokenConstraint? Constraint { get; }
    /// <summary>Work nobody waits for (a shadow's answer): admitted only while no other job waits, into at most half
    /// of the batch.</summary>
    public bool Background { get; init; }
    public long EnqueuedAt { get; } = Stopwatch.GetTimestamp();

    public ChannelReader<JobEvent> Events => _events.Reader;
    internal bool Emit(int token) => _events.Writer.TryWrite(new JobEvent(token, At: Stopwatch.GetTimestamp()));
    internal void End(JobEnd end, Exception? error = null)
    {
        _events.Writer.TryWrite(new JobEvent(-1, end, error, Stopwatch.GetTimestamp()));
        _events.Writer.TryComplete();
    }
}
