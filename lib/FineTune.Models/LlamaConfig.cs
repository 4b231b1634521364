// The architecture hyper-parameters of a Llama-family decoder, read from and written to Hugging Face `config.json`.
// Covers Llama 2/3 (incl. llama3 rope scaling), Mistral and Qwen2 (q/k/v bias).
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FineTune.Models;

public sealed record RopeScaling(
    string Type,                       // "llama3" is the one we implement; others are rejected with a clear error
    double Factor,                     // how much longer than the original context the model was extended to
    double LowFreqFactor,              // wavelengths above original/low_freq_factor are scaled fully
    double HighFreqFactor,             // wavelengths below original/high_freq_factor are left alone
    int OriginalMaxPositionEmbeddings);

public sealed record LlamaConfig
{
    public static readonly string[] SupportedModelTypes = ["llama", "mistral", "qwen2"];

    public string ModelType { get; init; } = "llama";
    public int HiddenSize { get; init; }              // dim: width of the residual stream
    public int IntermediateSize { get; init; }        // hidden width of the SwiGLU MLP
    public int NumHiddenLayers { get; init; }         // number of decoder blocks
    public int NumAttentionHeads { get; init; }       // query heads
    public int NumKeyValueHeads { get; init; }        // key/value heads (< query heads: grouped-query attention)
    public int VocabSize { get; init; }
    public int MaxPositionEmbeddings { get; init; }   // context length the model was trained for
    public double RmsNormEps { get; init; } = 1e-5;
    public double RopeTheta { get; init; } = 10000.0;
    public RopeScaling? RopeScaling { get; init; }
    public bool TieWordEmbeddings { get; init; }      // lm_head shares embed_tokens' weight
    public bool AttentionBias { get; init; }          // q/k/v projections carry a bias (Qwen2)
    public int? ExplicitHeadDim { get; init; }        // head_dim when it is not hidden/heads
    // attend to at most this many latest positions (Mistral); null = all
    public int? SlidingWindow { get; init; }
    public string TorchDtype { get; init; } = "float32";
    public int? BosTokenId { get; init; }
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
    public int? PadTokenId { get; init; }
    // Sequence classification (…ForSequenceClassification, e.g. a reward model with 1 label): a `score` head (labels,
    // hidden) read at the last token replaces the LM head. Null: a causal LM.
    public int? NumLabels { get; init; }

    public bool IsSequenceClassifier => NumLabels is not null;

    public int HeadDim => ExplicitHeadDim ?? HiddenSize / NumAttentionHeads;
    public int KvGroups => NumAttentionHeads / NumKeyValueHeads;

    /// <summary>Number of parameters the tensors of this architecture hold.</summary>
    public long ParameterCount()
    {
        long d = HiddenSize, q = (long)NumAttentionHeads * HeadDim, kv = (long)NumKeyValueHeads * HeadDim;
        long attention = d * q + 2 * d * kv + q * d + (AttentionBias ? q + 2 * kv : 0);
        long mlp = 3 * d * IntermediateSize;
        long perLayer = attention + mlp + 2 * d;
        long embeddings = (long)VocabSize * d;
        long head = NumLabels is { } labels ? labels * d : TieWordEmbeddings ? 0 : (long)VocabSize * d;
        return embeddings + head + NumHiddenLayers * perLayer + d;
    }

    public void Validate(string source)
    {
        void Positive(int value, string field)
        {
            if (value <= 0)
                throw new ModelFormatException($"{source}: field '{field}' must be a positive integer, got {value}.");
        }
        Positive(HiddenSize, "hidden_size");
        Positive(IntermediateSize, "intermediate_size");
        Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads");
        Positive(NumKeyValueHeads, "num_key_value_heads");
        Positive(VocabSize, "vocab_size");
        Positive(MaxPositionEmbeddings, "max_position_embeddings");
        if (ExplicitHeadDim is null && HiddenSize % NumAttentionHeads != 0)
            throw new ModelFormatException($"{source}: hidden_size {HiddenSize} is not divisible by " +
                $"num_attention_heads {NumAttentionHeads}.");
        if (NumAttentionHeads % NumKeyValueHeads != 0)
            throw new ModelFormatException($"{source}: num_attention_heads {NumAttentionHeads} is not a multiple of " +
                $"num_key_value_heads {NumKeyValueHeads}.");
        if (HeadDim % 2 != 0)
            throw new ModelFormatException($"{source}: head dimension {HeadDim} must be even for rotary embeddings.");
        if (SlidingWindow is <= 0)
            throw new ModelFormatException($"{source}: sliding_window must be a positive integer, got " +
                $"{SlidingWindow}.");
        if (RopeScaling is { Type: not "llama3" })
            throw new ModelFormatException($"{source}: rope_scaling type '{RopeScaling.Type}' is not supported " +
                $"(supported: llama3, or none).");
    }

