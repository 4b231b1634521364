// What a completed stage published, stored in the registry with the stage's completion: a redelivered message
// republishes it instead of redoing the work, and a crash between commit and publish heals on redelivery.
using System.Text.Json;

namespace FineTune.Pipeline;

public sealed record StageOutput(string Type, JsonElement Message)
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static string Serialize<T>(T message) where T : class =>
        JsonSerializer.Serialize(new StageOutput(typeof(T).Name, JsonSerializer.SerializeToElement(message, Json)), Json);

    public static StageOutput Parse(string json) => JsonSerializer.Deserialize<StageOutput>(json, Json)
        ?? throw new InvalidDataException("stage output is empty");

    public bool Is<T>() => Type == typeof(T).Name;

    public T As<T>() => Is<T>() ? Message.Deserialize<T>(Json)!
        : throw new InvalidOperationException($"stage output is a {Type}, not a {typeof(T).Name}");
}
