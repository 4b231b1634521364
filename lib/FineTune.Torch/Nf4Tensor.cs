// 4-bit NormalFloat (NF4) storage for frozen base weights, as QLoRA (Dettmers et al. 2023): blocks of 64 weights
// scaled by their absolute maximum and rounded to the nearest of 16 levels that are quantiles of N(0, 1); the
// per-block scales are themselves quantized ("double quantization") to 8 bits in blocks of 256 around their mean.
// Storage ≈ 4 + 8/64 + 32/(64·256) ≈ 4.13 bits per weight, under 1/7 of float32.
namespace FineTune.Torch;

public sealed class Nf4Tensor
{
    public const int BlockSize = 64, ScaleBlockSize = 256;

    /// <summary>The 16 NF4 levels (QLoRA, Appendix E / bitsandbytes), ascending, with exact 0 and ±1.</summary>
    public static readonly float[] Levels =
    [
        -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f,
        -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f,
        0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f,
            1.0f,
    ];

    readonly byte[] _codes;          // two 4-bit level indices per byte, low nibble first
    readonly sbyte[] _scaleCodes;    // each block's absmax, minus the mean, as int8 within its scale block
    readonly float[] _scaleScales;   // per 256 blocks: the absmax of the centred scales, / 127
    readonly float _scaleMean;

    public long[] Shape { get; }
    public long Count { get; }

    /// <summary>Bytes held: codes, 8-bit scales, the scales' scales and their mean.</summary>
    public long StorageBytes => _codes.LongLength + _scaleCodes.LongLength + 4L * _scaleScales.LongLength + 4;

    Nf4Tensor(long[] shape, long count, byte[] codes, sbyte[] scaleCodes, float[] scaleScales, float scaleMean)
    {
        Shape = shape;
        Count = count;
        _codes = codes;
        _scaleCodes = scaleCodes;
        _scaleScales = scaleScales;
        _scaleMean = scaleMean;
    }

    public static Nf4Tensor Quantize(ReadOnlySpan<float> values, long[] shape)
    {
        long count = shape.Aggregate(1L, (a, b) => a * b);
        if (count != values.Length)
            throw new ArgumentException($"shape [{string.Join(", ", shape)}] holds {count} values, got " +
                $"{values.Length}.");
        int blocks = (values.Length + BlockSize - 1) / BlockSize;
        var absmax = new float[blocks];
        for (int b = 0; b < blocks; b++)
        {
            float m = 0;
            for (int i = b * BlockSize; i < Math.Min(values.Length, (b + 1) * BlockSize); i++)
                m = Math.Max(m, Math.Abs(values[i]));
            absmax[b] = m;
        }

        // Double quantization: scales centred on their mean, then int8 with one float scale per 256 blocks.
        float mean = blocks == 0 ? 0 : (float)absmax.Average(x => (double)x);
        int scaleBlocks = (blocks + ScaleBlockSize - 1) / ScaleBlockSize;
        var scaleScales = new float[scaleBlocks];
        var scaleCodes = new sbyte[blocks];
        for (int s = 0; s < scaleBlocks; s++)
        {
            float m = 0;
            for (int b = s * ScaleBlockSize; b < Math.Min(blocks, (s + 1) * ScaleBlockSize); b++)
                m = Math.Max(m, Math.Abs(absmax[b] - mean));
            scaleScales[s] = m / 127f;
            for (int b = s * ScaleBlockSize; b < Math.Min(blocks, (s + 1) * ScaleBlockSize); b++)
                scaleCodes[b] = m == 0 ? (sbyte)0 : (sbyte)Math.Clamp(MathF.Round((absmax[b] - mean) / scaleScales[s]),
                    -127, 127);
        }

        // Values are normalised by the scale that dequantization will actually use, so the two roundings do not
        // compound.
        var codes = new byte[(values.Length + 1) / 2];
        for (int b = 0; b < blocks; b++)
        {
            float scale = mean + scaleCodes[b] * scaleScales[b / ScaleBlockSize];
            for (int i = b * BlockSize; i < Math.Min(values.Length, (b + 1) * BlockSize); i++)
            {
                int level = Nearest(scale > 0 ? values[i] / scale : 0f);
                codes[i / 2] |= (byte)(i % 2 == 0 ? level : level << 4);
            }
        }
        return new Nf4Tensor(shape, count, codes, scaleCodes, scaleScales, mean);
    }

    public float[] Dequantize()
    {
        var values = new float[Count];
        for (long i = 0; i < Count; i++)
        {
            long b = i / BlockSize;
            float scale = _scaleMean + _scaleCodes[b] * _scaleScales[b / ScaleBlockSize];
            int level = (_codes[i / 2] >> (i % 2 == 0 ? 0 : 4)) & 0xF;
            values[i] = Levels[level] * scale;
        }
        return values;
    }

    /// <summary>The dequantized weight as a tensor (what forward and backward use; the NF4 codes stay the
    /// storage).</summary>
    public Tensor ToTensor(ScalarType dtype = ScalarType.Float32) => tensor(Dequantize(), Shape).to(dtype);

    static int Nearest(float x)
    {
        x = Math.Clamp(x, -1f, 1f);
        int best = 0;
        for (int l = 1; l < Levels.Length; l++)
            if (Math.Abs(Levels[l] - x) < Math.Abs(Levels[best] - x))
                best = l;
        return best;
    }
}
