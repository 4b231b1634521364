// Incremental decoding for streaming generation: Push returns only newly completed text and
// holds back a trailing incomplete UTF-8 sequence until the bytes that finish it arrive.
using System.Runtime.InteropServices;
using System.Text;

namespace FineTune.Text;

public sealed class TokenStreamDecoder
{
    private readonly TextTokenizer _tokenizer;
    private readonly bool _skipSpecialTokens;
    private readonly List<byte> _pending = [];
    private bool _first = true;

    internal TokenStreamDecoder(TextTokenizer tokenizer, bool skipSpecialTokens = true)
    {
        _tokenizer = tokenizer;
        _skipSpecialTokens = skipSpecialTokens;
    }

    public string Push(int id)
    {
        _tokenizer.CheckId(id);
        if (_skipSpecialTokens && _tokenizer.IsSpecial(id))
            return "";
        _tokenizer.AppendBytes(id, _first, _pending);
        _first = false;
        int complete = CompletePrefixLength(CollectionsMarshal.AsSpan(_pending));
        return Take(complete);
    }

    /// <summary>Returns whatever is still held back (an incomplete sequence decodes to U+FFFD, as in a full
    /// decode).</summary>
    public string Flush() => Take(_pending.Count);

    private string Take(int count)
    {
        if (count == 0)
            return "";
        string s = Encoding.UTF8.GetString(CollectionsMarshal.AsSpan(_pending)[..count]);
        _pending.RemoveRange(0, count);
        return s;
    }

    /// <summary>Length of the prefix that does not end inside a possibly-unfinished UTF-8 sequence.</summary>
    internal static int CompletePrefixLength(ReadOnlySpan<byte> b)
    {
        // Look back at most 3 bytes for the lead byte of the last sequence.
        for (int back = 1; back <= Math.Min(4, b.Length); back++)
        {
            byte c = b[^back];
            // continuation byte: keep looking for the lead
            if ((c & 0xC0) == 0x80)
                continue;
            int need = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 && c < 0xF0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 1;
            return need > back ? b.Length - back : b.Length;
        }
        return b.Length;
    }
}
