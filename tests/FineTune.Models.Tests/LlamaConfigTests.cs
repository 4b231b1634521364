// config.json parsing: the architectures we support, their defaults, and clear errors for what we do not.
using System.Text.Json.Nodes;
using FineTune.Models;

namespace FineTune.Models.Tests;

public class LlamaConfigTests
{
    const string Llama3 = """
        {"model_type":"llama","hidden_size":4096,"intermediate_size":14336,"num_hidden_layers":32,"num_attention_heads":32,
         "num_key_value_heads":8,"vocab_size":128256,"max_position_embeddings":131072,"rms_norm_eps":1e-5,"rope_theta":500000.0,
         "rope_scaling":{"factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192,"rope_type":"llama3"},
         "tie_word_embeddings":false,"torch_dtype":"bfloat16","bos_token_id":128000,"eos_token_id":[128001,128008,128009],"hidden_act":"silu"}
        """;

    static LlamaConfig Parse(string json) => LlamaConfig.FromJson(JsonNode.Parse(json)!.AsObject(), "config.json");

    [Fact]
    public void Llama_3_1_8B_config_parses_with_gqa_and_llama3_rope_scaling()
    {
        var c = Parse(Llama3);
        Assert.Equal(128, c.HeadDim);
        Assert.Equal(4, c.KvGroups);
        Assert.Equal("llama3", c.RopeScaling!.Type);
        Assert.Equal([128001, 128008, 128009], c.EosTokenIds);
        Assert.Equal(8_030_261_248, c.ParameterCount()); // Llama 3.1 8B's published parameter count
    }

    [Fact]
    public void Qwen2_has_qkv_bias()
    {
        var c =
            Parse("""{"model_type":"qwen2","hidden_size":896,"intermediate_size":4864,"num_hidden_layers":24,"num_attention_heads":14,"num_key_value_heads":2,"vocab_size":151936,"max_position_embeddings":32768,"tie_word_embeddings":true,"rope_theta":1000000.0}""");
        Assert.True(c.AttentionBias);
        Assert.Equal(494_032_768, c.ParameterCount()); // Qwen2-0.5B
    }

    [Fact]
    public void Llama3_rope_scaling_slows_only_the_low_frequencies()
    {
        var c = Parse(Llama3);
        var scaled = Rope.InverseFrequencies(c);
        var plain = Rope.InverseFrequencies(c with { RopeScaling = null });
        Assert.Equal(plain[0], scaled[0]);                      // highest frequency untouched
        Assert.Equal(plain[^1] / 8, scaled[^1], 1e-12f);        // lowest frequency divided by the factor
    }

    [Fact]
    public void Sliding_window_applies_to_mistral_and_to_qwen2_only_when_enabled()
    {
        const string shape =
            "\"hidden_size\":64,\"intermediate_size\":128,\"num_hidden_layers\":1,\"num_attention_heads\":4,\"vocab_size\":100";
        Assert.Equal(4096, Parse($$"""{"model_type":"mistral",{{shape}},"sliding_window":4096}""").SlidingWindow);
        Assert.Null(Parse($$"""{"model_type":"mistral",{{shape}},"sliding_window":null}""").SlidingWindow);
        Assert.Null(Parse(
            $$"""{"model_type":"qwen2",{{shape}},"sliding_window":4096,"use_sliding_window":false}""").SlidingWindow);
        var qwen = Parse($$"""{"model_type":"qwen2",{{shape}},"sliding_window":4096,"use_sliding_window":true}""");
        Assert.Equal(4096, qwen.SlidingWindow);
        Assert.Equal(4096, Parse(qwen.ToJson().ToJsonString()).SlidingWindow);
    }

    [Fact]
    public void Missing_model_type_is_named()
    {
        var e = Assert.Throws<ModelFormatException>(() => Parse("""{"hidden_size":8}"""));
        Assert.Contains("config.json", e.Message);
        Assert.Contains("model_type", e.Message);
    }

    [Fact]
    public void Unknown_model_type_lists_the_supported_ones()
    {
        var e = Assert.Throws<ModelFormatException>(() => Parse("""{"model_type":"gpt2","hidden_size":8}"""));
        Assert.Contains("'gpt2'", e.Message);
        Assert.Contains("llama, mistral, qwen2", e.Message);
    }

    [Fact]
    public void Missing_required_field_is_named()
    {
        var e = Assert.Throws<ModelFormatException>(() =>
            Parse("""{"model_type":"llama","hidden_size":8,"num_attention_heads":2}"""));
        Assert.Contains("intermediate_size", e.Message);
    }

    [Fact]
    public void Config_round_trips_through_json()
    {
        var c = Parse(Llama3);
        Assert.Equal(c.ToJson().ToJsonString(), Parse(c.ToJson().ToJsonString()).ToJson().ToJsonString());
        Assert.Equal(c with { EosTokenIds = [] }, Parse(c.ToJson().ToJsonString()) with { EosTokenIds = [] });
    }
}
