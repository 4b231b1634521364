// Turns HTML into plain text: script/style elements and comments go with their contents, block tags become
// newlines, other tags vanish, entities are decoded last (so "&lt;b&gt;" stays visible text).
using System.Net;
using System.Text.RegularExpressions;

namespace FineTune.Data.Cleaning;

internal static partial class HtmlStripper
{
    public static string Strip(string text)
    {
        if (!text.Contains('<') && !text.Contains('&'))
            return text;
        var s = ScriptOrStyle().Replace(text, "");
        s = Comment().Replace(s, "");
        s = BlockTag().Replace(s, "\n");
        s = Tag().Replace(s, "");
        return WebUtility.HtmlDecode(s);
    }

    // An unclosed <script> runs to the end of the text, as a browser would treat it.
    [GeneratedRegex(@"<(script|style)\b[^>]*>.*?(?:</\1\s*>|\z)",
        RegexOptions.IgnoreCase | RegexOptions.Singleline | RegexOptions.CultureInvariant)]
    private static partial Regex ScriptOrStyle();

    [GeneratedRegex(@"<!--.*?(?:-->|\z)", RegexOptions.Singleline)]
    private static partial Regex Comment();

    [GeneratedRegex(@"</?(?:br|p|div|li|ul|ol|tr|td|th|table|h[1-6]|blockquote|pre|section|article|header|footer|hr)\b[^<>]*>",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex BlockTag();

    // A tag starts with a letter (or /letter, !letter) right after '<', so "a < b" and "x<3" are left alone.
    [GeneratedRegex(@"<[/!]?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>", RegexOptions.CultureInvariant)]
    private static partial Regex Tag();
}
