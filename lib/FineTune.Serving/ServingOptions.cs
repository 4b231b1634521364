// Settings of the inference server, bound from the "Serving" configuration section (appsettings, environment variables
// such as Serving__MaxBatchSize, or `finetune serve` flags).
namespace FineTune.Serving;

public sealed record ServingOptions
{
    public const string Section = "Serving";

    /// <summary>Sequences decoded together (KV-cache slots per model).</summary>
    public int MaxBatchSize { get; init; } = 16;
    /// <summary>Requests waiting for a slot beyond which new ones get 429.</summary>
    public int MaxQueueLength { get; init; } = 64;
    /// <summary>Prompt tokens prefilled per decode step across all joining requests (chunked prefill).</summary>
    public int PrefillTokensPerStep { get; init; } = 64;
    /// <summary>Positions per sequence (prompt + completion); 0 = the model context. Bounds the KV cache: slots × this.</summary>
    public int MaxSequenceLength { get; init; }
    /// <summary>Kernel threads (0 = all cores).</summary>
    public int Threads { get; init; }
    /// <summary>Weight-only int8 quantization of the base model (per-output-channel scales).</summary>
    public bool Int8 { get; init; }
    /// <summary>int8 activations too (W8A8 on AVX-VNNI): activation rows quantized per row on the fly; implies Int8.</summary>
    public bool Int8Activations { get; init; }
    /// <summary>Keys and values cached as bfloat16: half the cache memory and of what attention reads per step.</summary>
    public bool Bf16KvCache { get; init; }

    /// <summary>Largest request body accepted, in bytes (413 above).</summary>
    public long MaxRequestBytes { get; init; } = 1 << 20;
    /// <summary>Largest `n` (choices per request).</summary>
    public int MaxChoices { get; init; } = 8;
    /// <summary>max_tokens when a request gives none: the rest of the context, capped here.</summary>
    public int DefaultMaxTokens { get; init; } = 256;

    /// <summary>API keys: plain keys (hashed when read, never kept) or "sha256:&lt;hex&gt;" hashes.</summary>
    public IReadOnlyList<string> ApiKeys { get; init; } = [];
    /// <summary>Requests per minute per key (token bucket); 0 = unlimited.</summary>
    public int RequestsPerMinute { get; init; } = 600;

    /// <summary>Entries of the exact-match cache for deterministic requests; 0 turns it off.</summary>
    public int ResponseCacheEntries { get; init; } = 1024;
    /// <summary>Behind the registry (Deployment service): seconds between reconciliations of served names with the aliases.</summary>
    public int RegistryPollSeconds { get; init; } = 30;
    /// <summary>Words (case-insensitive, whole words) that stop a response: finish_reason "content_filter".</summary>
    public IReadOnlyList<string> BlockedWords { get; init; } = [];
}
