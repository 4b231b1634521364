// Text records, preference pairs and the truncation policies, with the counts they produce.
using FineTune.Data.Tokenization;
using FineTune.Text;
using Xunit.Abstractions;

namespace FineTune.Data.Tests.Tokenization;

public class RecordTests(ITestOutputHelper output)
{
    private static DataRecord Text(string text) => new() { Kind = RecordKind.Text, Line = 1, Text = text };

    private static ExampleTokenizer Llama3(TokenizeOptions? o = null) =>
        new(Tok.Llama3, ChatTemplate.For(ChatTemplateKind.Llama3), o ?? new());

    [SkippableFact]
    public void A_text_record_is_bos_text_eos_with_everything_but_bos_trained()
    {
        var t = Tok.Llama3;
        var seq = Llama3().Tokenize(Text("Hello world")).Sequences.Single();
        Assert.Equal([.. t.Encode("Hello world", addBos: true, addEos: true)], seq.Ids);
        Assert.Equal([0, .. Enumerable.Repeat((byte)1, seq.Length - 1)], seq.Mask);
        var bare = Llama3(new() { AddBos = false, AddEos = false }).Tokenize(Text("Hello world")).Sequences.Single();
        Assert.Equal([.. t.Encode("Hello world")], bare.Ids);
    }

