namespace FineTune.Torch.Tests;
public class ProbeTests { [Fact] public void Loads() => Assert.Equal("2", FineTune.Torch.Probe.Hi()); }
