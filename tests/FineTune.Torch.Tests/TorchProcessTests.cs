// TorchProcess puts its defaults where native code reads them (libgomp calls getenv when libtorch loads), keeps what
// the
// user set, and the test hosts themselves run with OpenMP's passive wait (tests/test.runsettings).
using FineTune.Torch;

namespace FineTune.Torch.Tests;

public class TorchProcessTests
{
    [Fact]
    public void A_default_reaches_the_native_environment_and_a_users_value_is_kept()
    {
        var name = $"FINETUNE_TEST_{Guid.NewGuid():N}";
        Assert.Null(TorchProcess.NativeValue(name));
        Assert.Equal("PASSIVE", TorchProcess.SetDefault(name, "PASSIVE"));
        Assert.Equal("PASSIVE", TorchProcess.NativeValue(name));
        Assert.Equal("PASSIVE", Environment.GetEnvironmentVariable(name));   // and child processes inherit it

        var chosen = $"FINETUNE_TEST_{Guid.NewGuid():N}";
        Environment.SetEnvironmentVariable(chosen, "ACTIVE");
        Assert.Equal("ACTIVE", TorchProcess.SetDefault(chosen, "PASSIVE"));
        Assert.Equal("ACTIVE", Environment.GetEnvironmentVariable(chosen));
    }

    [Fact]
    public void Test_hosts_run_with_the_passive_wait_policy()
    {
        Assert.Equal("PASSIVE", TorchProcess.NativeValue(TorchProcess.WaitPolicy));
    }
}
