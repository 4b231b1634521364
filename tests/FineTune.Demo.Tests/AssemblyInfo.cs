// The tiny base model trains one at a time in this test process: a run owns libtorch's process-wide generator (dropout
// draws,
// saved in checkpoints for exact resume) and its thread count, as a training worker does (one job per process).
[assembly: CollectionBehavior(DisableTestParallelization = true)]
