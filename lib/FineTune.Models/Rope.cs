// Rotary position embedding frequencies, shared by every engine: theta^(-2i/d), with Llama 3's long-context scaling.
// Hugging Face convention: dimension i of a head rotates with dimension i + head_dim/2 ("rotate_half").
namespace FineTune.Models;

public static class Rope
{
    public static float[] InverseFrequencies(LlamaConfig config)
    {
        int dim = config.HeadDim;
        var inv = new float[dim / 2];
        for (int i = 0; i < inv.Length; i++)
            inv[i] = (float)(1.0 / Math.Pow(config.RopeTheta, (double)(2 * i) / dim));
        if (config.RopeScaling is { Type: "llama3" } s)
        {
            double lowFreqWavelen = s.OriginalMaxPositionEmbeddings / s.LowFreqFactor;
            double highFreqWavelen = s.OriginalMaxPositionEmbeddings / s.HighFreqFactor;
            for (int i = 0; i < inv.Length; i++)
            {
                double wavelen = 2 * Math.PI / inv[i];
                // high frequency: unchanged
                if (wavelen < highFreqWavelen)
                    continue;
                // low frequency: scaled
                if (wavelen > lowFreqWavelen)
                {
                    inv[i] = (float)(inv[i] / s.Factor);
                    continue;
                }
                double smooth = (s.OriginalMaxPositionEmbeddings / wavelen - s.LowFreqFactor)
                    / (s.HighFreqFactor - s.LowFreqFactor);
                inv[i] = (float)((1 - smooth) * inv[i] / s.Factor + smooth * inv[i]);
            }
        }
        return inv;
    }

    /// <summary>cos and sin tables of shape (positions, head_dim/2), row-major.</summary>
    public static (float[] Cos, float[] Sin) Tables(LlamaConfig config, int positions)
    {
        var inv = InverseFrequencies(config);
        var cos = new float[positions * inv.Length];
        var sin = new float[positions * inv.Length];
        for (int p = 0; p < positions; p++)
            for (int i = 0; i < inv.Length; i++)
            {
                float angle = p * inv[i];
                cos[p * inv.Length + i] = MathF.Cos(angle);
                sin[p * inv.Length + i] = MathF.Sin(angle);
            }
        return (cos, sin);
    }
}
