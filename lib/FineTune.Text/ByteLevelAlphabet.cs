// GPT-2's byte-level alphabet: every byte is shown as a printable character in tokenizer.json / vocab.json.
// Mapping a piece back through it gives the piece's raw bytes.
namespace FineTune.Text;

internal static class ByteLevelAlphabet
{
    private static readonly char[] s_charOfByte = Build();
    private static readonly Dictionary<char, byte> s_byteOfChar =
        Enumerable.Range(0, 256).ToDictionary(b => s_charOfByte[b], b => (byte)b);

    private static char[] Build()
    {
        var map = new char[256];
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)(256 + n++);
        }
        return map;
    }

    public static char CharOf(byte b) => s_charOfByte[b];

    /// <summary>The raw bytes of a byte-level piece, or null if it contains a character outside the alphabet.</summary>
    public static byte[]? ToBytes(string piece)
    {
        var bytes = new byte[piece.Length];
        for (int i = 0; i < piece.Length; i++)
        {
            if (!s_byteOfChar.TryGetValue(piece[i], out bytes[i]))
                return null;
        }
        return bytes;
    }
}
