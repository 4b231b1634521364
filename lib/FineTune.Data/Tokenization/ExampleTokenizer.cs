// Turns a DataRecord into token ids and a loss mask. Chat masks come from the template's own output:
// the whole conversation is tokenized once, and each turn boundary is where tokenize(prefix) stops agreeing with it.
using FineTune.Text;

namespace FineTune.Data.Tokenization;

public sealed class ExampleTokenizer
{
    private readonly TextTokenizer _tokenizer;
    private readonly ChatTemplate _template;
    private readonly TokenizeOptions _options;
    private readonly HashSet<int> _stops;
    private long _inexactBoundaries;

    public ExampleTokenizer(TextTokenizer tokenizer, ChatTemplate template, TokenizeOptions options)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _tokenizer = tokenizer;
        _template = template;
        _options = options;
        _stops = [.. tokenizer.StopIds];
        if (tokenizer.EosId is { } eos)
            _stops.Add(eos);
    }

    public ChatTemplate Template => _template;

    /// <summary>Turn boundaries so far where tokenize(prefix) was not a token prefix of the whole conversation
    /// (a token merged across the boundary); such a token is counted in the later span. Thread-safe.</summary>
    public long InexactBoundaries => Interlocked.Read(ref _inexactBoundaries);

    public TokenizedExample Tokenize(DataRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        return record.Kind switch
        {
            RecordKind.Text => Finish(TokenizeText(record.Text ?? "")),
            RecordKind.Chat => Finish(TokenizeChat(record.Messages, firstTrainable: 0, _options.TrainOnInputs)),
            RecordKind.Preference => TokenizePair(record),
            RecordKind.Feedback => TokenizeFeedback(record),
            RecordKind.Prompt => TokenizePrompt(record),
            _ => throw new ArgumentOutOfRangeException(nameof(record), record.Kind, "unknown record kind"),
        };
    }

    private (List<int> Ids, byte[] Mask) TokenizeText(string text)
    {
        var ids = new List<int>(_tokenizer.Encode(text, SpecialTokenText.Literal,
            _options.AddBos && _tokenizer.BosId is not null,
            _options.AddEos && _tokenizer.EosId is not null));
        var mask = new byte[ids.Count];
        Array.Fill(mask, (byte)1);
        return (ids, mask);
    }

    /// <summary>
    /// Default: trained = the content of each assistant message at index ≥ firstTrainable with a non-zero weight,
    /// through the last stop token (eot, im_end, EOS) that closes its turn; template markup before the content is not.
    /// trainAll: every token is trained except the spans of weight-0 messages.
    /// </summary>
    internal (List<int> Ids, byte[] Mask) TokenizeChat(IReadOnlyList<Message> messages, int firstTrainable,
        bool trainAll)
    {
        var chat = messages.Select(m => new ChatMessage(m.Role, m.Content)).ToList();
        // Content is literal: an answer containing "<|im_end|>" trains on that text, never on a real end of turn.
        var ids = new List<int>(_tokenizer.Encode(_template.Render(chat, addGenerationPrompt: false)));
        int offset = 0;
        if (_options.AddBos && _tokenizer.BosId is { } bos && (ids.Count == 0 || ids[0] != bos))
        {
            ids.Insert(0, bos);
            offset = 1;
        }
        var mask = new byte[ids.Count];
        if (trainAll)
            Array.Fill(mask, (byte)1);
        bool lastTrained = false;
        bool? lastClosed = null;
        for (int k = 0; k < chat.Count; k++)
        {
            bool weightZero = messages[k].Weight is 0;
            bool trained = !weightZero && k >= firstTrainable && chat[k].Role == "assistant";
            if (trainAll ? !weightZero : !trained)
            {
                if (k == chat.Count - 1)
                    lastTrained = trainAll;
                continue;
            }
            int end = offset + Boundary(chat, k + 1, generationPrompt: false, ids, offset);
            if (trainAll)
            {
                // weight 0: untrain this message's whole span (header, content and closing markup)
                int start = offset + Boundary(chat, k, generationPrompt: false, ids, offset);
                Array.Clear(mask, start, end - start);
                continue;
            }
            int contentStart = offset + Boundary(chat, k, generationPrompt: true, ids, offset);
            int stop = end - 1;
            while (stop >= contentStart && !_stops.Contains(ids[stop]))
                stop--;
            // markup after the stop token (ChatML's "\n") stays untrained
            int trainedEnd = stop >= contentStart ? stop + 1 : end;
            Array.Fill(mask, (byte)1, contentStart, trainedEnd - contentStart);
            if (k == chat.Count - 1)
            {
                lastTrained = true;
                lastClosed = stop >= contentStart;
            }
        }
        if (_options.AddEos && _tokenizer.EosId is { } eos && chat.Count > 0 && !(lastClosed ?? LastTurnClosed(chat,
            ids, offset)))
        {
            // The template does not end the conversation with a stop token (Alpaca): append EOS so the model learns to
            // stop.
            ids.Add(eos);
            Array.Resize(ref mask, ids.Count);
            mask[^1] = (byte)(lastTrained ? 1 : 0);
        }
        return (ids, mask);
    }

    private bool LastTurnClosed(List<ChatMessage> chat, List<int> ids, int offset)
    {
        int start = offset + Boundary(chat, chat.Count - 1, generationPrompt: false, ids, offset);
        for (int i = ids.Count - 1; i >= start; i--)
            if (_stops.Contains(ids[i]))
                return true;
        return false;
    }

    /// <summary>Token index (relative to the template's own tokens) where Format(messages[..count]) ends inside the
    /// whole.</summary>
    private int Boundary(List<ChatMessage> chat, int count, bool generationPrompt, List<int> whole, int offset)
    {
        var prefix = _tokenizer.Encode(_template.Render(chat.GetRange(0, count), generationPrompt));
        int n = Math.Min(prefix.Count, whole.Count - offset), i = 0;
        while (i < n && prefix[i] == whole[offset + i])
            i++;
        if (i < prefix.Count)
            Interlocked.Increment(ref _inexactBoundaries);
        return i;
    }

    // A prompt alone, rendered as generation sees it (the assistant's turn opened) with nothing trained: GRPO and PPO
    // answer it. One longer than max_length is dropped (cutting either end would change the question or the turn).
    private TokenizedExample TokenizePrompt(DataRecord record)
    {
        var ids = ChatPrompt.Encode(_tokenizer, _template,
            [.. record.Messages.Select(m => new ChatMessage(m.Role, m.Content))], _options.AddBos);
        if (_options.MaxLength is { } max && ids.Count > max)
            return TokenizedExample.DroppedExample;
        return new TokenizedExample([new TokenizedSequence([.. ids], new byte[ids.Count])], ids.Count, false, false);
    }

    // The prompt and the rated answer as one sequence, the answer trained, the rating carried along.
    private TokenizedExample TokenizeFeedback(DataRecord record)
    {
        if (record.Chosen is null || record.Desirable is not { } desirable)
            throw new ArgumentException($"line {record.Line}: a feedback record needs a completion and its label",
                nameof(record));
        var example = Finish(TokenizeChat([.. record.Messages, .. record.Chosen], record.Messages.Count,
            trainAll: false));
        return example.Dropped ? example : example with { Desirable = desirable };
    }

    private TokenizedExample TokenizePair(DataRecord record)
    {
        if (record.Chosen is null || record.Rejected is null)
            throw new ArgumentException($"line {record.Line}: a preference record needs chosen and rejected messages",
                nameof(record));
        var prompt = record.Messages;
        var chosen = TokenizeChat([.. prompt, .. record.Chosen], prompt.Count, trainAll: false);
        var rejected = TokenizeChat([.. prompt, .. record.Rejected], prompt.Count, trainAll: false);
        // The prompt is the common token prefix, bounded by where the first completion token is trained.
        int promptLength = 0;
        while (promptLength < chosen.Ids.Count && promptLength < rejected.Ids.Count && chosen.Ids[promptLength]
            == rejected.Ids[promptLength]
               && chosen.Mask[promptLength] == 0 && rejected.Mask[promptLength] == 0)
            promptLength++;
        return TruncationPolicy.ApplyPair(chosen, rejected, promptLength, _options, _tokenizer.BosId);
    }

    private TokenizedExample Finish((List<int> Ids, byte[] Mask) seq) =>
        TruncationPolicy.ApplyOne(seq.Ids, seq.Mask, _options, _tokenizer.BosId);
}