    /// <summary>This causal LM as a reward model: one label, the score read where Hugging Face reads it.</summary>
    // Hugging Face reads a classifier's score at the rightmost token that is not pad_token_id, so the pad must be a
    // token that never ends a sequence: the base's own pad unless it is an end-of-sequence token (ours end with one),
    // else BOS, which only ever starts one.
    public LlamaConfig AsRewardModel() => this with
    {
        NumLabels = 1,
        PadTokenId = PadTokenId is { } pad && !EosTokenIds.Contains(pad) ? pad : BosTokenId ?? PadTokenId,
    };

    /// <summary>Generation needs an LM head: a sequence classifier (a reward model) is refused with what to use
    /// instead.</summary>
    public void RequireCausalLm(string source)
    {
        if (IsSequenceClassifier)
            throw new ModelFormatException($"{source}: is a sequence classifier ({Architecture}, {NumLabels} " +
                "label(s)), e.g. a reward model: it scores text and cannot generate. Score with `finetune reward " +
                "score`, or give a causal LM.");
    }

    /// <summary>The Hugging Face class: LlamaForCausalLM, MistralForSequenceClassification, …</summary>
    public string Architecture => (ModelType switch { "mistral" => "Mistral", "qwen2" => "Qwen2", _ => "Llama" })
        + (IsSequenceClassifier ? "ForSequenceClassification" : "ForCausalLM");

