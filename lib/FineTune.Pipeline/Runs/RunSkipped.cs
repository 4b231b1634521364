// A stage's stored output when the retraining policy decided not to go on (nothing is published).
namespace FineTune.Pipeline.Runs;

public sealed record RunSkipped(Guid RunId, string Reason);
