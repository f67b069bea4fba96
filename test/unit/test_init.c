/* Unit test of lib/Runtime/Init.c: determinism, independence of streams, the statistics of each
 * initialiser (mean/std of normal, kaiming bound as PyTorch computes it), float conversions. */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "cube/Init.h"

int main(void) {
  enum { N = 200000 };
  float *a = malloc(N * sizeof(float)), *b = malloc(N * sizeof(float));
  int64_t shape[2] = {400, 500};
  CubeInitSpec normal = {.kind = CUBE_INIT_NORMAL, .mean = 0.0, .std = 0.02};
  cubeInitFill(&normal, shape, 2, 42, "model.layers.0.mlp.up_proj.weight", a);
  cubeInitFill(&normal, shape, 2, 42, "model.layers.0.mlp.up_proj.weight", b);
  CHECK(!memcmp(a, b, N * sizeof(float))); /* same seed and name: same values */
  cubeInitFill(&normal, shape, 2, 42, "model.layers.1.mlp.up_proj.weight", b);
  CHECK(memcmp(a, b, N * sizeof(float)) != 0); /* another name: another stream */
  cubeInitFill(&normal, shape, 2, 43, "model.layers.0.mlp.up_proj.weight", b);
  CHECK(memcmp(a, b, N * sizeof(float)) != 0); /* another seed: another stream */
  double s = 0, s2 = 0;
  for (int i = 0; i < N; ++i) s += a[i], s2 += (double)a[i] * a[i];
  double mean = s / N, sd = sqrt(s2 / N - mean * mean);
  CHECK(fabs(mean) < 0.02 * 5 / sqrt((double)N)); /* 5 standard errors */
  CHECK(fabs(sd - 0.02) < 0.02 * 0.01);

  CubeInitSpec kaiming = {.kind = CUBE_INIT_KAIMING_UNIFORM, .a = sqrt(5.0)};
  int64_t loraA[2] = {8, 768};
  cubeInitFill(&kaiming, loraA, 2, 0, "q.lora_A.weight", a);
  double bound = 1.0 / sqrt(768.0); /* PyTorch: gain sqrt(2/(1+5)), std gain/sqrt(768), bound sqrt(3)*std */
  float lo = 1, hi = -1;
  for (int i = 0; i < 8 * 768; ++i) lo = fminf(lo, a[i]), hi = fmaxf(hi, a[i]);
  CHECK(lo >= -bound && hi <= bound && lo < -0.95 * bound && hi > 0.95 * bound);

  CubeInitSpec ones = {.kind = CUBE_INIT_ONES}, zeros = {.kind = CUBE_INIT_ZEROS};
  int64_t v[1] = {7};
  cubeInitFill(&ones, v, 1, 0, "n", a);
  CHECK(a[0] == 1 && a[6] == 1);
  cubeInitFill(&zeros, v, 1, 0, "n", a);
  CHECK(a[0] == 0 && a[6] == 0);
  CubeInitSpec uni = {.kind = CUBE_INIT_UNIFORM, .low = -3, .high = -2};
  cubeInitFill(&uni, shape, 2, 1, "u", a);
  lo = 0, hi = -10;
  for (int i = 0; i < N; ++i) lo = fminf(lo, a[i]), hi = fmaxf(hi, a[i]);
  CHECK(lo >= -3 && hi < -2);

  /* bf16 / fp16 conversions: exact values, round to nearest even, specials. */
  CHECK(cubeF32ToBF16(1.0f) == 0x3f80 && cubeBF16ToF32(0x3f80) == 1.0f);
  CHECK(cubeF32ToBF16(-2.0f) == 0xc000);
  CHECK(cubeF32ToBF16(1.00390625f) == 0x3f80);  /* halfway, even stays */
  CHECK(cubeF32ToBF16(1.01171875f) == 0x3f82);  /* halfway, odd rounds up */
  CHECK(isnan(cubeBF16ToF32(cubeF32ToBF16(NAN))));
  CHECK(cubeF32ToF16(1.0f) == 0x3c00 && cubeF16ToF32(0x3c00) == 1.0f);
  CHECK(cubeF32ToF16(65504.0f) == 0x7bff && cubeF32ToF16(70000.0f) == 0x7c00);
  CHECK(cubeF16ToF32(0x0001) == 0x1.0p-24f && cubeF32ToF16(0x1.0p-24f) == 0x0001);
  CHECK(cubeF32ToF16(-0.5f) == 0xb800 && cubeF16ToF32(0xb800) == -0.5f);
  CHECK(isnan(cubeF16ToF32(cubeF32ToF16(NAN))));
  for (int i = 0; i < 0x7c00; ++i) /* every finite positive fp16 round-trips */
    if (cubeF32ToF16(cubeF16ToF32((uint16_t)i)) != i) {
      CHECK(!"fp16 round trip");
      break;
    }
  free(a);
  free(b);
  return CHECK_REPORT();
}
