// A deployment as a node of the lineage graph: the registry's deployments row, named like an artifact.
using FineTune.Contracts;

namespace FineTune.Pipeline.Deployment;

public static class Deployments
{
    public static ArtifactRef Ref(string project, string alias, int version) =>
        new("registry", $"deployments/{project}/{alias}/v{version}", "", 0);
}
