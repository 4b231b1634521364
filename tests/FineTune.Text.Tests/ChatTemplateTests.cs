// Chat formats (hand-checked strings), template detection and parsing, and encoding of formatted chats.
using System.Text.Json;

namespace FineTune.Text.Tests;

public class ChatTemplateTests
{
    private static readonly ChatMessage[] s_chat =
    [
        new("system", "Be brief."),
        new("user", "Hi"),
        new("assistant", "Hello!"),
        new("user", "Bye"),
    ];

    [Fact]
    public void ChatMl_wraps_each_turn_in_im_start_and_im_end()
    {
        Assert.Equal(
            "<|im_start|>system\nBe " +
                "brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n" +
            "<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n",
            ChatTemplate.For(ChatTemplateKind.ChatMl).Format(s_chat));
        Assert.EndsWith("<|im_start|>user\nBye<|im_end|>\n",
            ChatTemplate.For(ChatTemplateKind.ChatMl).Format(s_chat, addGenerationPrompt: false));
    }

    [Fact]
    public void Llama2_puts_the_system_prompt_inside_the_first_inst_block()
    {
        Assert.Equal(
            "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] Bye [/INST]",
            ChatTemplate.For(ChatTemplateKind.Llama2).Format(s_chat));
    }

    [Fact]
    public void Llama3_uses_header_ids_and_eot_after_each_turn()
    {
        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
            ChatTemplate.For(ChatTemplateKind.Llama3).Format(s_chat));
    }

    [Fact]
    public void Alpaca_uses_the_standard_preamble_and_instruction_response_headers()
    {
        var chat = new[] { new ChatMessage("user", "Add 2 and 3."), new ChatMessage("assistant", "5") };
        Assert.Equal(
            ChatTemplate.AlpacaPreamble + "\n\n### Instruction:\nAdd 2 and 3.\n\n### Response:\n5\n\n",
            ChatTemplate.For(ChatTemplateKind.Alpaca).Format(chat));
        Assert.Equal(
            "Below is an instruction that describes a task. Write a response that appropriately completes the " +
                "request.\n\n" +
            "### Instruction:\nAdd 2 and 3.\n\n### Response:\n",
            ChatTemplate.For(ChatTemplateKind.Alpaca).Format(chat[..1]));
    }

    [Fact]
    public void Unknown_roles_and_late_system_messages_are_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => ChatTemplate.For(ChatTemplateKind.ChatMl).Format([new("tool",
            "x")]));
        Assert.Contains("'tool'", ex.Message);
        Assert.Throws<ArgumentException>(() => ChatTemplate.For(ChatTemplateKind.Llama2).Format([new("user", "a"),
            new("system", "b")]));
    }

    [Theory]
    [InlineData("chatml", ChatTemplateKind.ChatMl)]
    [InlineData("ChatML", ChatTemplateKind.ChatMl)]
    [InlineData("LLAMA2", ChatTemplateKind.Llama2)]
    [InlineData("llama3", ChatTemplateKind.Llama3)]
    [InlineData("Alpaca", ChatTemplateKind.Alpaca)]
    public void Parse_accepts_template_names_in_any_case(string name, ChatTemplateKind kind) =>
        Assert.Equal(kind, ChatTemplate.Parse(name));

    [Fact]
    public void Parse_rejects_unknown_names_listing_the_valid_ones()
    {
        var ex = Assert.Throws<ArgumentException>(() => ChatTemplate.Parse("vicuna"));
        Assert.Contains("vicuna", ex.Message);
        Assert.Contains("chatml, llama2, llama3, alpaca", ex.Message);
    }

    [Theory]
    [InlineData("{% for m in messages %}{{'<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n'}}{% " +
        "endfor %}", ChatTemplateKind.ChatMl)]
    [InlineData("{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}", ChatTemplateKind.Llama2)]
    [InlineData("{{ '### Instruction:\n' + message['content'] }}", ChatTemplateKind.Alpaca)]
    public void Detect_recognizes_template_families_by_their_markers(string jinja, ChatTemplateKind kind) =>
        Assert.Equal(kind, ChatTemplate.Detect(jinja)?.Kind);

    [Fact]
    public void Detect_returns_null_for_missing_or_unknown_templates()
    {
        Assert.Null(ChatTemplate.Detect(null));
        Assert.Null(ChatTemplate.Detect("{{ messages[0]['content'] }}"));
    }

    [SkippableFact]
    public void Detect_recognizes_the_llama3_instruct_template_from_tokenizer_config()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestData.Llama3Dir,
            "tokenizer_config.json")));
        Assert.Equal(ChatTemplateKind.Llama3,
            ChatTemplate.Detect(doc.RootElement.GetProperty("chat_template").GetString())?.Kind);
    }

    [SkippableFact]
    public void A_formatted_llama3_chat_encodes_special_markers_as_single_ids()
    {
        var t = TestData.Llama3;
        var ids = t.Encode(t.ChatTemplate!.Format([new("user", "Hi")]));
        int bot = t.TokenToId("<|begin_of_text|>")!.Value, sh = t.TokenToId("<|start_header_id|>")!.Value;
        int eh = t.TokenToId("<|end_header_id|>")!.Value, eot = t.TokenToId("<|eot_id|>")!.Value;
        Assert.Equal([bot, sh, .. t.Encode("user"), eh, .. t.Encode("\n\nHi"), eot, sh, .. t.Encode("assistant"), eh,
            .. t.Encode("\n\n")], ids);
        Assert.Equal(1, ids.Count(i => i == eot));
        Assert.Equal(128000, ids[0]);
    }

    [SkippableFact]
    public void A_formatted_llama2_chat_encodes_bos_and_eos_text_as_control_ids()
    {
        var t = TestData.Llama2;
        var ids = t.Encode(ChatTemplate.For(ChatTemplateKind.Llama2).Format([new("user", "Hi"), new("assistant", "Yo"),
            new("user", "Bye")]));
        Assert.Equal(2, ids.Count(i => i == 1));
        Assert.Equal(1, ids.Count(i => i == 2));
        Assert.Equal(1, ids[0]);
        // Hugging Face's (legacy) LlamaTokenizer encodes "<s>[INST]" as [1, 518, 25580, 29962].
        Assert.Equal([1, 518, 25580, 29962], ids.Take(4));
    }
}
