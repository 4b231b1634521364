// Chat prompt formats (ChatML, Llama 2, Llama 3, Alpaca) written out in code, matching the
// Hugging Face jinja templates of those families; Detect recognizes a jinja template by its markers.
using System.Text;

namespace FineTune.Text;

public enum ChatTemplateKind { ChatMl, Llama2, Llama3, Alpaca }

/// <summary>One chat turn; Role is "system", "user" or "assistant".</summary>
public sealed record ChatMessage(string Role, string Content);

/// <summary>A template's output: the text, and where in it the template itself wrote control-token text (a start or end
/// of turn, BOS). Only those spans may become control tokens; the same characters inside a message are its
/// content.</summary>
public sealed record TemplateText(string Text, IReadOnlyList<(int Start, int Length)> Specials);

public sealed class ChatTemplate
{
    public const string AlpacaPreamble =
        "Below is an instruction that describes a task. Write a response that appropriately completes the request.";

    private ChatTemplate(ChatTemplateKind kind) => Kind = kind;

    public ChatTemplateKind Kind { get; }

    public static ChatTemplate For(ChatTemplateKind kind) =>
        Enum.IsDefined(kind) ? new ChatTemplate(kind) : throw new ArgumentOutOfRangeException(nameof(kind), kind,
            "unknown chat template kind");

    /// <summary>Picks the template family from a jinja chat_template by its marker strings; null when none
    /// matches.</summary>
    public static ChatTemplate? Detect(string? jinjaTemplate)
    {
        if (string.IsNullOrWhiteSpace(jinjaTemplate))
            return null;
        if (jinjaTemplate.Contains("<|start_header_id|>", StringComparison.Ordinal))
            return For(ChatTemplateKind.Llama3);
        if (jinjaTemplate.Contains("<|im_start|>", StringComparison.Ordinal))
            return For(ChatTemplateKind.ChatMl);
        if (jinjaTemplate.Contains("[INST]", StringComparison.Ordinal))
            return For(ChatTemplateKind.Llama2);
        if (jinjaTemplate.Contains("### Instruction", StringComparison.Ordinal))
            return For(ChatTemplateKind.Alpaca);
        return null;
    }

    public static ChatTemplateKind Parse(string name) => name?.Trim().ToLowerInvariant() switch
    {
        "chatml" => ChatTemplateKind.ChatMl,
        "llama2" => ChatTemplateKind.Llama2,
        "llama3" => ChatTemplateKind.Llama3,
        "alpaca" => ChatTemplateKind.Alpaca,
        _ => throw new ArgumentException($"unknown chat template '{name}'; expected one of: chatml, llama2, llama3, " +
            $"alpaca", nameof(name)),
    };

    public string Format(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true) =>
        Render(messages, addGenerationPrompt).Text;

    /// <summary>The formatted conversation with the spans of control-token text the template wrote (see TemplateText);
    /// encode it with TextTokenizer.Encode(TemplateText) so message content never turns into control tokens.</summary>
    public TemplateText Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true)
    {
        ArgumentNullException.ThrowIfNull(messages);
        for (int i = 0; i < messages.Count; i++)
        {
            string role = messages[i].Role;
            if (role is not ("system" or "user" or "assistant"))
                throw new ArgumentException($"message {i} has role '{role}'; expected system, user or assistant",
                    nameof(messages));
            if (role == "system" && i > 0 && Kind is ChatTemplateKind.Llama2 or ChatTemplateKind.Alpaca)
                throw new ArgumentException($"message {i}: the {Kind} template allows a system message only first",
                    nameof(messages));
        }
        var w = new Writer();
        switch (Kind)
        {
            case ChatTemplateKind.ChatMl:
                FormatChatMl(w, messages, addGenerationPrompt);
                break;
            case ChatTemplateKind.Llama2:
                FormatLlama2(w, messages);
                break;
            case ChatTemplateKind.Llama3:
                FormatLlama3(w, messages, addGenerationPrompt);
                break;
            default:
                FormatAlpaca(w, messages, addGenerationPrompt);
                break;
        }
        return new TemplateText(w.Text.ToString(), w.Specials);
    }

    // The text being written, and the spans where the template (never a message) wrote control-token text.
    private sealed class Writer
    {
        public StringBuilder Text { get; } = new();
        public List<(int Start, int Length)> Specials { get; } = [];

        public Writer Special(string token)
        {
            Specials.Add((Text.Length, token.Length));
            Text.Append(token);
            return this;
        }

        public Writer Append(string text)
        {
            Text.Append(text);
            return this;
        }
        public Writer Append(char c)
        {
            Text.Append(c);
            return this;
        }
    }

    private static void FormatChatMl(Writer w, IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        foreach (var m in messages)
            w.Special("<|im_start|>").Append(m.Role).Append('\n').Append(m.Content).Special("<|im_end|>").Append('\n');
        if (addGenerationPrompt)
            w.Special("<|im_start|>").Append("assistant\n");
    }

    // Meta's Llama 3 Instruct template: BOS once, each turn header + "\n\n" + trimmed content + <|eot_id|>.
    private static void FormatLlama3(Writer w, IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        w.Special("<|begin_of_text|>");
        foreach (var m in messages)
            w.Special("<|start_header_id|>").Append(m.Role).Special("<|end_header_id|>").Append("\n\n")
                .Append(m.Content.Trim()).Special("<|eot_id|>");
        if (addGenerationPrompt)
            w.Special("<|start_header_id|>").Append("assistant").Special("<|end_header_id|>").Append("\n\n");
    }

    // Meta's Llama 2 chat template: the system prompt goes inside the first [INST] block; every user turn
    // opens with <s>, every assistant turn ends with </s>. The prompt always ends ready for the answer.
    private static void FormatLlama2(Writer w, IReadOnlyList<ChatMessage> messages)
    {
        string? system = messages.Count > 0 && messages[0].Role == "system" ? messages[0].Content : null;
        bool firstUser = true;
        foreach (var m in messages.Skip(system is null ? 0 : 1))
        {
            if (m.Role == "user")
            {
                string content = firstUser && system is not null ? $"<<SYS>>\n{system}\n<</SYS>>\n\n{m.Content}"
                    : m.Content;
                w.Special("<s>").Append("[INST] ").Append(content.Trim()).Append(" [/INST]");
                firstUser = false;
            }
            else
            {
                w.Append(' ').Append(m.Content.Trim()).Append(' ').Special("</s>");
            }
        }
    }

    private static void FormatAlpaca(Writer sb, IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        string? system = messages.Count > 0 && messages[0].Role == "system" ? messages[0].Content : null;
        sb.Append(system ?? AlpacaPreamble).Append("\n\n");
        var turns = messages.Skip(system is null ? 0 : 1).ToList();
        for (int i = 0; i < turns.Count; i++)
        {
            if (turns[i].Role == "user")
            {
                sb.Append("### Instruction:\n").Append(turns[i].Content).Append("\n\n");
                bool answered = i + 1 < turns.Count && turns[i + 1].Role == "assistant";
                if (answered || addGenerationPrompt)
                    sb.Append("### Response:\n");
            }
            else
            {
                if (i == 0 || turns[i - 1].Role != "user")
                    sb.Append("### Response:\n");
                sb.Append(turns[i].Content).Append("\n\n");
            }
        }
    }
}
