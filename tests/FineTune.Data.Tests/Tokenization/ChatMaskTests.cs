// Loss masks for chats with the real Llama 3 (byte-level) and Llama 2 (SentencePiece) tokenizers:
// the decoded trained spans must be exactly the assistant contents and their closing stop tokens.
using FineTune.Data.Tokenization;
using FineTune.Text;
using Xunit.Abstractions;

namespace FineTune.Data.Tests.Tokenization;

public class ChatMaskTests(ITestOutputHelper output)
{
    private static readonly DataRecord MultiTurn = Tok.Chat(
        ("system", "You are terse.", null),
        ("user", "What is 2+2?", null),
        ("assistant", "4", null),
        ("user", "And 3*3?", null),
        ("assistant", "It is 9.", null));

    private ExampleTokenizer For(TextTokenizer t, ChatTemplateKind kind, TokenizeOptions? o = null) =>
        new(t, ChatTemplate.For(kind), o ?? new TokenizeOptions());

    [SkippableFact]
    public void Llama3_trains_exactly_the_assistant_contents_and_their_eot()
    {
        var t = Tok.Llama3;
        var ex = For(t, ChatTemplateKind.Llama3);
        var seq = ex.Tokenize(MultiTurn).Sequences.Single();
        Tok.Print(output, t, seq);
        Assert.Equal(["4<|eot_id|>", "It is 9.<|eot_id|>"], Tok.TrainedSpans(t, seq));
        Assert.Equal(t.Encode(ChatTemplate.For(ChatTemplateKind.Llama3).Format(ToChat(MultiTurn), false)), seq.Ids);
        Assert.Equal(0, ex.InexactBoundaries);
    }

    [SkippableFact]
    public void Llama2_trains_exactly_the_assistant_contents_and_their_eos()
    {
        var t = Tok.Llama2;
        var ex = For(t, ChatTemplateKind.Llama2);
        var seq = ex.Tokenize(MultiTurn).Sequences.Single();
        Tok.Print(output, t, seq);
        // Decoding a span on its own drops SentencePiece's leading space; the template puts one space
        // before each answer and one after it (the "▁" before </s> belongs to the answer's turn).
        Assert.Equal(["4 </s>", "It is 9. </s>"], Tok.TrainedSpans(t, seq));
        Assert.Equal(t.Encode(ChatTemplate.For(ChatTemplateKind.Llama2).Format(ToChat(MultiTurn), false)), seq.Ids);
        Assert.Equal(0, ex.InexactBoundaries);
    }

    [SkippableFact]
    public void ChatMl_trains_exactly_the_assistant_contents_and_their_end_markers()
    {
        // byte-level BPE: the ChatML markers are plain text here, and the masks must still be exact
        var t = Tok.Llama3;
        var ex = For(t, ChatTemplateKind.ChatMl);
        var seq = ex.Tokenize(MultiTurn).Sequences.Single();
        Tok.Print(output, t, seq);
        // ChatML spells no BOS/EOS, so the tokenizer's are added around it; the closing EOS is trained with the last
        // turn.
        Assert.Equal(["4<|im_end|>\n", "It is 9.<|im_end|>\n<|end_of_text|>"], Tok.TrainedSpans(t, seq));
        Assert.Equal(t.BosId, seq.Ids[0]);
        Assert.Equal(t.EosId, seq.Ids[^1]);
        Assert.Equal(t.Encode(ChatTemplate.For(ChatTemplateKind.ChatMl).Format(ToChat(MultiTurn), false)),
            seq.Ids[1..^1]);
    }

    [SkippableFact]
    public void Alpaca_trains_exactly_the_response()
    {
        var t = Tok.Llama3;
        var single = Tok.Chat(("user", "What is 2+2?", null), ("assistant", "4", null));
        var ex = For(t, ChatTemplateKind.Alpaca);
        var seq = ex.Tokenize(single).Sequences.Single();
        Tok.Print(output, t, seq);
        // The response, the blank line that closes it, and the appended EOS; nothing of the instruction.
        Assert.Equal(["4\n\n<|end_of_text|>"], Tok.TrainedSpans(t, seq));
    }

