// One AppHost (DCP, three servers, six service processes) at a time is all two cores take.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
