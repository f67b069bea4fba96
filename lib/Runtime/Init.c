/* Seeded parameter initialisation and float format conversions (see cube/Init.h for the RNG contract). */
#include "cube/Init.h"

#include <math.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static uint64_t fnv1a64(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *s; ++s) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return h;
}

typedef struct {
  uint64_t s[4];
} Xoshiro;

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next(Xoshiro *r) {
  uint64_t result = rotl(r->s[1] * 5, 7) * 9, t = r->s[1] << 17;
  r->s[2] ^= r->s[0];
  r->s[3] ^= r->s[1];
  r->s[1] ^= r->s[2];
  r->s[0] ^= r->s[3];
  r->s[2] ^= t;
  r->s[3] = rotl(r->s[3], 45);
  return result;
}

static double uniform01(Xoshiro *r) { return (double)(next(r) >> 11) * 0x1.0p-53; }

void cubeInitFill(const CubeInitSpec *spec, const int64_t *shape, int rank, uint64_t seed, const char *name,
                  float *out) {
  size_t n = 1;
  for (int i = 0; i < rank; ++i) n *= (size_t)shape[i];
  uint64_t key = seed ^ fnv1a64(name ? name : "");
  key = splitmix64(&key);
  Xoshiro r;
  for (int i = 0; i < 4; ++i) r.s[i] = splitmix64(&key);
  switch (spec->kind) {
  case CUBE_INIT_ZEROS:
    memset(out, 0, n * sizeof *out);
    break;
  case CUBE_INIT_ONES:
  case CUBE_INIT_CONSTANT: {
    float v = spec->kind == CUBE_INIT_ONES ? 1.0f : (float)spec->value;
    for (size_t i = 0; i < n; ++i) out[i] = v;
    break;
  }
  case CUBE_INIT_NORMAL:
    for (size_t i = 0; i < n; ++i) {
      double u1 = uniform01(&r), u2 = uniform01(&r);
      double z = sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586476925 * u2);
      out[i] = (float)(spec->mean + spec->std * z);
    }
    break;
  case CUBE_INIT_UNIFORM:
    for (size_t i = 0; i < n; ++i) out[i] = (float)(spec->low + (spec->high - spec->low) * uniform01(&r));
    break;
  case CUBE_INIT_KAIMING_UNIFORM: {
    double fanIn = 1;
    for (int i = 1; i < rank; ++i) fanIn *= (double)shape[i];
    double bound = sqrt(6.0 / ((1.0 + spec->a * spec->a) * (fanIn > 0 ? fanIn : 1)));
    for (size_t i = 0; i < n; ++i) out[i] = (float)(-bound + 2.0 * bound * uniform01(&r));
    break;
  }
  }
}

uint16_t cubeF32ToBF16(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

float cubeBF16ToF32(uint16_t x) {
  uint32_t u = (uint32_t)x << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

uint16_t cubeF32ToF16(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  uint32_t sign = (u >> 16) & 0x8000u, absu = u & 0x7fffffffu;
  if (absu > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);      /* NaN */
  if (absu >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);     /* overflow (incl. inf) */
  if (absu < 0x38800000u) {                                       /* subnormal or zero in fp16 */
    float a;
    memcpy(&a, &absu, 4);
    return (uint16_t)(sign | (uint32_t)lrintf(a * 16777216.0f));  /* a / 2^-24, round to nearest even */
  }
  uint32_t mant = absu & 0x7fffffu, exp = (absu >> 23) - 112;
  uint32_t h = (exp << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;
  return (uint16_t)(sign | h);
}

float cubeF16ToF32(uint16_t x) {
  uint32_t sign = (uint32_t)(x & 0x8000u) << 16, exp = (x >> 10) & 0x1fu, mant = x & 0x3ffu, u;
  if (exp == 0) {
    float f = (float)mant * 0x1.0p-24f;
    return sign ? -f : f;
  }
  if (exp == 31)
    u = sign | 0x7f800000u | (mant << 13);
  else
    u = sign | ((exp + 112) << 23) | (mant << 13);
  float f;
  memcpy(&f, &u, 4);
  return f;
}
