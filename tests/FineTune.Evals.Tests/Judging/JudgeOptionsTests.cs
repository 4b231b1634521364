// The judge's settings end up in logs and error messages: their text never holds the key.
using FineTune.Evals.Judging;

namespace FineTune.Evals.Tests.Judging;

public class JudgeOptionsTests
{
    [Fact]
    public void The_text_of_the_options_hides_the_key_and_names_the_endpoint()
    {
        var options = new JudgeOptions { Endpoint = "http://judge:8000/v1", Model = "m", ApiKey = "sk-live-123" };
        Assert.DoesNotContain("sk-live-123", options.ToString());
        Assert.Contains("ApiKey = ***", options.ToString());
        Assert.Contains("http://judge:8000/v1", options.ToString());
        Assert.Contains("ApiKey = (none)", (options with { ApiKey = null }).ToString());
    }
}
