// Shared helpers for the tokenization tests: the shared-data tokenizers and a span printer for masks.
using FineTune.Data.Tokenization;
using FineTune.Text;
using Xunit.Abstractions;

namespace FineTune.Data.Tests.Tokenization;

internal static class Tok
{
    private static readonly Lazy<TextTokenizer> s_llama2 = new(() =>
        TokenizerLoader.Load(SharedData.File("models/llama2-tokenizer/tokenizer.model")));
    private static readonly Lazy<TextTokenizer> s_llama3 = new(() =>
        TokenizerLoader.Load(SharedData.File("models/llama3-tokenizer")));

    public static TextTokenizer Llama2
    {
        get
        {
            SharedData.File("models/llama2-tokenizer/tokenizer.model");
            return s_llama2.Value;
        }
    }

    public static TextTokenizer Llama3
    {
        get
        {
            SharedData.File("models/llama3-tokenizer");
            return s_llama3.Value;
        }
    }

    public static DataRecord Chat(params (string Role, string Content, double? Weight)[] turns) => new()
    {
        Kind = RecordKind.Chat, Line = 1, Messages = [.. turns.Select(t => new Message(t.Role, t.Content, t.Weight))],
    };

    /// <summary>The decoded text of each maximal run of trained tokens, in order.</summary>
    public static List<string> TrainedSpans(TextTokenizer t, TokenizedSequence s) =>
        Spans(t, s).Where(x => x.Trained).Select(x => x.Text).ToList();

    public static List<(bool Trained, string Text)> Spans(TextTokenizer t, TokenizedSequence s)
    {
        var spans = new List<(bool, string)>();
        for (int i = 0; i < s.Length;)
        {
            int j = i;
            while (j < s.Length && s.Mask[j] == s.Mask[i])
                j++;
            spans.Add((s.Mask[i] != 0, t.Decode(s.Ids[i..j], skipSpecialTokens: false)));
            i = j;
        }
        return spans;
    }

    public static void Print(ITestOutputHelper output, TextTokenizer t, TokenizedSequence s)
    {
        foreach (var (trained, text) in Spans(t, s))
            output.WriteLine($"{(trained ? "TRAIN" : "-----")} {System.Text.Json.JsonSerializer.Serialize(text)}");
    }
}
