// What every linear layer of the model is, whatever the method adapting it: a plain projection (AutocastLinear), a
// LoRA/DoRA one (LoraLinear) or an IA³ one (Ia3Linear). The model switches autocast and its adapters through this
// alone,
// so a new adapter method is one class implementing it plus one line in Projection.Create.
namespace FineTune.Torch;

public interface ILinearLayer
{
    /// <summary>Matmuls run in this dtype (bfloat16 autocast) when set; parameters and outputs keep theirs.</summary>
    ScalarType? ComputeDtype { get; set; }

    /// <summary>When false the layer computes its base alone (DPO's reference policy without a second copy). A plain
    /// layer has no adapter: always true, and setting it changes nothing.</summary>
    bool AdaptersEnabled { get; set; }
}
