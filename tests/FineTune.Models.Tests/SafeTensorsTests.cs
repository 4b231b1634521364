// Safetensors IO: bit-exact round trips for every dtype, and corrupt or truncated files rejected with the file and
// field named.
using System.Buffers.Binary;
using System.Text;
using FineTune.Models;
using FineTune.Models.Checkpoints;

namespace FineTune.Models.Tests;

public class SafeTensorsTests
{
    static byte[] RandomBytes(int count, int seed)
    {
        var bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F16)]
    [InlineData(DType.BF16)]
    [InlineData(DType.I32)]
    [InlineData(DType.I64)]
    [InlineData(DType.U8)]
    public void Round_trip_is_bit_exact(DType dtype)
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "t.safetensors");
        var a = new TensorData(new TensorInfo("a.weight", dtype, [3, 5]), RandomBytes(15 * dtype.Size(), 1));
        var b = new TensorData(new TensorInfo("b", dtype, [7]), RandomBytes(7 * dtype.Size(), 2));
        var scalar = new TensorData(new TensorInfo("scalar", dtype, []), RandomBytes(dtype.Size(), 3));
        SafeTensorsWriter.Write(path, [a, b, scalar], new Dictionary<string, string> { ["format"] = "pt" });

        using var file = SafeTensorsFile.Open(path);
        Assert.Equal("pt", file.Metadata["format"]);
        foreach (var expected in new[] { a, b, scalar })
        {
            var actual = file.Read(expected.Name);
            Assert.Equal(expected.DType, actual.DType);
            Assert.Equal(expected.Shape, actual.Shape);
            Assert.Equal(expected.Bytes, actual.Bytes);
        }
        // data stays 8-byte aligned
        Assert.Equal(0, BinaryPrimitives.ReadInt64LittleEndian(File.ReadAllBytes(path).AsSpan(0, 8)) % 8);
    }

    [Fact]
    public void Float_conversions_round_bf16_to_nearest_even_and_keep_f32_exact()
    {
        float[] values = [1f, -2.5f, 3.14159265f, 1e-3f, 65504f];
        Assert.Equal(values, DTypes.ToFloat32(DTypes.FromFloat32(values, DType.F32), DType.F32));
        var bf16 = DTypes.ToFloat32(DTypes.FromFloat32(values, DType.BF16), DType.BF16);
        for (int i = 0; i < values.Length; i++)
            Assert.True(Math.Abs(bf16[i] - values[i]) <= Math.Abs(values[i]) / 128, $"{values[i]} -> {bf16[i]}");
        // 3.14159 lies between bf16 neighbours 3.140625 and 3.15625; nearest is the former
        Assert.Equal(3.140625f, bf16[2]);
    }

    static string WriteRaw(TempDir dir, byte[] bytes)
    {
        var path = Path.Combine(dir.Path, "bad.safetensors");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    static byte[] WithHeader(string json, int dataBytes)
    {
        var header = Encoding.UTF8.GetBytes(json);
        var bytes = new byte[8 + header.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        return bytes;
    }

    [Fact]
    public void Truncated_header_is_rejected()
    {
        using var dir = new TempDir();
        var bytes = WithHeader("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 8);
        var path = WriteRaw(dir, bytes[..20]);
        var e = Assert.Throws<ModelFormatException>(() => SafeTensorsFile.Open(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("header", e.Message);
    }

    [Fact]
    public void Header_that_is_not_json_is_rejected()
    {
        using var dir = new TempDir();
        var path = WriteRaw(dir, WithHeader("{not json", 0));
        var e = Assert.Throws<ModelFormatException>(() => SafeTensorsFile.Open(path));
        Assert.Contains("not valid JSON", e.Message);
    }

    [Fact]
    public void Offsets_past_the_end_of_the_file_are_rejected_naming_the_tensor()
    {
        using var dir = new TempDir();
        var path = WriteRaw(dir, WithHeader("""{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", 8));
        var e = Assert.Throws<ModelFormatException>(() => SafeTensorsFile.Open(path));
        Assert.Contains("'w'", e.Message);
        Assert.Contains("data_offsets", e.Message);
    }

    [Fact]
    public void Size_that_disagrees_with_shape_and_dtype_is_rejected()
    {
        using var dir = new TempDir();
        var path = WriteRaw(dir, WithHeader("""{"w":{"dtype":"BF16","shape":[4],"data_offsets":[0,16]}}""", 16));
        var e = Assert.Throws<ModelFormatException>(() => SafeTensorsFile.Open(path));
        Assert.Contains("needs 8", e.Message);
    }

    [Fact]
    public void Unknown_dtype_is_rejected()
    {
        using var dir = new TempDir();
        var path = WriteRaw(dir, WithHeader("""{"w":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}""", 4));
        var e = Assert.Throws<ModelFormatException>(() => SafeTensorsFile.Open(path));
        Assert.Contains("F8_E4M3", e.Message);
    }

    [Fact]
    public void Overlapping_tensors_are_rejected()
    {
        using var dir = new TempDir();
        var path = WriteRaw(dir,
            WithHeader("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 12));
        Assert.Contains("overlap", Assert.Throws<ModelFormatException>(() => SafeTensorsFile.Open(path)).Message);
    }
}
