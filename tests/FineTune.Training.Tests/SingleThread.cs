using System.Collections.Concurrent;

namespace FineTune.Training.Tests;

// TorchSharp counts tensors per thread, and an await (the generator yields between tokens) may resume on any pool
// thread: the count read after it would be another thread's, mixed with whatever other tests did there. Run runs an
// async body on one dedicated thread whose synchronization context brings every continuation back to it, so the
// count covers all of the body's work and nothing else.
static class SingleThread
{
    public static void Run(Func<Task> body)
    {
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            using var context = new QueueContext();
            SynchronizationContext.SetSynchronizationContext(context);
            try
            {
                var task = body();
                task.ContinueWith(_ => context.Complete(), TaskScheduler.Default);
                context.RunUntilComplete();
                task.GetAwaiter().GetResult();
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        thread.Start();
        thread.Join();
        if (failure is not null)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
    }

    sealed class QueueContext : SynchronizationContext, IDisposable
    {
        readonly BlockingCollection<(SendOrPostCallback Callback, object? State)> queue = new();

        public override void Post(SendOrPostCallback d, object? state) => queue.Add((d, state));

        public override void Send(SendOrPostCallback d, object? state) =>
            throw new NotSupportedException("SingleThread runs posted work only.");

        public void Complete() => queue.CompleteAdding();

        public void RunUntilComplete()
        {
            foreach (var (callback, state) in queue.GetConsumingEnumerable())
                callback(state);
        }

        public void Dispose() => queue.Dispose();
    }
}
