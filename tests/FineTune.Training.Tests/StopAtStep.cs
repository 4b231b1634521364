// Cancels a run when it reports a given step: how the resume tests stop a run part-way (cancellation writes a
// checkpoint, as Ctrl-C does).
namespace FineTune.Training.Tests;

sealed class StopAtStep(int step, CancellationTokenSource cts) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value)
    {
        if (value.Metrics?.Step == step)
            cts.Cancel();
    }
}