    [SkippableFact]
    public void A_weight_zero_assistant_turn_is_not_trained()
    {
        var rec = MultiTurn with
        {
            Messages = [.. MultiTurn.Messages.Select((m,
            i) => i == 2 ? m with { Weight = 0 } : m)]
        };
        foreach (var (t, kind, want) in new[] { (Tok.Llama3, ChatTemplateKind.Llama3, "It is 9.<|eot_id|>"),
            (Tok.Llama2, ChatTemplateKind.Llama2, "It is 9. </s>") })
            Assert.Equal([want], Tok.TrainedSpans(t, For(t, kind).Tokenize(rec).Sequences.Single()));
    }

    [SkippableFact]
    public void Train_on_inputs_trains_everything_but_weight_zero_turns_and_the_first_token()
    {
        var t = Tok.Llama3;
        var rec = MultiTurn with
        {
            Messages = [.. MultiTurn.Messages.Select((m,
            i) => i == 2 ? m with { Weight = 0 } : m)]
        };
        var seq = For(t, ChatTemplateKind.Llama3, new() { TrainOnInputs = true }).Tokenize(rec).Sequences.Single();
        Tok.Print(output, t, seq);
        var spans = Tok.Spans(t, seq);
        Assert.Equal((false, "<|begin_of_text|>"), spans[0]);
        Assert.Equal((false, "<|start_header_id|>assistant<|end_header_id|>\n\n4<|eot_id|>"), spans[2]);
        Assert.Equal(4, spans.Count);
    }

    [SkippableFact]
    public void Piecewise_tokenization_equals_the_whole_for_llama3_but_not_for_llama2()
    {
        // Tokenizing each turn's text on its own and concatenating: exact for Llama 3, whose turns start at special
        // tokens; for Llama 2 each assistant piece " 4 </s>" gets SentencePiece's dummy-prefix "▁" again (an extra
        // token 29871), which is why ExampleTokenizer takes boundaries from tokenize(prefix) against the whole.
        foreach (var (t, kind) in new[] { (Tok.Llama3, ChatTemplateKind.Llama3),
            (Tok.Llama2, ChatTemplateKind.Llama2) })
        {
            var template = ChatTemplate.For(kind);
            var chat = ToChat(MultiTurn);
            int[] whole = [.. t.Encode(template.Format(chat, false))];
            var pieces = new List<int>();
            string previous = "";
            for (int k = 1; k <= chat.Count; k++)
            {
                string prefix = template.Format(chat[..k], false);
                Assert.StartsWith(previous, prefix);
                pieces.AddRange(t.Encode(prefix[previous.Length..]));
                previous = prefix;
            }
            if (kind == ChatTemplateKind.Llama3)
            {
                Assert.Equal(whole, pieces);
                continue;
            }
            // The first difference is the first token of the first assistant piece: " 4 </s>" alone encodes as
            // "▁▁" "4" (dummy prefix + the template's space), inside the whole as "▁" "4".
            int firstAnswer = t.Encode(template.Format(chat[..2], false)).Count;   // system + first user turn
            int diff = 0;
            while (whole[diff] == pieces[diff])
                diff++;
            Assert.Equal(firstAnswer, diff);
            Assert.Equal([259, 29946], pieces.GetRange(diff, 2));
            Assert.Equal([29871, 29946], whole[diff..(diff + 2)]);
        }
    }

    [SkippableFact]
    public void Alpaca_has_no_stop_token_so_eos_is_appended_and_trained()
    {
        var t = Tok.Llama2;
        var rec = Tok.Chat(("user", "Add 1 and 1.", null), ("assistant", "2", null));
        var seq = For(t, ChatTemplateKind.Alpaca).Tokenize(rec).Sequences.Single();
        Tok.Print(output, t, seq);
        Assert.Equal(t.BosId, seq.Ids[0]);
        Assert.Equal(t.EosId, seq.Ids[^1]);
        Assert.Equal(["2\n\n</s>"], Tok.TrainedSpans(t, seq));
        var noEos = For(t, ChatTemplateKind.Alpaca, new() { AddEos = false }).Tokenize(rec).Sequences.Single();
        Assert.NotEqual(t.EosId, noEos.Ids[^1]);
    }

    internal static List<ChatMessage> ToChat(DataRecord r) =>
        [.. r.Messages.Select(m => new ChatMessage(m.Role, m.Content))];
}
