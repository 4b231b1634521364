// A hand-built six-merge byte-level BPE, loaded as vocab.json+merges.txt and as a .tiktoken file,
// with ids checked by hand; also generation_config stop ids and the merge-order check.
using System.Text;
using System.Text.Json;

namespace FineTune.Text.Tests;

public class SmallByteLevelTests
{
    // results get ids 256..261
    private static readonly string[] s_merges = ["h e", "l l", "he ll", "hell o", "Ġ w", "o r"];
    private const int EndOfText = 262;

    private static string WriteFiles(bool tiktoken, string[]? merges = null)
    {
        string dir = TestData.TempDir();
        var vocab = Enumerable.Range(0, 256).ToDictionary(b => ByteLevelAlphabet.CharOf((byte)b).ToString(), b => b);
        merges ??= s_merges;
        for (int i = 0; i < s_merges.Length; i++)
            vocab[s_merges[i].Replace(" ", "")] = 256 + i;
        if (tiktoken)
        {
            var lines = vocab.Select(kv => Convert.ToBase64String(ByteLevelAlphabet.ToBytes(kv.Key)!) + " " + kv.Value);
            File.WriteAllLines(Path.Combine(dir, "mini.tiktoken"), lines);
        }
        else
        {
            vocab["<|endoftext|>"] = EndOfText;
            File.WriteAllText(Path.Combine(dir, "vocab.json"), JsonSerializer.Serialize(vocab));
            File.WriteAllText(Path.Combine(dir, "merges.txt"), "#version: 0.2\n" + string.Join('\n', merges) + "\n");
        }
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """
            {"eos_token": "<|endoftext|>", "chat_template": "{{'<|im_start|>' + m['content'] + '<|im_end|>'}}",
             "added_tokens_decoder": {"262": {"content": "<|endoftext|>", "special": true}}}
            """);
        File.WriteAllText(Path.Combine(dir, "generation_config.json"),
            """{"eos_token_id": [262, 33], "pad_token_id": 0}""");
        return dir;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Merges_apply_in_order_and_special_text_becomes_one_id(bool tiktoken)
    {
        var t = TokenizerLoader.Load(WriteFiles(tiktoken));
        // "hello" -> he, ll, hell, hello; " world" -> Ġw, or, l, d.
        Assert.Equal([259, 260, 261, 'l', 'd'], t.Encode("hello world"));
        Assert.Equal([259, EndOfText, 256], t.Encode("hello<|endoftext|>he"));
        Assert.Equal("hello world", t.Decode(t.Encode("hello world<|endoftext|>")));
        Assert.Equal(EndOfText + 1, t.VocabSize);
        Assert.Equal(EndOfText, t.EosId);
        Assert.Equal(0, t.PadId);
        Assert.Equal([EndOfText, 33], t.StopIds);
        Assert.Equal(ChatTemplateKind.ChatMl, t.ChatTemplate?.Kind);
    }

    [Fact]
    public void Special_text_inside_input_is_split_out_before_bpe()
    {
        var t = TokenizerLoader.Load(WriteFiles(tiktoken: false));
        Assert.Equal([259, EndOfText, 256], t.Encode("hello<|endoftext|>he"));
        Assert.Equal("hello<|endoftext|>he", t.Decode(t.Encode("hello<|endoftext|>he"), skipSpecialTokens: false));
        Assert.Equal("Ġw", t.IdToToken(260));
        Assert.Equal(260, t.TokenToId("Ġw"));
    }

    [Fact]
    public void Merges_whose_ids_do_not_follow_merge_order_are_rejected()
    {
        string[] swapped = ["l l", "h e", "he ll", "hell o", "Ġ w", "o r"];
        string dir = WriteFiles(tiktoken: false, swapped);
        var ex = Assert.Throws<TokenizerLoadException>(() => TokenizerLoader.Load(dir));
        Assert.Contains("merges.txt", ex.Message);
        Assert.Contains("merge order", ex.Message);
    }

    [Fact]
    public void Encoding_utf8_multi_byte_text_falls_back_to_byte_ids()
    {
        var t = TokenizerLoader.Load(WriteFiles(tiktoken: false));
        Assert.Equal(Encoding.UTF8.GetBytes("é").Select(b => (int)b), t.Encode("é"));
        Assert.Equal("é", t.Decode(t.Encode("é")));
    }
}
