// API keys: held only as SHA-256 hashes (configuration may give plain keys, hashed when read, or "sha256:<hex>"),
// checked on every /v1 request from "Authorization: Bearer <key>". No key, no answer: 401 in OpenAI's shape. The key's
// name (its hash prefix) partitions the rate limiter.
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace FineTune.Serving.Api;

public sealed class ApiKeys
{
    readonly Dictionary<string, string> _byHash; // hex hash -> name
    readonly HashSet<string> _admins = new(StringComparer.Ordinal);

    /// <param name="adminKeys">keys that may also change what is served (load and unload adapters); they are API keys
    /// too</param>
    public ApiKeys(IEnumerable<string> keys, IEnumerable<string>? adminKeys = null)
    {
        _byHash = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var hash in keys.Select(HashOf).OfType<string>())
            _byHash[hash] = "key-" + hash[..8];
        foreach (var hash in (adminKeys ?? []).Select(HashOf).OfType<string>())
        {
            _byHash[hash] = "key-" + hash[..8];
            _admins.Add(hash);
        }
    }

    static string? HashOf(string entry)
    {
        if (string.IsNullOrWhiteSpace(entry))
            return null;
        entry = entry.Trim();
        var hash = entry.StartsWith("sha256:",
            StringComparison.OrdinalIgnoreCase) ? entry[7..].ToLowerInvariant() : Hash(entry);
        if (hash.Length != 64 || !hash.All(Uri.IsHexDigit))
            throw new ArgumentException($"API key entry '{entry[..Math.Min(12, entry.Length)]}…': a 'sha256:' entry " +
                $"needs 64 hex digits.");
        return hash;
    }

    /// <summary>Whether the request's key is an admin key (checked like any key, in constant time).</summary>
    public bool IsAdmin(HttpRequest request)
    {
        string? header = request.Headers.Authorization;
        if (string.IsNullOrEmpty(header) || !header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            return false;
        var presented = Encoding.ASCII.GetBytes(Hash(header[7..].Trim()));
        bool admin = false;
        foreach (var hash in _admins)
            admin |= CryptographicOperations.FixedTimeEquals(presented, Encoding.ASCII.GetBytes(hash));
        return admin;
    }

    public int Count => _byHash.Count;

    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>A new random key ("ft-" and 40 hex digits).</summary>
    public static string Generate() => "ft-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(20));

    /// <summary>The key's name, or null with the error to answer.</summary>
    public (string? Name, OpenAiError? Error) Check(HttpRequest request)
    {
        string? header = request.Headers.Authorization;
        if (string.IsNullOrEmpty(header))
            return (null, new OpenAiError(401,
                "You didn't provide an API key. Send it in the Authorization header: 'Authorization: Bearer " +
                "YOUR_KEY'.", code: "missing_api_key"));
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            return (null, new OpenAiError(401, "The Authorization header must be 'Bearer YOUR_KEY'.",
                code: "invalid_api_key"));
        var presented = Encoding.ASCII.GetBytes(Hash(header[7..].Trim()));
        foreach (var (hash, name) in _byHash)
            if (CryptographicOperations.FixedTimeEquals(presented, Encoding.ASCII.GetBytes(hash)))
                return (name, null);
        return (null, new OpenAiError(401, "Incorrect API key provided.", code: "invalid_api_key"));
    }
}
