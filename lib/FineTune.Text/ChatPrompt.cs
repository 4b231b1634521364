// Encodes a conversation for generation: the chat template's text with the assistant's turn opened, and BOS added
// only when the template did not already spell it out (Llama 2's "<s>", Llama 3's "<|begin_of_text|>").
namespace FineTune.Text;

public static class ChatPrompt
{
    public static IReadOnlyList<int> Encode(TextTokenizer tokenizer, ChatTemplate template, IReadOnlyList<ChatMessage> messages, bool addBos = true)
    {
        var formatted = template.Format(messages, addGenerationPrompt: true);
        bool spelled = tokenizer.BosId is { } bos && tokenizer.IdToToken(bos) is { } bosText && formatted.StartsWith(bosText, StringComparison.Ordinal);
        return tokenizer.Encode(formatted, addBos: addBos && tokenizer.BosId is not null && !spelled);
    }
}
