// Encodes a conversation for generation: the chat template's text with the assistant's turn opened, and BOS added
// only when the template did not already spell it out (Llama 2's "<s>", Llama 3's "<|begin_of_text|>"). Message content
// is encoded literally: "<|im_end|>" typed by a user is text, never the end of a turn.
namespace FineTune.Text;

public static class ChatPrompt
{
    public static IReadOnlyList<int> Encode(TextTokenizer tokenizer, ChatTemplate template,
        IReadOnlyList<ChatMessage> messages, bool addBos = true)
    {
        var formatted = template.Render(messages, addGenerationPrompt: true);
        bool spelled = tokenizer.BosId is { } bos && tokenizer.IdToToken(bos) is { } bosText
                       && formatted.Specials.Any(s => s.Start == 0 && formatted.Text.AsSpan(0,
                           s.Length).SequenceEqual(bosText));
        return tokenizer.Encode(formatted, addBos: addBos && tokenizer.BosId is not null && !spelled);
    }
}
