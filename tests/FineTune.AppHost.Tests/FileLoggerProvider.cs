// Writes the AppHost's log, with every resource's console output that Aspire.Hosting.Testing forwards to it, to one
// file under TestResults/, so a failure in CI can be read after the fact.
using Microsoft.Extensions.Logging;

namespace FineTune.AppHost.Tests;

public sealed class FileLoggerProvider(string path) : ILoggerProvider
{
    readonly TextWriter _writer = TextWriter.Synchronized(new StreamWriter(path, append: false) { AutoFlush = true });

    public ILogger CreateLogger(string categoryName) => new FileLogger(_writer, categoryName);

    public void Dispose() => _writer.Dispose();

    sealed class FileLogger(TextWriter writer, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception,
            Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
                return;
            writer.WriteLine(
                $"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel,-11} {category}: {formatter(state, exception)}");
            if (exception is not null)
                writer.WriteLine(exception);
        }
    }
}
