// The reward model's loss (Bradley–Terry, as in InstructGPT and TRL's RewardTrainer): the chance that the chosen
// response beats the rejected one is σ(r_chosen − r_rejected − margin), and each pair costs its negative log.
namespace FineTune.Torch;

public static class RewardLoss
{
    /// <param name="chosen">(N,) scores of the chosen responses</param>
    /// <param name="rejected">(N,) scores of the rejected responses</param>
    /// <param name="margin">how far the chosen score must lead before a pair stops costing much (0: plain
    /// Bradley–Terry)</param>
    /// <returns>(N,) −log σ(r_chosen − r_rejected − margin)</returns>
    public static Tensor BradleyTerry(Tensor chosen, Tensor rejected, double margin = 0) =>
        -nn.functional.logsigmoid(chosen.Minus(rejected).Plus(-margin));
}
