// Which stage failures are worth another attempt. A failure that will happen the same way again — bad input, bad
// settings, a prompt or model that does not fit, a bug in our own code — fails the stage at once with its reason; only
// what the world can change between attempts (a broker, store or database outage, a lost connection, a killed worker,
// memory pressure) is retried. Used by every stage endpoint's retry policy and by the training worker.
using System.Text.Json;
using FineTune.Artifacts;
using FineTune.Data;
using FineTune.Models;
using FineTune.Text;
using FineTune.Training;

namespace FineTune.Pipeline.Runs;

public static class StageErrors
{
    /// <summary>True when retrying cannot help: the same input meets the same error.</summary>
    public static bool IsPermanent(Exception e) => e switch
    {
        AggregateException { InnerExceptions.Count: > 0 } a => a.InnerExceptions.All(IsPermanent),
        InvalidDatasetException or InvalidPipelineSettingsException or TrainingConfigException
            or EvalSets.EvalSetNotFoundException
            or ArtifactIntegrityException => true,
        ModelFormatException or TokenizerLoadException => true,
        ObjectDisposedException => false,                          // a host shutting down under the consumer
        ArgumentException or FormatException or InvalidDataException or JsonException => true,
        InvalidOperationException or NotSupportedException or NotImplementedException => true,
        NullReferenceException or IndexOutOfRangeException or KeyNotFoundException or InvalidCastException
            or ArithmeticException => true,
        _ => false,
    };
}
