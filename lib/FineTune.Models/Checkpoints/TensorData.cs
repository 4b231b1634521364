// A named tensor as raw little-endian bytes: what safetensors stores and what loaders hand to a model.
namespace FineTune.Models.Checkpoints;

public sealed record TensorInfo(string Name, DType DType, long[] Shape)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
    public long ByteCount => ElementCount * DType.Size();
    public string ShapeText => $"[{string.Join(", ", Shape)}]";
}

public sealed record TensorData(TensorInfo Info, byte[] Bytes)
{
    public string Name => Info.Name;
    public long[] Shape => Info.Shape;
    public DType DType => Info.DType;

    public float[] ToFloat32() => DTypes.ToFloat32(Bytes, Info.DType);

    public static TensorData FromFloat32(string name, long[] shape, ReadOnlySpan<float> values, DType dtype = DType.F32)
    {
        var info = new TensorInfo(name, dtype, shape);
        if (info.ElementCount != values.Length)
            throw new ArgumentException($"tensor '{name}': shape {info.ShapeText} holds {info.ElementCount} values, " +
                $"got {values.Length}.");
        return new TensorData(info, DTypes.FromFloat32(values, dtype));
    }
}
