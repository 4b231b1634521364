// Process- and machine-independent 64-bit hashing (string.GetHashCode is randomized per process):
// FNV-1a over UTF-8 bytes, finished with the murmur3/xxhash-style avalanche mix.
using System.Text;

namespace FineTune.Data.Cleaning;

internal static class StableHash
{
    const ulong FnvOffset = 14695981039346656037UL;
    const ulong FnvPrime = 1099511628211UL;

    /// <summary>FNV-1a 64 of the UTF-8 bytes (test vector: "a" → 0xaf63dc4c8601ec8c).</summary>
    public static ulong Fnv1a64(string text)
    {
        var hash = FnvOffset;
        Span<byte> buffer = stackalloc byte[4];
        foreach (var rune in text.EnumerateRunes())
        {
            var n = rune.EncodeToUtf8(buffer);
            for (var i = 0; i < n; i++)
                hash = (hash ^ buffer[i]) * FnvPrime;
        }
        return hash;
    }

    /// <summary>murmur3 fmix64: a bijection with full avalanche, so nearby inputs give unrelated outputs.</summary>
    public static ulong Mix(ulong x)
    {
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdUL;
        x ^= x >> 33;
        x *= 0xc4ceb9fe1a85ec53UL;
        x ^= x >> 33;
        return x;
    }

    public static ulong Of(string text) => Mix(Fnv1a64(text));

    public static ulong Of(string text, string seed) => Mix(Of(text) ^ Of(seed) * 0x9E3779B97F4A7C15UL);

    /// <summary>Top 53 bits as a uniform double in [0, 1).</summary>
    public static double Unit(ulong hash) => (hash >> 11) * (1.0 / (1UL << 53));

    public static string Utf8Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);

    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);
}
