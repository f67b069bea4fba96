/* The CPU reference GEMM of a `gemm` step (docs/plan-format.md): row-major
 *   C[b] = alpha * op(A[b]) op(B[b]) + beta * C[b] (+ bias[n])
 * with op(A) [m, k] (stored [k, m] when trans_a), op(B) [k, n] (stored [n, k] when trans_b), batches
 * stride_* elements apart, elements f32, bf16 or f16, accumulation in fp32. beta == 0 does not read C (as
 * BLAS: NaNs in an uninitialised C do not leak). The compiler emits gemm steps for cuda only; this loop
 * lets a plan with gemm steps run on the CPU too and is the reference the cuBLASLt path is tested against. */
#include "cube/Init.h"
#include "cube/Runtime.h"

#include <stdlib.h>
#include <string.h>

static float load(const void *p, int64_t i, CubeDType t) {
  switch (t) {
  case CUBE_DT_BF16: return cubeBF16ToF32(((const uint16_t *)p)[i]);
  case CUBE_DT_F16: return cubeF16ToF32(((const uint16_t *)p)[i]);
  default: return ((const float *)p)[i];
  }
}

static void store(void *p, int64_t i, CubeDType t, float v) {
  switch (t) {
  case CUBE_DT_BF16: ((uint16_t *)p)[i] = cubeF32ToBF16(v); break;
  case CUBE_DT_F16: ((uint16_t *)p)[i] = cubeF32ToF16(v); break;
  default: ((float *)p)[i] = v; break;
  }
}

void cubeGemmCpu(const CubePlanStep *s, void *a, void *b, void *c, const void *bias) {
  const int64_t m = s->m, n = s->n, k = s->k;
  const CubeDType t = s->dtype;
  const float alpha = (float)s->alpha, beta = (float)s->beta;
  float *acc = malloc(sizeof(float) * (size_t)n);
  float *arow = malloc(sizeof(float) * (size_t)k);
  for (int64_t bt = 0; bt < s->batch; ++bt) {
    const int64_t oa = bt * s->strideA, ob = bt * s->strideB, oc = bt * s->strideC;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t p = 0; p < k; ++p) arow[p] = load(a, oa + (s->transA ? p * m + i : i * k + p), t);
      if (s->transB) { /* B stored [n, k]: a dot product per output */
        for (int64_t j = 0; j < n; ++j) {
          float sum = 0.0f;
          for (int64_t p = 0; p < k; ++p) sum += arow[p] * load(b, ob + j * k + p, t);
          acc[j] = sum;
        }
      } else { /* B stored [k, n]: rows of B scaled and added */
        memset(acc, 0, sizeof(float) * (size_t)n);
        for (int64_t p = 0; p < k; ++p) {
          const float x = arow[p];
          for (int64_t j = 0; j < n; ++j) acc[j] += x * load(b, ob + p * n + j, t);
        }
      }
      for (int64_t j = 0; j < n; ++j) {
        float v = alpha * acc[j];
        if (beta != 0.0f) v += beta * load(c, oc + i * n + j, t);
        if (bias) v += load(bias, j, t);
        store(c, oc + i * n + j, t, v);
      }
    }
  }
  free(acc);
  free(arow);
}
