namespace FineTune.Torch; public static class Probe { public static string Hi() => TorchSharp.torch.ones(2).sum().item<float>().ToString(); }
