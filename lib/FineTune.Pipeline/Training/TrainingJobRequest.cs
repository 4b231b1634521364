// What a training job row holds: the request, and the trace it belongs to (W3C traceparent), so the worker that runs
// the job — maybe much later, maybe on another host — continues the run's trace instead of starting a new one.
using System.Text.Json;
using FineTune.Contracts;

namespace FineTune.Pipeline.Training;

public sealed record TrainingJobRequest(TrainingRequested Message, string? TraceParent)
{
    public string ToJson() => JsonSerializer.Serialize(this);

    public static TrainingJobRequest Parse(string json) =>
        JsonSerializer.Deserialize<TrainingJobRequest>(json)
            ?? throw new InvalidDataException("empty training job request");
}
