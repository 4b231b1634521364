// One distributed pipeline at a time: each test starts five service processes that train and evaluate on 2 cores.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
