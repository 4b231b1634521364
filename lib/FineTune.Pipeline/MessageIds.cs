// One logical message, one MessageId: a stage's event for a run always gets the same id (a name-based UUID of run and
// type), so when a crash or a reconciliation scan publishes it twice, every consumer's inbox sees one message.
using System.Security.Cryptography;
using System.Text;
using MassTransit;

namespace FineTune.Pipeline;

public static class MessageIds
{
    public static Guid For(Guid runId, string name)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{runId:N}/{name}"));
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);   // version 5-style (name-based)
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);   // RFC 4122 variant
        return new Guid(hash.AsSpan(0, 16));
    }

    /// <summary>Publishes <paramref name="message"/> with the run's deterministic id for its type (plus <paramref
    /// name="name"/>).</summary>
    public static Task PublishForRun<T>(this IPublishEndpoint endpoint, T message, Guid runId, CancellationToken ct,
        string? name = null)
        where T : class =>
        endpoint.Publish(message,
            context => context.MessageId = For(runId, typeof(T).Name + (name is null ? "" : "/" + name)), ct);

    /// <summary>The same for a message whose type is known only at run time (a stage's stored output).</summary>
    public static Task PublishForRun(this IPublishEndpoint endpoint, object message, Guid runId,
        CancellationToken ct) =>
        endpoint.Publish(message, message.GetType(), context => context.MessageId = For(runId, message.GetType().Name),
            ct);
}
