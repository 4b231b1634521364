// One pipeline at a time in this test process: its training worker owns libtorch's process-wide generator and threads.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
