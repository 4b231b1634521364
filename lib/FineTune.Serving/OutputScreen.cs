// The output screening hook: a response is checked before it is returned (a stream before each chunk goes out) and
// stopped with finish_reason "content_filter" when the screen objects. The built-in screen is a word list (whole
// words, case-insensitive); register another IOutputScreen (a classifier) to replace it.
using System.Text.RegularExpressions;

namespace FineTune.Serving;

public interface IOutputScreen
{
    /// <summary>True when <paramref name="text"/> (the whole response so far) must not be returned.</summary>
    bool Blocks(string text);
}

public sealed class WordListScreen : IOutputScreen
{
    readonly Regex? _pattern;

    public WordListScreen(IEnumerable<string> words)
    {
        var list = words.Where(w => !string.IsNullOrWhiteSpace(w)).Select(w => Regex.Escape(w.Trim())).ToList();
        if (list.Count > 0)
            _pattern = new Regex($@"(?<!\w)(?:{string.Join("|", list)})(?!\w)",
                RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.Compiled);
    }

    public bool IsEmpty => _pattern is null;

    public bool Blocks(string text) => _pattern?.IsMatch(text) ?? false;
}
