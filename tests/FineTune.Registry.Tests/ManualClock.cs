// A TimeProvider the test moves by hand, so that lease expiry is tested without sleeping.
namespace FineTune.Registry.Tests;

public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    long _utcTicks = start.UtcTicks;

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _utcTicks), TimeSpan.Zero);

    public void Advance(TimeSpan by) => Interlocked.Add(ref _utcTicks, by.Ticks);
}
