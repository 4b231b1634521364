// The words a stage execution's status takes in the registry (StageRecord.Status). A succeeded stage is final: a later
// start, completion or failure of the same stage (a redelivery) leaves its status and stored output as they are.
namespace FineTune.Registry;

public static class StageStatus
{
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
}
