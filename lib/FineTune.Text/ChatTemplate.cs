// Chat prompt formats (ChatML, Llama 2, Llama 3, Alpaca) written out in code, matching the
// Hugging Face jinja templates of those families; Detect recognizes a jinja template by its markers.
using System.Text;

namespace FineTune.Text;

public enum ChatTemplateKind { ChatMl, Llama2, Llama3, Alpaca }

/// <summary>One chat turn; Role is "system", "user" or "assistant".</summary>
public sealed record ChatMessage(string Role, string Content);

public sealed class ChatTemplate
{
    public const string AlpacaPreamble =
        "Below is an instruction that describes a task. Write a response that appropriately completes the request.";

    private ChatTemplate(ChatTemplateKind kind) => Kind = kind;

    public ChatTemplateKind Kind { get; }

    public static ChatTemplate For(ChatTemplateKind kind) =>
        Enum.IsDefined(kind) ? new ChatTemplate(kind) : throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown chat template kind");

    /// <summary>Picks the template family from a jinja chat_template by its marker strings; null when none matches.</summary>
    public static ChatTemplate? Detect(string? jinjaTemplate)
    {
        if (string.IsNullOrWhiteSpace(jinjaTemplate)) return null;
        if (jinjaTemplate.Contains("<|start_header_id|>", StringComparison.Ordinal)) return For(ChatTemplateKind.Llama3);
        if (jinjaTemplate.Contains("<|im_start|>", StringComparison.Ordinal)) return For(ChatTemplateKind.ChatMl);
        if (jinjaTemplate.Contains("[INST]", StringComparison.Ordinal)) return For(ChatTemplateKind.Llama2);
        if (jinjaTemplate.Contains("### Instruction", StringComparison.Ordinal)) return For(ChatTemplateKind.Alpaca);
        return null;
    }

    public static ChatTemplateKind Parse(string name) => name?.Trim().ToLowerInvariant() switch
    {
        "chatml" => ChatTemplateKind.ChatMl,
        "llama2" => ChatTemplateKind.Llama2,
        "llama3" => ChatTemplateKind.Llama3,
        "alpaca" => ChatTemplateKind.Alpaca,
        _ => throw new ArgumentException($"unknown chat template '{name}'; expected one of: chatml, llama2, llama3, alpaca", nameof(name)),
    };

    public string Format(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true)
    {
        ArgumentNullException.ThrowIfNull(messages);
        for (int i = 0; i < messages.Count; i++)
        {
            string role = messages[i].Role;
            if (role is not ("system" or "user" or "assistant"))
                throw new ArgumentException($"message {i} has role '{role}'; expected system, user or assistant", nameof(messages));
            if (role == "system" && i > 0 && Kind is ChatTemplateKind.Llama2 or ChatTemplateKind.Alpaca)
                throw new ArgumentException($"message {i}: the {Kind} template allows a system message only first", nameof(messages));
        }
        return Kind switch
        {
            ChatTemplateKind.ChatMl => FormatChatMl(messages, addGenerationPrompt),
            ChatTemplateKind.Llama2 => FormatLlama2(messages),
            ChatTemplateKind.Llama3 => FormatLlama3(messages, addGenerationPrompt),
            _ => FormatAlpaca(messages, addGenerationPrompt),
        };
    }

    private static string FormatChatMl(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        var sb = new StringBuilder();
        foreach (var m in messages) sb.Append("<|im_start|>").Append(m.Role).Append('\n').Append(m.Content).Append("<|im_end|>\n");
        if (addGenerationPrompt) sb.Append("<|im_start|>assistant\n");
        return sb.ToString();
    }

    // Meta's Llama 3 Instruct template: BOS once, each turn header + "\n\n" + trimmed content + <|eot_id|>.
    private static string FormatLlama3(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        var sb = new StringBuilder("<|begin_of_text|>");
        foreach (var m in messages)
            sb.Append("<|start_header_id|>").Append(m.Role).Append("<|end_header_id|>\n\n").Append(m.Content.Trim()).Append("<|eot_id|>");
        if (addGenerationPrompt) sb.Append("<|start_header_id|>assistant<|end_header_id|>\n\n");
        return sb.ToString();
    }

    // Meta's Llama 2 chat template: the system prompt goes inside the first [INST] block; every user turn
    // opens with <s>, every assistant turn ends with </s>. The prompt always ends ready for the answer.
    private static string FormatLlama2(IReadOnlyList<ChatMessage> messages)
    {
        var sb = new StringBuilder();
        string? system = messages.Count > 0 && messages[0].Role == "system" ? messages[0].Content : null;
        bool firstUser = true;
        foreach (var m in messages.Skip(system is null ? 0 : 1))
        {
            if (m.Role == "user")
            {
                string content = firstUser && system is not null ? $"<<SYS>>\n{system}\n<</SYS>>\n\n{m.Content}" : m.Content;
                sb.Append("<s>[INST] ").Append(content.Trim()).Append(" [/INST]");
                firstUser = false;
            }
            else
            {
                sb.Append(' ').Append(m.Content.Trim()).Append(" </s>");
            }
        }
        return sb.ToString();
    }

    private static string FormatAlpaca(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        string? system = messages.Count > 0 && messages[0].Role == "system" ? messages[0].Content : null;
        var sb = new StringBuilder(system ?? AlpacaPreamble).Append("\n\n");
        var turns = messages.Skip(system is null ? 0 : 1).ToList();
        for (int i = 0; i < turns.Count; i++)
        {
            if (turns[i].Role == "user")
            {
                sb.Append("### Instruction:\n").Append(turns[i].Content).Append("\n\n");
                bool answered = i + 1 < turns.Count && turns[i + 1].Role == "assistant";
                if (answered || addGenerationPrompt) sb.Append("### Response:\n");
            }
            else
            {
                if (i == 0 || turns[i - 1].Role != "user") sb.Append("### Response:\n");
                sb.Append(turns[i].Content).Append("\n\n");
            }
        }
        return sb.ToString();
    }
}
