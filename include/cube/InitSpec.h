/* Parameter initialiser specs, the `init` attribute of cube.param:
 *   "zeros" | "ones" | "constant(value=V)" | "normal(std=S)" | "normal(mean=M,std=S)"
 *   | "uniform(low=L,high=H)" | "kaiming_uniform(a=A)"
 * kaiming_uniform is PyTorch's/peft's: bound = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2)),
 * fan_in = the product of all dims but the first (PyTorch's fan_in). The RNG that draws from them is
 * documented in cube/Init.h. */
#ifndef CUBE_INITSPEC_H
#define CUBE_INITSPEC_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  CUBE_INIT_ZEROS,
  CUBE_INIT_ONES,
  CUBE_INIT_CONSTANT,
  CUBE_INIT_NORMAL,
  CUBE_INIT_UNIFORM,
  CUBE_INIT_KAIMING_UNIFORM,
} CubeInitKind;

typedef struct {
  CubeInitKind kind;
  double value; /* constant */
  double mean, std; /* normal */
  double low, high; /* uniform */
  double a; /* kaiming_uniform */
} CubeInitSpec;

/* Parses `text` (length `len`). On failure returns false and writes a message naming what was expected
 * into err. */
bool cubeInitSpecParse(const char *text, size_t len, CubeInitSpec *out, char *err, size_t errSize);

#ifdef __cplusplus
}
#endif
#endif
