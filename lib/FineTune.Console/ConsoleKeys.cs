// Sign-in keys, held as SHA-256 hashes and compared in constant time: each entry makes a key a viewer or an admin of
// every project or of one; anything else signs nobody in. What a key may do is its ConsoleAccess, carried in the
// cookie as claims that name the role per project and the key's hash prefix, never the key.
using System.Security.Cryptography;
using System.Text;
using FineTune.Contracts;

namespace FineTune.Console;

public enum ConsoleRole { Viewer, Admin }

public sealed class ConsoleKeys
{
    readonly List<(byte[] Hash, ConsoleRole Role, string? Project)> _keys = [];

    public ConsoleKeys(ConsoleOptions options)
    {
        foreach (var key in options.Keys)
            Add(key, ConsoleRole.Viewer, null);
        foreach (var key in options.AdminKeys)
            Add(key, ConsoleRole.Admin, null);
        foreach (var (project, keys) in options.Projects)
        {
            var name = ResourceNames.Validate(project, "Console:Projects");
            foreach (var key in keys.Keys)
                Add(key, ConsoleRole.Viewer, name);
            foreach (var key in keys.AdminKeys)
                Add(key, ConsoleRole.Admin, name);
        }
    }

    public int Count => _keys.Count;

    /// <summary>The key's SHA-256 as lower-case hex (the serving keys' form too).</summary>
    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    void Add(string entry, ConsoleRole role, string? project)
    {
        if (string.IsNullOrWhiteSpace(entry))
            return;
        entry = entry.Trim();
        var hex = entry.StartsWith("sha256:", StringComparison.OrdinalIgnoreCase)
            ? entry[7..].ToLowerInvariant() : Hash(entry);
        if (hex.Length != 64 || !hex.All(Uri.IsHexDigit))
            throw new ArgumentException("Console keys: a 'sha256:' entry needs 64 hex digits.");
        _keys.Add((Encoding.ASCII.GetBytes(hex), role, project));
    }

    /// <summary>What <paramref name="key"/> may see and do (an admin entry wins over a viewer entry of the same key and
    /// scope), or null; every entry is compared, so the time taken says nothing about which matched.</summary>
    public ConsoleAccess? Check(string? key)
    {
        if (string.IsNullOrEmpty(key) || key.Length > 512)
            return null;
        var hex = Hash(key.Trim());
        var presented = Encoding.ASCII.GetBytes(hex);
        ConsoleRole? all = null;
        var projects = new Dictionary<string, ConsoleRole>(StringComparer.Ordinal);
        bool matched = false;
        foreach (var (hash, role, project) in _keys)
        {
            if (!CryptographicOperations.FixedTimeEquals(presented, hash))
                continue;
            matched = true;
            if (project is null)
                all = Max(all, role);
            else
                projects[project] = Max(projects.TryGetValue(project, out var r) ? r : null, role);
        }
        return matched ? new ConsoleAccess("key-" + hex[..8], all, projects) : null;
    }

    static ConsoleRole Max(ConsoleRole? a, ConsoleRole b) => a == ConsoleRole.Admin ? ConsoleRole.Admin : b;
}
