// How a pipeline host runs its stages: where it works on disk, what it uses when a message names no base model or
// settings, the training worker's lease, the reconciliation scan. Bound from configuration section "Pipeline".
using System.ComponentModel.DataAnnotations;
using FineTune.Contracts;

namespace FineTune.Pipeline;

public sealed record PipelineOptions
{
    public const string Section = "Pipeline";

    /// <summary>Scratch space: each run's stages download, compute and upload under
    /// WorkDirectory/{run}/{stage}.</summary>
    [Required] public string WorkDirectory { get; set; } = Path.Combine(Path.GetTempPath(), "finetune-work");

    /// <summary>A local Hugging Face model directory published as the default base model bundle for drops that name
    /// none;
    /// null: the host's BaseModelFallback (the Ingestion service's is the tiny base model, pre-trained on first
    /// use).</summary>
    public string? BaseModelDirectory { get; set; }

    /// <summary>A pipeline settings JSON file (docs/pipeline.md) used when a run brings none; null: the
    /// defaults.</summary>
    public string? SettingsFile { get; set; }

    /// <summary>Training workers hold a job for this long between renewals; a crashed worker's job is retaken after
    /// it.</summary>
    [Range(5, 3600)] public int TrainingLeaseSeconds { get; set; } = 60;
    [Range(0.05, 60)] public double TrainingPollSeconds { get; set; } = 2;
    /// <summary>Names this worker in the registry (defaults to host name + process id).</summary>
    public string? WorkerId { get; set; }
    /// <summary>libtorch threads for training and evaluation (0 = all cores).</summary>
    [Range(0, 1024)] public int Threads { get; set; }

    /// <summary>How often the ingestion bucket is listed to find drops that no notification announced.</summary>
    [Range(0.1, 86400)] public double IngestionScanSeconds { get; set; } = 10;
    /// <summary>A RabbitMQ exchange (fanout) the S3 server sends bucket notifications to (MinIO's
    /// MINIO_NOTIFY_AMQP_EXCHANGE_*): the ingestion service listens there and scans at once. Null: scans
    /// only.</summary>
    public string? BucketNotificationsExchange { get; set; }
    /// <summary>The S3 server's notification target (MinIO: arn:minio:sqs::NAME:amqp); when set, the ingestion service
    /// subscribes the ingestion bucket's object-created events to it at start.</summary>
    public string? BucketNotificationsTarget { get; set; }
    /// <summary>Scan the ingestion bucket (services: yes; `finetune run`, which announces its own file: no).</summary>
    public bool WatchIngestionBucket { get; set; } = true;

    /// <summary>Redelivery intervals for a stage whose work threw (bad input is never retried); empty: <see
    /// cref="DefaultRetryIntervalsSeconds"/>. Not given a default itself: the configuration binder appends configured
    /// elements to an array that has some, so configured intervals came after the defaults instead of replacing
    /// them.</summary>
    public double[] RetryIntervalsSeconds { get; set; } = [];

    public static IReadOnlyList<double> DefaultRetryIntervalsSeconds { get; } = [1, 5, 15, 60];

    /// <summary>The intervals in force: the configured ones, else the defaults.</summary>
    public IReadOnlyList<double> RetryIntervals =>
        RetryIntervalsSeconds.Length > 0 ? RetryIntervalsSeconds : DefaultRetryIntervalsSeconds;
    /// <summary>An attempt at a stage's work (cleaning, tokenization, evaluation) is cancelled after this long. Over
    /// RabbitMQ keep it under the broker's consumer_timeout (30 minutes by default) or raise that.</summary>
    [Range(1, 7 * 24 * 60)] public double StageTimeoutMinutes { get; set; } = 25;

    /// <summary>Set at start by BaseModelPublisher / SettingsPublisher (not configuration).</summary>
    internal ArtifactRef? DefaultBaseModel { get; set; }
    internal ArtifactRef? DefaultSettings { get; set; }
}