    public static LlamaConfig Load(string path)
    {
        if (!File.Exists(path))
            throw new ModelFormatException($"config.json not found at '{path}' (a Hugging Face model directory " +
                $"needs one).");
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new ModelFormatException($"{path}: not valid JSON ({e.Message}).");
        }
        if (root is not JsonObject json)
            throw new ModelFormatException($"{path}: expected a JSON object.");
        return FromJson(json, path);
    }

    public static LlamaConfig FromJson(JsonObject json, string source)
    {
        var modelType = json["model_type"]?.GetValue<string>()
            ?? throw new ModelFormatException($"{source}: field 'model_type' is missing (expected one of " +
                $"{string.Join(", ", SupportedModelTypes)}).");
        if (!SupportedModelTypes.Contains(modelType))
            throw new ModelFormatException($"{source}: model_type '{modelType}' is not supported (expected one of " +
                $"{string.Join(", ", SupportedModelTypes)}).");

        int Int(string field, int? fallback = null)
        {
            var node = json[field];
            if (node is null)
                return fallback
                    ?? throw new ModelFormatException($"{source}: field '{field}' is missing (expected an integer).");
            try
            {
                return node.GetValue<int>();
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException)
            {
                throw new ModelFormatException($"{source}: field '{field}' must be an integer, got " +
                $"{node.ToJsonString()}.");
            }
        }
        double Double(string field, double fallback) => json[field] is { } node ? node.GetValue<double>() : fallback;

        var heads = Int("num_attention_heads");
        var activation = json["hidden_act"]?.GetValue<string>() ?? "silu";
        if (activation != "silu")
            throw new ModelFormatException($"{source}: hidden_act '{activation}' is not supported (expected 'silu').");

        var config = new LlamaConfig
        {
            ModelType = modelType,
            HiddenSize = Int("hidden_size"),
            IntermediateSize = Int("intermediate_size"),
            NumHiddenLayers = Int("num_hidden_layers"),
            NumAttentionHeads = heads,
            NumKeyValueHeads = Int("num_key_value_heads", heads),
            VocabSize = Int("vocab_size"),
            MaxPositionEmbeddings = Int("max_position_embeddings", 2048),
            RmsNormEps = Double("rms_norm_eps", 1e-6),
            RopeTheta = Double("rope_theta", 10000.0),
            RopeScaling = ParseRopeScaling(json["rope_scaling"], source),
            TieWordEmbeddings = json["tie_word_embeddings"]?.GetValue<bool>() ?? false,
            AttentionBias = modelType == "qwen2" || (json["attention_bias"]?.GetValue<bool>() ?? false),
            ExplicitHeadDim = json["head_dim"] is { } hd ? hd.GetValue<int>() : null,
            // Qwen2 configs carry a sliding_window that only applies when use_sliding_window is true.
            SlidingWindow = json["sliding_window"] is JsonValue window
                && (json["use_sliding_window"]?.GetValue<bool>() ?? modelType == "mistral")
                ? window.GetValue<int>() : null,
            TorchDtype = json["torch_dtype"]?.GetValue<string>() ?? json["dtype"]?.GetValue<string>() ?? "float32",
            BosTokenId = json["bos_token_id"] is JsonValue bos ? bos.GetValue<int>() : null,
            PadTokenId = json["pad_token_id"] is JsonValue pad ? pad.GetValue<int>() : null,
            NumLabels = SequenceClassifierLabels(json, source),
            EosTokenIds = json["eos_token_id"] switch
            {
                JsonArray array => array.Select(x => x!.GetValue<int>()).ToArray(),
                JsonValue value => [value.GetValue<int>()],
                _ => [],
            },
        };
        if (config.ExplicitHeadDim == config.HiddenSize / heads)
            config = config with { ExplicitHeadDim = null };
        config.Validate(source);
        return config;
    }

    // …ForSequenceClassification: num_labels, else the size of id2label, else Hugging Face's default of 2.
    static int? SequenceClassifierLabels(JsonObject json, string source)
    {
        bool classifier = json["architectures"] is JsonArray architectures && architectures.Any(a =>
            a is JsonValue v && v.TryGetValue<string>(out var name)
            && name.EndsWith("ForSequenceClassification", StringComparison.Ordinal));
        if (!classifier)
            return null;
        int labels = json["num_labels"] is JsonValue n ? n.GetValue<int>()
            : json["id2label"] is JsonObject id2label ? id2label.Count : 2;
        if (labels <= 0)
            throw new ModelFormatException($"{source}: a sequence classifier needs at least 1 label, got {labels}.");
        return labels;
    }

    static RopeScaling? ParseRopeScaling(JsonNode? node, string source)
    {
        if (node is not JsonObject scaling)
            return null;
        var type = (scaling["rope_type"] ?? scaling["type"])?.GetValue<string>()
            ?? throw new ModelFormatException($"{source}: field 'rope_scaling.rope_type' is missing.");
        if (type == "default")
            return null;
        return new RopeScaling(
            type,
            scaling["factor"]?.GetValue<double>() ?? 1.0,
            scaling["low_freq_factor"]?.GetValue<double>() ?? 1.0,
            scaling["high_freq_factor"]?.GetValue<double>() ?? 4.0,
            scaling["original_max_position_embeddings"]?.GetValue<int>() ?? 8192);
    }

    public JsonObject ToJson()
    {
        var json = new JsonObject
        {
            ["architectures"] = new JsonArray(Architecture),
            ["model_type"] = ModelType,
            ["hidden_size"] = HiddenSize,
            ["intermediate_size"] = IntermediateSize,
            ["num_hidden_layers"] = NumHiddenLayers,
            ["num_attention_heads"] = NumAttentionHeads,
            ["num_key_value_heads"] = NumKeyValueHeads,
            ["vocab_size"] = VocabSize,
            ["max_position_embeddings"] = MaxPositionEmbeddings,
            ["rms_norm_eps"] = RmsNormEps,
            ["rope_theta"] = RopeTheta,
            ["tie_word_embeddings"] = TieWordEmbeddings,
            ["hidden_act"] = "silu",
            ["torch_dtype"] = TorchDtype,
        };
        if (ModelType == "llama")
            json["attention_bias"] = AttentionBias;
        if (ExplicitHeadDim is { } headDim)
            json["head_dim"] = headDim;
        if (SlidingWindow is { } window)
        {
            json["sliding_window"] = window;
            if (ModelType == "qwen2")
                json["use_sliding_window"] = true;
        }
        if (BosTokenId is { } bos)
            json["bos_token_id"] = bos;
        if (EosTokenIds.Count == 1)
            json["eos_token_id"] = EosTokenIds[0];
        else if (EosTokenIds.Count > 1)
            json["eos_token_id"] = new JsonArray(EosTokenIds.Select(x => (JsonNode)x).ToArray());
        if (PadTokenId is { } pad)
            json["pad_token_id"] = pad;
        if (NumLabels is { } labels)
        {
            json["num_labels"] = labels;
            json["id2label"] = new JsonObject(Enumerable.Range(0, labels).Select(i =>
                KeyValuePair.Create($"{i}", (JsonNode?)$"LABEL_{i}")));
            json["label2id"] = new JsonObject(Enumerable.Range(0, labels).Select(i =>
                KeyValuePair.Create($"LABEL_{i}", (JsonNode?)i)));
        }
        if (RopeScaling is { } rs)
            json["rope_scaling"] = new JsonObject
            {
                ["rope_type"] = rs.Type,
                ["factor"] = rs.Factor,
                ["low_freq_factor"] = rs.LowFreqFactor,
                ["high_freq_factor"] = rs.HighFreqFactor,
                ["original_max_position_embeddings"] = rs.OriginalMaxPositionEmbeddings,
            };
        return json;
    }

    public void Save(string path) =>
        File.WriteAllText(path, ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
}
