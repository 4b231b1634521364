// What a completed stage published, stored in the registry with the stage's completion: a redelivered message
// republishes it instead of redoing the work, and a crash between commit and publish heals on redelivery.
using System.Text.Json;
using FineTune.Contracts;
using FineTune.Registry;

namespace FineTune.Pipeline;

public sealed record StageOutput(string Type, JsonElement Message)
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static string Serialize(object message) =>
        JsonSerializer.Serialize(new StageOutput(message.GetType().Name, JsonSerializer.SerializeToElement(message,
            message.GetType(), Json)), Json);

    /// <summary>The outputs of the run's completed stages, by stage name.</summary>
    public static async Task<IReadOnlyDictionary<string, StageOutput>> ReadAllAsync(IRegistrySession session,
        Guid runId, CancellationToken ct = default)
    {
        var outputs = new Dictionary<string, StageOutput>();
        foreach (var stage in Stages.All)
            if (await session.GetStageOutputAsync(runId, stage, ct) is { } json)
                outputs[stage] = Parse(json);
        return outputs;
    }

    public static StageOutput Parse(string json) => JsonSerializer.Deserialize<StageOutput>(json, Json)
        ?? throw new InvalidDataException("stage output is empty");

    public bool Is<T>() => Type == typeof(T).Name;

    /// <summary>The stored message as its contract type (DatasetCleaned, …); null when it is not a contract
    /// (RunSkipped).</summary>
    public object? ToContract()
        => typeof(ArtifactRef).Assembly.GetType($"{typeof(ArtifactRef).Namespace}.{Type}") is { } type
        && MessageCorrelations.Contracts.Contains(type) ? Message.Deserialize(type, Json) : null;

    public T As<T>() => Is<T>() ? Message.Deserialize<T>(Json)!
        : throw new InvalidOperationException($"stage output is a {Type}, not a {typeof(T).Name}");
}
