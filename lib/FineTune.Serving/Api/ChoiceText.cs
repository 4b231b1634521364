// Turns one sequence's tokens into the text a client sees: incremental UTF-8-safe decoding, stop strings held back
// until they can no longer match (and cut when they do), and the output screen before any text goes out.
using System.Text;
using FineTune.Serving.Engine;
using FineTune.Text;

namespace FineTune.Serving.Api;

/// <param name="screen">null when nothing is screened (then the text so far is not rebuilt for every token)</param>
internal sealed class ChoiceText(TextTokenizer tokenizer, IReadOnlyList<string> stops, IOutputScreen? screen)
{
    readonly TokenStreamDecoder _decoder = tokenizer.CreateStreamDecoder();
    readonly StopStringBuffer _stops = new(stops);
    readonly StringBuilder _shown = new();

    /// <summary>"stop", "length" or "content_filter" once the choice has ended; null while it runs.</summary>
    public string? Finish { get; private set; }
    public int Tokens { get; private set; }
    public string Text => _shown.ToString();
    public bool Screened => Finish == "content_filter";

    /// <summary>The text this token releases (may be empty). Sets Finish when a stop string or the screen ends the
    /// choice.</summary>
    public string Push(int token)
    {
        if (Finish is not null)
            return "";
        Tokens++;
        var safe = _stops.Push(_decoder.Push(token));
        if (_stops.Stopped)
            Finish = "stop";
        return Screen(safe);
    }

    /// <summary>The text still held back when the sequence ends.</summary>
    public string End(JobEnd end)
    {
        if (Finish is not null)
            return "";
        var rest = _stops.Push(_decoder.Flush());
        rest += _stops.Flush();
        var shown = Screen(rest);
        Finish ??= end == JobEnd.Length ? "length" : "stop";
        return shown;
    }

    string Screen(string text)
    {
        if (text.Length == 0)
            return text;
        if (screen is not null && screen.Blocks(_shown + text))
        {
            Finish = "content_filter";
            return "";
        }
        _shown.Append(text);
        return text;
    }
}
