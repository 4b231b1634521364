// The JSON this project writes itself (bundle manifests, the local store's side files), source-generated: camelCase,
// indented, deterministic, so the same content always hashes the same.
using System.Text.Json.Serialization;

namespace FineTune.Artifacts;

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(LocalObjectMeta))]
[JsonSerializable(typeof(BundleManifest))]
internal sealed partial class ArtifactJson : JsonSerializerContext;
