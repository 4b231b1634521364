// Llama 3 tokenizer.json (byte-level BPE on TiktokenTokenizer) against reference/llama3_tokenizer_reference.json.
using System.Text.Json;

namespace FineTune.Text.Tests;

public class ByteLevelBpeReferenceTests
{
    [SkippableFact]
    public void Every_llama3_reference_case_encodes_to_the_reference_ids()
    {
        var cases = TestData.ReferenceCases("llama3_tokenizer_reference.json");
        Assert.Equal(25, cases.Count);
        var failures = cases.Where(c => !TestData.Llama3.Encode(c.Text).SequenceEqual(c.Ids))
            .Select(c => $"{c.Text}: got [{string.Join(',', TestData.Llama3.Encode(c.Text))}] want " +
                $"[{string.Join(',', c.Ids)}]").ToList();
        Assert.Empty(failures);
    }

    [SkippableFact]
    public void Every_llama3_reference_case_decodes_back_to_its_text()
    {
        foreach (var c in TestData.ReferenceCases("llama3_tokenizer_reference.json"))
        {
            Assert.Equal(c.Text, TestData.Llama3.Decode(TestData.Llama3.Encode(c.Text)));
            Assert.Equal(c.Text, TestData.Llama3.Decode(c.Ids));
        }
    }

    [SkippableFact]
    public void Llama3_special_tokens_come_from_tokenizer_config()
    {
        var t = TestData.Llama3;
        using var config = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestData.Llama3Dir,
            "tokenizer_config.json")));
        string bos = config.RootElement.GetProperty("bos_token").GetString()!;
        string eos = config.RootElement.GetProperty("eos_token").GetString()!;
        Assert.Equal(128000, t.TokenToId(bos));
        Assert.Equal(t.TokenToId(bos), t.BosId);
        Assert.Equal(t.TokenToId(eos), t.EosId);
        Assert.Equal(128001, t.EosId);
        Assert.Null(t.PadId);
        Assert.Equal(128256, t.VocabSize);
        Assert.Equal([128001, 128009], t.StopIds);
        Assert.Equal("<|eot_id|>", t.IdToToken(128009));
        Assert.Equal(ChatTemplateKind.Llama3, t.ChatTemplate?.Kind);
    }

    [SkippableFact]
    public void Special_token_text_encodes_to_its_single_id_and_is_skipped_on_decode()
    {
        var t = TestData.Llama3;
        var ids = t.Encode("Hi<|eot_id|>there");
        Assert.Equal([.. t.Encode("Hi"), 128009, .. t.Encode("there")], ids);
        Assert.Equal("Hithere", t.Decode(ids));
        Assert.Equal("Hi<|eot_id|>there", t.Decode(ids, skipSpecialTokens: false));
    }

    [SkippableFact]
    public void Llama3_merge_results_have_increasing_ids_so_rank_equals_id()
    {
        // The premise of building on TiktokenTokenizer: the id of each merge's result follows merge order.
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestData.Llama3Dir, "tokenizer.json")));
        var model = doc.RootElement.GetProperty("model");
        var vocab = model.GetProperty("vocab").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
        int previous = -1, merged = 0;
        var seen = new HashSet<int>();
        foreach (var m in model.GetProperty("merges").EnumerateArray())
        {
            string[] pair = m.GetString()!.Split(' ');
            int id = vocab[pair[0] + pair[1]];
            if (!seen.Add(id))
                continue;
            Assert.True(id > previous, $"merge {m} -> id {id} comes after id {previous}");
            previous = id;
            merged++;
        }
        Assert.Equal(vocab.Count - 256, merged); // every non-byte token is made by some merge
    }
}
