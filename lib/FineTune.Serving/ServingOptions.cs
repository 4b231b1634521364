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
    /// <summary>Positions per sequence (prompt + completion); 0 = the model context. Bounds the KV cache: slots ×
    /// this.</summary>
    public int MaxSequenceLength { get; init; }
    /// <summary>Kernel threads (0 = all cores).</summary>
    public int Threads { get; init; }
    /// <summary>How the base model's weights are held: auto (the checkpoint's own: a bfloat16 checkpoint is served in
    /// bfloat16, others in float32), float32, bfloat16, int8 (weight-only) or w8a8 (int8 weights and activations).
    /// Null: auto, or what the older Int8 / Int8Activations switches say.</summary>
    public string? Dtype { get; init; }
    /// <summary>Weight-only int8 quantization of the base model (per-output-channel scales); the same as Dtype
    /// int8.</summary>
    public bool Int8 { get; init; }
    /// <summary>int8 activations too (W8A8 on AVX-VNNI): activation rows quantized per row on the fly; implies
    /// Int8.</summary>
    public bool Int8Activations { get; init; }
    /// <summary>Keys and values cached as bfloat16 (true) or float32 (false): bfloat16 halves the cache memory and
    /// what attention reads per step. Null: as the weights are held (bfloat16 weights, bfloat16 cache; float32 and
    /// int8 weights, float32), as `--kv-cache-dtype auto`.</summary>
    public bool? Bf16KvCache { get; init; }

    /// <summary>Largest request body accepted, in bytes (413 above).</summary>
    public long MaxRequestBytes { get; init; } = 1 << 20;
    /// <summary>Largest total of request header names and values, in bytes (431 above, in OpenAI's error shape; the
    /// web server's own limit is set higher so this one answers first).</summary>
    public int MaxRequestHeaderBytes { get; init; } = 16 * 1024;
    /// <summary>Largest `n` (choices per request).</summary>
    public int MaxChoices { get; init; } = 8;
    /// <summary>max_tokens when a request gives none: the rest of the context, capped here.</summary>
    public int DefaultMaxTokens { get; init; } = 256;

    /// <summary>API keys: plain keys (hashed when read, never kept) or "sha256:&lt;hex&gt;" hashes.</summary>
    public IReadOnlyList<string> ApiKeys { get; init; } = [];
    /// <summary>Keys that may also load and unload adapters at run time (same forms as ApiKeys).</summary>
    public IReadOnlyList<string> AdminApiKeys { get; init; } = [];

    /// <summary>vLLM's runtime adapter loading (POST /v1/load_lora_adapter, /v1/unload_lora_adapter): off unless set,
    /// as vLLM requires VLLM_ALLOW_RUNTIME_LORA_UPDATING; then only admin keys may use it, only under
    /// AdaptersRoot.</summary>
    public bool RuntimeAdapterLoading { get; init; }
    /// <summary>The one directory runtime adapters are read from: lora_path is resolved inside it; '..', absolute paths
    /// elsewhere and symbolic links are refused.</summary>
    public string? AdaptersRoot { get; init; }
    /// <summary>Adapters served at once (start-up ones included); a load beyond it is refused.</summary>
    public int MaxAdapters { get; init; } = 16;
    /// <summary>Largest adapter weights file (adapter_model.safetensors) a runtime load reads.</summary>
    public long MaxAdapterBytes { get; init; } = 1L << 30;
    /// <summary>Requests per minute per key (token bucket); 0 = unlimited.</summary>
    public int RequestsPerMinute { get; init; } = 600;

    /// <summary>Entries of the exact-match cache for deterministic requests; 0 turns it off.</summary>
    public int ResponseCacheEntries { get; init; } = 1024;
    /// <summary>Behind the registry (Deployment service): seconds between reconciliations of served names with the
    /// aliases.</summary>
    public int RegistryPollSeconds { get; init; } = 30;
    /// <summary>Behind the registry: seconds between analyses of the running canary and shadow releases.</summary>
    public int ReleaseCheckSeconds { get; init; } = 15;
    /// <summary>Words (case-insensitive, whole words) that stop a response: finish_reason "content_filter".</summary>
    public IReadOnlyList<string> BlockedWords { get; init; } = [];
}
