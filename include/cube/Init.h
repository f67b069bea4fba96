/* Parameter initialisation from a cube.param init spec (cube/InitSpec.h), with a documented RNG so that a
 * run is reproducible and any other implementation can draw the same numbers.
 *
 * RNG: each parameter gets its own stream, keyed by the run seed and the parameter's HF name, so adding
 * or removing a parameter (a LoRA adapter, say) changes no other parameter's values:
 *   key   = splitmix64(seed ^ fnv1a64(name))
 *   state = xoshiro256** seeded with four successive splitmix64 outputs from key
 *   u     = (next() >> 11) * 2^-53                      uniform in [0, 1)
 *   normal: Box-Muller, z = sqrt(-2 ln(1 - u1)) * cos(2 pi u2), one value per pair of draws
 * kaiming_uniform(a): bound = sqrt(6 / ((1 + a^2) * fan_in)), fan_in = product of all dims but the first
 * (PyTorch's kaiming_uniform_ with its default mode fan_in and leaky_relu gain). */
#ifndef CUBE_INIT_H
#define CUBE_INIT_H

#include <stddef.h>
#include <stdint.h>

#include "cube/InitSpec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fills out[0..numel) (row-major over `shape`) in fp32. */
void cubeInitFill(const CubeInitSpec *spec, const int64_t *shape, int rank, uint64_t seed, const char *name,
                  float *out);

/* fp32 <-> bf16 (round to nearest even; NaN stays NaN) and fp32 <-> fp16 conversions. */
uint16_t cubeF32ToBF16(float x);
float cubeBF16ToF32(uint16_t x);
uint16_t cubeF32ToF16(float x);
float cubeF16ToF32(uint16_t x);

#ifdef __cplusplus
}
#endif
#endif
