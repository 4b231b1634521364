// bfloat16 matrix products with AVX512_BF16 (vdpbf16ps), for CpuLlama's bf16 weights. .NET 10 has no intrinsics for
// vdpbf16ps, so this one kernel is C, compiled at build time where gcc is present (FineTune.Models.csproj) and loaded
// only on CPUs that report AVX512_BF16; Bf16Kernels.cs computes the very same bits without it.
//
// Layout (PanelMatrix): rows in panels of 4, a panel's values in groups of 8 inputs, row after row: 32 bf16, one
// 512-bit vector whose float32 lane j holds row j / 4's input pair j % 4. The activations are bf16 too (rounded once
// per product). For each (panel, activation row) one accumulator runs vdpbf16ps over the groups in input order —
// lane j += w[2j+1] x[2j+1], then += w[2j] x[2j], each rounded — and a row's output is (l0 + l1) + (l2 + l3) over its
// four lanes, plus the bias. Register blocking only changes which accumulators share a loop, never an accumulator's
// sequence, so every batch gives every row the same bits.
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#define INLINE static inline __attribute__((always_inline))

// The four rows' sums of one accumulator, plus bias, stored to y[0..3].
INLINE void store4(float* y, __m512 acc, const float* bias)
{
    __m256 lo = _mm512_castps512_ps256(acc), hi = _mm512_extractf32x8_ps(acc, 1);
    __m256 pairs = _mm256_hadd_ps(lo, hi);  // l0+l1 l2+l3 (rows 0, 2) | l4+l5 l6+l7 (rows 1, 3)
    __m256 rows = _mm256_hadd_ps(pairs, pairs);
    __m128 sums = _mm_unpacklo_ps(_mm256_castps256_ps128(rows), _mm256_extractf128_ps(rows, 1));
    if (bias)
        sums = _mm_add_ps(sums, _mm_loadu_ps(bias));
    _mm_storeu_ps(y, sums);
}

// Two panels' (8 rows') sums for two activation rows at once: a row's (l0 + l1) + (l2 + l3) as store4 adds them, four
// accumulators reduced together, then y[0..7] = rows of a, b and y[yStride..+7] = rows of c, d.
INLINE void store8x2(float* y, ptrdiff_t yStride, __m512 a, __m512 b, __m512 c, __m512 d, const float* bias)
{
    // per 128-bit lane (row r): [a01 a23 b01 b23] and [c01 c23 d01 d23], lXY = lX + lY
    __m512 ab = _mm512_add_ps(_mm512_shuffle_ps(a, b, 0x88), _mm512_shuffle_ps(a, b, 0xDD));
    __m512 cd = _mm512_add_ps(_mm512_shuffle_ps(c, d, 0x88), _mm512_shuffle_ps(c, d, 0xDD));
    // lane r: [a b c d] row r
    __m512 sums = _mm512_add_ps(_mm512_shuffle_ps(ab, cd, 0x88), _mm512_shuffle_ps(ab, cd, 0xDD));
    __m512 out = _mm512_permutexvar_ps(_mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0), sums);
    if (bias)
    {
        __m256 bv = _mm256_loadu_ps(bias);
        out = _mm512_add_ps(out, _mm512_insertf32x8(_mm512_castps256_ps512(bv), bv, 1));
    }
    _mm256_storeu_ps(y, _mm512_castps512_ps256(out));
    _mm256_storeu_ps(y + yStride, _mm512_extractf32x8_ps(out, 1));
}

// P panels (4P rows) times B activation rows, all P*B accumulators in registers. The next panels are prefetched: the
// classifier's weights stream from memory.
INLINE void block(const uint16_t* w, int k, const uint16_t* x, ptrdiff_t xStride, float* y, ptrdiff_t yStride,
    const float* bias, int P, int B)
{
    __m512 acc[2][16];
    for (int p = 0; p < P; p++)
        for (int b = 0; b < B; b++)
            acc[p][b] = _mm512_setzero_ps();
    ptrdiff_t panel = (ptrdiff_t)4 * k;
    for (int i = 0; i < k; i += 8)
    {
        __m512bh wv[2];
        for (int p = 0; p < P; p++)
        {
            wv[p] = (__m512bh)_mm512_loadu_si512(w + p * panel + (ptrdiff_t)i * 4);
            _mm_prefetch((const char*)(w + (P + p) * panel + (ptrdiff_t)i * 4), _MM_HINT_T0);
        }
        for (int b = 0; b < B; b++)
        {
            __m512bh xv = (__m512bh)_mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i*)(x + b * xStride + i)));
            for (int p = 0; p < P; p++)
                acc[p][b] = _mm512_dpbf16_ps(acc[p][b], wv[p], xv);
        }
    }
    if (P == 2 && B % 2 == 0)
    {
        for (int b = 0; b < B; b += 2)
            store8x2(y + b * yStride, yStride, acc[0][b], acc[1][b], acc[0][b + 1], acc[1][b + 1], bias);
        return;
    }
    for (int p = 0; p < P; p++)
        for (int b = 0; b < B; b++)
            store4(y + b * yStride + 4 * p, acc[p][b], bias ? bias + 4 * p : NULL);
}

// y[b, r] = dot(w[r], x[b]) (+ bias[r]) for rows [rowStart, rowEnd) (multiples of 4) and activation rows [0, batch);
// k a multiple of 8; strides in elements.
__attribute__((visibility("default"))) void finetune_bf16_matmul(const uint16_t* w, int k, int rowStart, int rowEnd,
    const uint16_t* x, int xStride, int batch, float* y, int yStride, const float* bias)
{
    int r = rowStart;
    for (; r + 8 <= rowEnd; r += 8)
    {
        const uint16_t* panels = w + (ptrdiff_t)r * k;
        const float* br = bias ? bias + r : NULL;
        int b = 0;
        for (; b + 8 <= batch; b += 8)
            block(panels, k, x + (ptrdiff_t)b * xStride, xStride, y + (ptrdiff_t)b * yStride + r, yStride, br, 2, 8);
        for (; b + 4 <= batch; b += 4)
            block(panels, k, x + (ptrdiff_t)b * xStride, xStride, y + (ptrdiff_t)b * yStride + r, yStride, br, 2, 4);
        for (; b < batch; b++)
            block(panels, k, x + (ptrdiff_t)b * xStride, xStride, y + (ptrdiff_t)b * yStride + r, yStride, br, 2, 1);
    }
    for (; r < rowEnd; r += 4)
    {
        const uint16_t* panels = w + (ptrdiff_t)r * k;
        const float* br = bias ? bias + r : NULL;
        int b = 0;
        for (; b + 16 <= batch; b += 16)
            block(panels, k, x + (ptrdiff_t)b * xStride, xStride, y + (ptrdiff_t)b * yStride + r, yStride, br, 1, 16);
        for (; b < batch; b++)
            block(panels, k, x + (ptrdiff_t)b * xStride, xStride, y + (ptrdiff_t)b * yStride + r, yStride, br, 1, 1);
    }
}
