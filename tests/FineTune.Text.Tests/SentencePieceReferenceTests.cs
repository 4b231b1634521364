// Llama 2 tokenizer.model against ids produced by sentencepiece itself (reference/llama2_tokenizer_reference.json).
namespace FineTune.Text.Tests;

public class SentencePieceReferenceTests
{
    [SkippableFact]
    public void Every_llama2_reference_case_encodes_to_the_sentencepiece_ids()
    {
        var cases = TestData.ReferenceCases("llama2_tokenizer_reference.json");
        Assert.Equal(29, cases.Count);
        var failures = cases.Where(c => !TestData.Llama2.Encode(c.Text).SequenceEqual(c.Ids))
            .Select(c => $"{c.Text}: got [{string.Join(',', TestData.Llama2.Encode(c.Text))}] want " +
                $"[{string.Join(',', c.Ids)}]").ToList();
        Assert.Empty(failures);
    }

    [SkippableFact]
    public void Every_llama2_reference_case_decodes_back_to_its_text()
    {
        foreach (var c in TestData.ReferenceCases("llama2_tokenizer_reference.json"))
        {
            Assert.Equal(c.Text, TestData.Llama2.Decode(TestData.Llama2.Encode(c.Text)));
            Assert.Equal(c.Text, TestData.Llama2.Decode(c.Ids));
        }
    }

    [SkippableFact]
    public void Llama2_special_ids_come_from_the_model_trainer_spec()
    {
        var t = TestData.Llama2;
        Assert.Equal(32000, t.VocabSize);
        Assert.Equal(1, t.BosId);
        Assert.Equal(2, t.EosId);
        Assert.Null(t.PadId);
        Assert.Equal([2], t.StopIds);
        Assert.Null(t.ChatTemplate);
        Assert.Equal("<s>", t.IdToToken(1));
        Assert.Equal(3, t.TokenToId("<0x00>"));
    }

    [SkippableFact]
    public void Bos_and_eos_are_added_only_on_request()
    {
        var t = TestData.Llama2;
        var plain = t.Encode("Hello world");
        Assert.Equal([1, .. plain, 2], t.Encode("Hello world", addBos: true, addEos: true));
        Assert.Equal("Hello world", t.Decode(t.Encode("Hello world", addBos: true, addEos: true)));
        Assert.Equal("<s> Hello world</s>",
            t.Decode(t.Encode("Hello world", addBos: true, addEos: true), skipSpecialTokens: false));
    }

    [SkippableFact]
    public void Characters_outside_the_vocabulary_fall_back_to_utf8_byte_pieces()
    {
        var t = TestData.Llama2;
        // U+1F642 is not a Llama 2 piece: "▁" then its four UTF-8 bytes F0 9F 99 82 as <0xNN> pieces (id = byte + 3).
        Assert.Equal([29871, 0xF0 + 3, 0x9F + 3, 0x99 + 3, 0x82 + 3], t.Encode("🙂"));
        Assert.Equal("🙂", t.Decode(t.Encode("🙂")));
    }
}
