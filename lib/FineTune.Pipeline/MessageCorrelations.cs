// Every message's correlation id is its run id: one run's messages, logs and traces line up across services. Every
// contract carries RunId, so each is registered from the contracts assembly: a new message needs no line here.
using System.Linq.Expressions;
using System.Reflection;
using FineTune.Contracts;
using MassTransit;

namespace FineTune.Pipeline;

public static class MessageCorrelations
{
    static readonly Lazy<int> Registered = new(Register);

    /// <summary>Registers RunId as the correlation id of every contract (MassTransit's registry is process-wide;
    /// once).</summary>
    public static int UseRunIds() => Registered.Value;

    /// <summary>The contract types: public records of FineTune.Contracts with a Guid RunId.</summary>
    public static IReadOnlyList<Type> Contracts { get; } = typeof(ArtifactRef).Assembly.GetExportedTypes()
        .Where(t => t is { IsClass: true, IsAbstract: false } && t.GetProperty("RunId")?.PropertyType == typeof(Guid))
        .OrderBy(t => t.Name, StringComparer.Ordinal).ToArray();

    static int Register()
    {
        var use = typeof(MessageCorrelations).GetMethod(nameof(UseRunId),
            BindingFlags.NonPublic | BindingFlags.Static)!;
        foreach (var type in Contracts)
            use.MakeGenericMethod(type).Invoke(null, null);
        return Contracts.Count;
    }

    static void UseRunId<T>() where T : class
    {
        var message = Expression.Parameter(typeof(T), "m");
        var runId = Expression.Lambda<Func<T, Guid>>(Expression.Property(message, "RunId"), message).Compile();
        MessageCorrelation.UseCorrelationId(runId);
    }
}
