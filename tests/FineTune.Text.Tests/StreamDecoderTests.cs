// TokenStreamDecoder: pushing ids one at a time must give exactly the text of a full decode.
using System.Text;

namespace FineTune.Text.Tests;

public class StreamDecoderTests
{
    private static string Stream(TextTokenizer t, IEnumerable<int> ids, List<string>? pieces = null)
    {
        var decoder = t.CreateStreamDecoder();
        var sb = new StringBuilder();
        foreach (int id in ids)
        {
            string s = decoder.Push(id);
            pieces?.Add(s);
            sb.Append(s);
        }
        return sb.Append(decoder.Flush()).ToString();
    }

    [SkippableFact]
    public void Streaming_llama2_reference_ids_gives_the_full_decode()
    {
        foreach (var c in TestData.ReferenceCases("llama2_tokenizer_reference.json"))
            Assert.Equal(TestData.Llama2.Decode(c.Ids), Stream(TestData.Llama2, c.Ids));
    }

    [SkippableFact]
    public void Streaming_llama3_reference_ids_gives_the_full_decode()
    {
        foreach (var c in TestData.ReferenceCases("llama3_tokenizer_reference.json"))
            Assert.Equal(TestData.Llama3.Decode(c.Ids), Stream(TestData.Llama3, c.Ids));
    }

    [SkippableFact]
    public void A_character_split_over_byte_tokens_is_held_back_until_complete()
    {
        var t = TestData.Llama2;
        var ids = t.Encode("a🙂b"); // ▁a, then <0xF0> <0x9F> <0x99> <0x82>, then b
        var pieces = new List<string>();
        Assert.Equal("a🙂b", Stream(t, ids, pieces));
        int first = ids.ToList().IndexOf(0xF0 + 3);
        Assert.True(first > 0, "expected byte-fallback tokens");
        Assert.Equal(["", "", "", "🙂"], pieces.Skip(first).Take(4));
        Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD'));
    }

    [SkippableFact]
    public void Llama3_multi_byte_characters_spanning_tokens_stream_cleanly()
    {
        var t = TestData.Llama3;
        const string text = "🙂 emoji 👍🏽 中文测试 and 日本語";
        var ids = t.Encode(text);
        var pieces = new List<string>();
        Assert.Equal(text, Stream(t, ids, pieces));
        Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD'));
        Assert.Contains(pieces, p => p.Length == 0); // some token ended mid-character and was held back
    }

    [SkippableFact]
    public void Flush_returns_an_unfinished_sequence_as_a_replacement_character_like_a_full_decode()
    {
        var t = TestData.Llama2;
        int[] ids = [0xE4 + 3, 0xB8 + 3]; // first two bytes of a three-byte character
        var decoder = t.CreateStreamDecoder();
        Assert.Equal("", decoder.Push(ids[0]));
        Assert.Equal("", decoder.Push(ids[1]));
        Assert.Equal(t.Decode(ids), decoder.Flush());
        Assert.Contains('\uFFFD', t.Decode(ids));
    }

    [SkippableFact]
    public void Special_tokens_are_skipped_while_streaming()
    {
        var t = TestData.Llama3;
        Assert.Equal("Hi", Stream(t, [128000, .. t.Encode("Hi"), 128009]));
    }
}
