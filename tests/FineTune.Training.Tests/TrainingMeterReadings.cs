// What the FineTune.Training meter recorded while a test ran: the last value of each gauge and the sum of each
// counter, by instrument name.
using System.Diagnostics.Metrics;

namespace FineTune.Training.Tests;

sealed class TrainingMeterReadings : IDisposable
{
    readonly MeterListener _listener = new();
    readonly Dictionary<string, double> _last = [];
    readonly Dictionary<string, long> _sums = [];

    public TrainingMeterReadings()
    {
        _listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == TrainingTelemetry.MeterName)
                l.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<double>((instrument, value, _, _) =>
        {
            lock (_last)
                _last[instrument.Name] = value;
        });
        _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            lock (_sums)
                _sums[instrument.Name] = _sums.GetValueOrDefault(instrument.Name) + value;
        });
        _listener.Start();
    }

    /// <summary>The last value a gauge recorded.</summary>
    public double Last(string name)
    {
        lock (_last)
            return _last[name];
    }

    /// <summary>The sum of what a counter added.</summary>
    public long Sum(string name)
    {
        lock (_sums)
            return _sums.GetValueOrDefault(name);
    }

    public void Dispose() => _listener.Dispose();
}
