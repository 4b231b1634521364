// Which version answers a request for a name under a progressive release: canary sends a fixed share of callers to
// the candidate, chosen by a hash of the release and the caller (the OpenAI `user` field, else the API key), so one
// caller always meets the same variant; shadow answers from production and also runs the candidate in the background.
// Releases are set by the host that knows the registry (RegistryServing) and swapped as one immutable map.
using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using FineTune.Text.Structured;

namespace FineTune.Serving.Releases;

public enum ReleaseMode { Canary, Shadow }

/// <summary>A release of <paramref name="Candidate"/> (a served name) beside what <paramref name="Name"/> serves.
/// <paramref name="Id"/> names it in metrics and decisions (project@vN). <paramref name="OutputSchema"/>: answers
/// that are not documents of it count as invalid (and a canary's are replaced by production's).</summary>
public sealed record ServedRelease(string Id, string Name, string Candidate, ReleaseMode Mode, double Weight,
    JsonGrammar? OutputSchema = null);

public enum Variant { Production, Candidate }

public sealed class ReleaseRouter
{
    ImmutableDictionary<string, ServedRelease> _releases = ImmutableDictionary<string, ServedRelease>.Empty;

    public IReadOnlyCollection<ServedRelease> All => _releases.Values.ToList();

    public bool TryGet(string name, out ServedRelease release) => _releases.TryGetValue(name, out release!);

    /// <summary>Replaces the releases of the names <paramref name="scope"/> selects with <paramref name="releases"/>.
    /// </summary>
    public void Replace(Func<string, bool> scope, IEnumerable<ServedRelease> releases)
    {
        var builder = _releases.Where(r => !scope(r.Key)).ToImmutableDictionary().ToBuilder();
        foreach (var r in releases)
            builder[r.Name] = r;
        _releases = builder.ToImmutable();
    }

    /// <summary>The variant a canary sends <paramref name="caller"/> to: the same for every call of one caller.
    /// </summary>
    public static Variant Choose(ServedRelease release, string caller)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{release.Id}\n{caller}"));
        double position = BitConverter.ToUInt64(hash, 0) / (ulong.MaxValue + 1.0);
        return position < release.Weight ? Variant.Candidate : Variant.Production;
    }
}
