// Options bound from configuration as an operator writes them: configured retry intervals replace the defaults (the
// configuration binder appends to an array that already has elements, which once gave a stage 1+5+15+60 s of retries
// before the configured ones).
using Microsoft.Extensions.Configuration;

namespace FineTune.Pipeline.Tests;

public class PipelineOptionsTests
{
    static PipelineOptions Bind(Dictionary<string, string?> values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values).Build().GetSection(PipelineOptions.Section)
            .Get<PipelineOptions>() ?? new PipelineOptions();

    [Fact]
    public void Configured_retry_intervals_replace_the_defaults()
    {
        Assert.Equal([0.2, 0.5], Bind(new()
        {
            ["Pipeline:RetryIntervalsSeconds:0"] = "0.2",
            ["Pipeline:RetryIntervalsSeconds:1"] = "0.5"
        }).RetryIntervals);
        Assert.Equal([1.0, 5, 15, 60], Bind(new() { ["Pipeline:Threads"] = "2" }).RetryIntervals);
    }
}
