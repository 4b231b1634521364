// Sign-in keys, held as SHA-256 hashes and compared in constant time: a key is a viewer's or an admin's; anything else
// signs nobody in. The cookie the console issues names only the role and the key's hash prefix, never the key.
using System.Security.Cryptography;
using System.Text;

namespace FineTune.Console;

public enum ConsoleRole { Viewer, Admin }

public sealed class ConsoleKeys
{
    readonly List<(byte[] Hash, ConsoleRole Role)> _keys = [];

    public ConsoleKeys(ConsoleOptions options)
    {
        foreach (var key in options.Keys)
            Add(key, ConsoleRole.Viewer);
        foreach (var key in options.AdminKeys)
            Add(key, ConsoleRole.Admin);
    }

    public int Count => _keys.Count;

    /// <summary>The key's SHA-256 as lower-case hex (the serving keys' form too).</summary>
    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    void Add(string entry, ConsoleRole role)
    {
        if (string.IsNullOrWhiteSpace(entry))
            return;
        entry = entry.Trim();
        var hex = entry.StartsWith("sha256:", StringComparison.OrdinalIgnoreCase)
            ? entry[7..].ToLowerInvariant() : Hash(entry);
        if (hex.Length != 64 || !hex.All(Uri.IsHexDigit))
            throw new ArgumentException("Console:Keys: a 'sha256:' entry needs 64 hex digits.");
        _keys.Add((Encoding.ASCII.GetBytes(hex), role));
    }

    /// <summary>The role <paramref name="key"/> signs in with (an admin key wins over a viewer entry of the same key),
    /// or null; every entry is compared, so the time taken says nothing about which matched.</summary>
    public (ConsoleRole Role, string Name)? Check(string? key)
    {
        if (string.IsNullOrEmpty(key) || key.Length > 512)
            return null;
        var hex = Hash(key.Trim());
        var presented = Encoding.ASCII.GetBytes(hex);
        ConsoleRole? role = null;
        foreach (var (hash, r) in _keys)
            if (CryptographicOperations.FixedTimeEquals(presented, hash) && role != ConsoleRole.Admin)
                role = r;
        return role is { } found ? (found, "key-" + hex[..8]) : null;
    }
}
