// bfloat16 matrix products for CpuLlama's bf16 weights, with AVX512_BF16 (vdpbf16ps) or AMX tiles (tdpbf16ps). .NET
// 10 has intrinsics for neither, so these kernels are C, compiled at build time where gcc is present
// (FineTune.Models.csproj) and used only on CPUs that have the instructions.
//
// Layout (PanelMatrix.BFloat16): rows in blocks of 16; a block holds its k inputs as k / 2 pairs, pair after pair,
// each pair one 64-byte line of 16 dwords, dword j = row j's inputs (2i, 2i + 1) — a vector of 16 outputs' pairs, and
// 16 lines one AMX tile of weights.
//
// vdpbf16ps: every output is one float32 sum over the pairs in input order, acc += w[2i+1] x[2i+1], then acc +=
// w[2i] x[2i], each rounded once, then the bias; Bf16Kernels.cs computes the very same bits without it.
//
// tdpbf16ps sums a tile's 16 pairs its own way (measured: not a sequence of float32 roundings, nor one rounding of the
// exact sum), so the AMX kernel has its own bits, within bf16's rounding of the others. It runs for every batch,
// one row too: a tile's rows are activation rows, each computed alone, so every batch still gives every row the same
// bits.
#include <cpuid.h>
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define INLINE static inline __attribute__((always_inline))
#define EXPORT __attribute__((visibility("default")))

// y[b, 16o .. 16o + 15] = the O blocks' sums for R activation rows, all O*R accumulators in registers.
INLINE void block(const uint16_t* w, int k, const uint16_t* x, ptrdiff_t xStride, float* y, ptrdiff_t yStride,
    const float* bias, int O, int R)
{
    __m512 acc[8][8];
    for (int o = 0; o < O; o++)
        for (int r = 0; r < R; r++)
            acc[o][r] = _mm512_setzero_ps();
    ptrdiff_t blockSize = (ptrdiff_t)16 * k;
    for (int i = 0; i < k; i += 2)
    {
        __m512i wv[8];
        for (int o = 0; o < O; o++)
            wv[o] = _mm512_loadu_si512(w + o * blockSize + (ptrdiff_t)i * 16);
        for (int r = 0; r < R; r++)
        {
            __m512i xv = _mm512_set1_epi32(*(const int32_t*)(x + r * xStride + i));
            for (int o = 0; o < O; o++)
                acc[o][r] = _mm512_dpbf16_ps(acc[o][r], (__m512bh)wv[o], (__m512bh)xv);
        }
    }
    for (int o = 0; o < O; o++)
    {
        __m512 b = bias ? _mm512_loadu_ps(bias + 16 * o) : _mm512_setzero_ps();
        for (int r = 0; r < R; r++)
            _mm512_storeu_ps(y + r * yStride + 16 * o, bias ? _mm512_add_ps(acc[o][r], b) : acc[o][r]);
    }
}

// block() for the O blocks from row r and the R activation rows from b.
INLINE void blockAt(const uint16_t* w, int k, int r, const uint16_t* x, int xStride, int b, float* y, int yStride,
    const float* bias, int O, int R)
{
    block(w + (ptrdiff_t)r * k, k, x + (ptrdiff_t)b * xStride, xStride, y + (ptrdiff_t)b * yStride + r, yStride,
        bias ? bias + r : NULL, O, R);
}

// y[b, r] = dot(w[r], x[b]) (+ bias[r]) for rows [rowStart, rowEnd) (multiples of 16) and activation rows [0, batch);
// k even; strides in elements. Groups of 8 blocks (few activation rows: independent chains) or 4 blocks times 4 rows,
// then single blocks.
EXPORT void finetune_bf16_matmul(const uint16_t* w, int k, int rowStart, int rowEnd, const uint16_t* x, int xStride,
    int batch, float* y, int yStride, const float* bias)
{
    int r = rowStart;
    for (; batch < 4 && r + 128 <= rowEnd; r += 128)
        for (int b = 0; b < batch; b++)
            blockAt(w, k, r, x, xStride, b, y, yStride, bias, 8, 1);
    for (; r + 64 <= rowEnd; r += 64)
    {
        int b = 0;
        for (; b + 4 <= batch; b += 4)
            blockAt(w, k, r, x, xStride, b, y, yStride, bias, 4, 4);
        for (; b < batch; b++)
            blockAt(w, k, r, x, xStride, b, y, yStride, bias, 4, 1);
    }
    for (; r < rowEnd; r += 16)
    {
        int b = 0;
        for (; b + 8 <= batch; b += 8)
            blockAt(w, k, r, x, xStride, b, y, yStride, bias, 1, 8);
        for (; b < batch; b++)
            blockAt(w, k, r, x, xStride, b, y, yStride, bias, 1, 1);
    }
}

