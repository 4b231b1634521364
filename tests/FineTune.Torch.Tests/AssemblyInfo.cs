// One test at a time in this process: several tests seed libtorch's process-wide generator (adapter initialisation,
// dropout masks) and compare two runs, which a test running beside them would draw from in between.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
