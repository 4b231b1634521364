// A bundle's manifest.json: every file of the bundled directory with its SHA-256 and size, sorted by path
// ('/'-separated, relative to the directory). The manifest's own ArtifactRef is what messages carry.
namespace FineTune.Artifacts;

/// <summary>The files of a bundle, sorted by <see cref="BundleFile.Path"/> (ordinal).</summary>
public sealed record BundleManifest(IReadOnlyList<BundleFile> Files);

/// <summary>One file of a bundle: its path relative to the bundle directory and what it must hash to.</summary>
public sealed record BundleFile(string Path, string Sha256, long Bytes);
