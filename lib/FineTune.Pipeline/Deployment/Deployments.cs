// A deployment as a node of the lineage graph: the registry's deployments row, named like an artifact. Its edges:
// "deployed" from the gate that let it through, "configured" from the settings it was deployed with (what the live
// watch reads the project's output schema from).
using FineTune.Contracts;

namespace FineTune.Pipeline.Deployment;

public static class Deployments
{
    public const string Configured = "configured";

    public static ArtifactRef Ref(string project, string alias, int version) =>
        new("registry", $"deployments/{project}/{alias}/v{version}", "", 0);
}