    [SkippableFact]
    public void A_preference_pair_shares_its_prompt_and_trains_only_each_completion()
    {
        var t = Tok.Llama3;
        var rec = new DataRecord
        {
            Kind = RecordKind.Preference, Line = 1,
            Messages = [new("user", "Capital of France?")],
            Chosen = [new("assistant", "Paris.")],
            Rejected = [new("assistant", "Lyon, I think.")],
        };
        var ex = Llama3().Tokenize(rec);
        Assert.True(ex.IsPair);
        var (c, r) = (ex.Sequences[0], ex.Sequences[1]);
        Tok.Print(output, t, c);
        Tok.Print(output, t, r);
        Assert.Equal(c.Ids[..ex.PromptLength], r.Ids[..ex.PromptLength]);
        Assert.Equal("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nCapital of " +
            "France?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            t.Decode(c.Ids[..ex.PromptLength], skipSpecialTokens: false));
        Assert.Equal(["Paris.<|eot_id|>"], Tok.TrainedSpans(t, c));
        Assert.Equal(["Lyon, I think.<|eot_id|>"], Tok.TrainedSpans(t, r));
    }

    [SkippableFact]
    public void Truncation_right_left_and_drop_behave_and_are_counted()
    {
        var t = Tok.Llama3;
        var rec = Text(string.Join(' ', Enumerable.Range(0, 40).Select(i => $"word{i}")));
        int full = Llama3(new() { MaxLength = null }).Tokenize(rec).Sequences.Single().Length;
        Assert.True(full > 20);

        var right = Llama3(new() { MaxLength = 16, Truncation = Truncation.Right }).Tokenize(rec);
        Assert.True(right.Truncated);
        Assert.Equal(16, right.Sequences[0].Length);
        Assert.StartsWith("word0 word1", t.Decode(right.Sequences[0].Ids));

        var left = Llama3(new() { MaxLength = 16, Truncation = Truncation.Left }).Tokenize(rec);
        Assert.True(left.Truncated);
        Assert.Equal(16, left.Sequences[0].Length);
        Assert.Equal(t.BosId, left.Sequences[0].Ids[0]);   // BOS is kept, the cut is after it
        Assert.Equal(t.EosId, left.Sequences[0].Ids[^1]);
        Assert.EndsWith("word39", t.Decode(left.Sequences[0].Ids));

        Assert.True(Llama3(new() { MaxLength = 16, Truncation = Truncation.Drop }).Tokenize(rec).Dropped);
        Assert.False(Llama3(new() { MaxLength = full, Truncation = Truncation.Drop }).Tokenize(rec).Dropped);
    }

    [SkippableFact]
    public void A_chat_whose_answer_is_cut_away_is_dropped()
    {
        var rec = Tok.Chat(("user", string.Join(' ', Enumerable.Repeat("long question", 30)), null),
            ("assistant", "short answer", null));
        Assert.True(Llama3(new() { MaxLength = 20, Truncation = Truncation.Right }).Tokenize(rec).Dropped);
        var left = Llama3(new() { MaxLength = 20, Truncation = Truncation.Left }).Tokenize(rec);
        Assert.False(left.Dropped);
        Assert.Equal(["short answer<|eot_id|>"], Tok.TrainedSpans(Tok.Llama3, left.Sequences[0]));
    }

    [SkippableFact]
    public async Task Dataset_counts_in_the_manifest_add_up()
    {
        using var dir = new TempDir();
        string prepared = Path.Combine(dir.Path, "prepared");
        Directory.CreateDirectory(prepared);
        var longText = string.Join(' ', Enumerable.Repeat("lorem ipsum", 100));
        NormalizedJsonl.Write(Path.Combine(prepared, "train.jsonl"),
            [Text("short one"), Text(longText), Tok.Chat(("user", "hi", null), ("assistant", "hello", null)),
                Text(longText)]);
        NormalizedJsonl.Write(Path.Combine(prepared, "test.jsonl"), [Text("held out")]);
        var o = new TokenizeOptions { MaxLength = 64, Truncation = Truncation.Right };
        var m = await DatasetTokenizer.TokenizeAsync(prepared, SharedData.File("models/llama3-tokenizer"),
            Path.Combine(dir.Path, "out"), o);
        var train = m.Splits["train"];
        Assert.Equal(4, train.Counts.Examples);
        Assert.Equal(2, train.Counts.Truncated);
        Assert.Equal(0, train.Counts.Dropped);
        // lengths by bucket: the two long texts cut to 64 tokens, the two short ones, adding up to the examples
        Assert.Equal(2, train.Counts.Lengths[64]);
        Assert.Equal(train.Counts.Examples, train.Counts.Lengths.Values.Sum());
        Assert.Equal(2, train.Counts.Lengths.Where(b => b.Key < 64).Sum(b => b.Value));
        Assert.Equal(["train", "test"], m.Splits.Keys);
        Assert.Equal("int32", m.TokenDtype);   // 128,256 ids do not fit uint16
        Assert.Equal("llama3", m.Template);
        Assert.Equal(["tokenizer.json", "tokenizer_config.json"], m.TokenizerFiles.Select(f => f.Name));

        var dropped = await DatasetTokenizer.TokenizeAsync(prepared, SharedData.File("models/llama3-tokenizer"),
            Path.Combine(dir.Path, "out2"),
            o with { Truncation = Truncation.Drop });
        Assert.Equal((2, 2, 0),
            (dropped.Splits["train"].Counts.Examples, dropped.Splits["train"].Counts.Dropped,
            dropped.Splits["train"].Counts.Truncated));
        Assert.Equal(3, dropped.Totals.Examples);

        using var reader = ShardReader.Open(Path.Combine(dir.Path, "out", train.Shards[0].File));
        long trained = Enumerable.Range(0,
            (int)reader.Count).Sum(i => (long)reader.ReadExample(i).Sequences[0].TrainedCount);
        Assert.Equal(train.Counts.TrainedTokens, trained);
        Assert.Equal(train.Counts.Tokens, reader.TokenCount);
        Assert.Equal(TokenizedManifest.Read(Path.Combine(dir.Path, "out")).Totals, m.Totals);
    }

    [Theory]
    [InlineData(0, 0, 0)]
    [InlineData(15, 15, 15)]
    [InlineData(16, 16, 17)]
    [InlineData(17, 16, 17)]
    [InlineData(31, 30, 31)]
    [InlineData(32, 32, 35)]
    [InlineData(100, 96, 103)]
    [InlineData(300, 288, 319)]
    [InlineData(1024, 1024, 1151)]
    [InlineData(4095, 3840, 4095)]
    public void Length_buckets_are_within_an_eighth_of_their_lower_bound(int length, int lower, int upper)
    {
        Assert.Equal(lower, LengthBuckets.Lower(length));
        Assert.Equal(upper, LengthBuckets.Upper(lower));
        Assert.Equal(lower, LengthBuckets.Lower(upper));
        Assert.Equal(upper + 1, LengthBuckets.Lower(upper + 1));   // the next bucket starts after this one ends
    }
}