// Tile registers: 0-3 four blocks' sums (rows = activation rows), 4 the activations, 5 and 6 weights (16 pairs of a
// block, 64 bytes each).
typedef struct
{
    uint8_t palette, startRow, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} TileConfig;

static void configure(int rows)
{
    TileConfig config;
    memset(&config, 0, sizeof config);
    config.palette = 1;
    for (int t = 0; t < 7; t++)
    {
        config.colsb[t] = 64;
        config.rows[t] = t >= 5 ? 16 : rows;
    }
    _tile_loadconfig(&config);
}

INLINE void addBias(float* y, ptrdiff_t yStride, int rows, const float* bias, int columns)
{
    for (int b = 0; b < rows; b++)
        for (int c = 0; c < columns; c += 16)
            _mm512_storeu_ps(y + b * yStride + c,
                _mm512_add_ps(_mm512_loadu_ps(y + b * yStride + c), _mm512_loadu_ps(bias + c)));
}

// The product with AMX tiles: k a multiple of 32 (the activation rows padded with zeros to it).
EXPORT void finetune_bf16_amx_matmul(const uint16_t* w, int k, int rowStart, int rowEnd, const uint16_t* x,
    int xStride, int batch, float* y, int yStride, const float* bias)
{
    ptrdiff_t blockSize = (ptrdiff_t)16 * k, yBytes = (ptrdiff_t)yStride * sizeof(float);
    ptrdiff_t xBytes = (ptrdiff_t)xStride * sizeof(uint16_t);
    int configured = 0;
    for (int b0 = 0; b0 < batch; b0 += 16)
    {
        int rows = batch - b0 < 16 ? batch - b0 : 16;
        const uint16_t* xs = x + (ptrdiff_t)b0 * xStride;
        if (rows != configured)
            configure(configured = rows);
        float* yb = y + (ptrdiff_t)b0 * yStride;
        int r = rowStart;
        for (; r + 64 <= rowEnd; r += 64)
        {
            const uint16_t* wb = w + (ptrdiff_t)r * k;
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
            for (int i = 0; i < k; i += 32, wb += 512)
            {
                _tile_loadd(4, xs + i, xBytes);
                _tile_loadd(5, wb, 64);
                _tile_dpbf16ps(0, 4, 5);
                _tile_loadd(6, wb + blockSize, 64);
                _tile_dpbf16ps(1, 4, 6);
                _tile_loadd(5, wb + 2 * blockSize, 64);
                _tile_dpbf16ps(2, 4, 5);
                _tile_loadd(6, wb + 3 * blockSize, 64);
                _tile_dpbf16ps(3, 4, 6);
            }
            _tile_stored(0, yb + r, yBytes);
            _tile_stored(1, yb + r + 16, yBytes);
            _tile_stored(2, yb + r + 32, yBytes);
            _tile_stored(3, yb + r + 48, yBytes);
        }
        for (; r < rowEnd; r += 16)
        {
            const uint16_t* wb = w + (ptrdiff_t)r * k;
            _tile_zero(0);
            for (int i = 0; i < k; i += 32, wb += 512)
            {
                _tile_loadd(4, xs + i, xBytes);
                _tile_loadd(5, wb, 64);
                _tile_dpbf16ps(0, 4, 5);
            }
            _tile_stored(0, yb + r, yBytes);
        }
        if (bias)
            addBias(yb + rowStart, yStride, rows, bias + rowStart, rowEnd - rowStart);
    }
    _tile_release();
}

// 1 where this CPU has AMX-BF16 and the kernel may use its tile registers (Linux grants them on request, per
// process), else 0.
EXPORT int finetune_bf16_amx_init(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 22)) || !(d & (1u << 24)))
        return 0;
    const long requestPermission = 0x1023, tileData = 18;
    return syscall(SYS_arch_prctl, requestPermission, tileData) == 0;
}
