/* Parser of cube.param's `init` spec (grammar in cube/InitSpec.h). Shared by the verifier and the
 * runtime's initialiser, so that what the verifier accepts is exactly what the runtime can draw. */
#include "cube/InitSpec.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPECTED                                                                                   \
  "zeros, ones, constant(value=V), normal(std=S), normal(mean=M,std=S), uniform(low=L,high=H) or " \
  "kaiming_uniform(a=A)"

/* Reads `key=number` pairs of "(k=v,k=v)" into values[] for the allowed keys; each key at most once. */
static bool parseArgs(const char *p, const char *end, const char *const *keys, int nkeys,
                      double *values, bool *seen, char *err, size_t errSize) {
  if (p >= end || *p != '(' || end[-1] != ')') {
    snprintf(err, errSize, "expected '(key=value,...)' after the initialiser name");
    return false;
  }
  p++;
  end--;
  while (p < end) {
    const char *eq = memchr(p, '=', (size_t)(end - p));
    if (!eq) {
      snprintf(err, errSize, "expected 'key=value' in the argument list");
      return false;
    }
    int k = -1;
    for (int i = 0; i < nkeys; ++i)
      if ((size_t)(eq - p) == strlen(keys[i]) && strncmp(p, keys[i], (size_t)(eq - p)) == 0) k = i;
    if (k < 0) {
      snprintf(err, errSize, "unknown argument '%.*s'", (int)(eq - p), p);
      return false;
    }
    if (seen[k]) {
      snprintf(err, errSize, "argument '%s' given twice", keys[k]);
      return false;
    }
    const char *comma = memchr(eq, ',', (size_t)(end - eq));
    const char *vend = comma ? comma : end;
    char buf[64];
    size_t vlen = (size_t)(vend - eq - 1);
    if (vlen == 0 || vlen >= sizeof buf) {
      snprintf(err, errSize, "argument '%s' needs a number", keys[k]);
      return false;
    }
    memcpy(buf, eq + 1, vlen);
    buf[vlen] = 0;
    char *stop = NULL;
    double v = strtod(buf, &stop);
    if (stop == buf || *stop != 0 || !isfinite(v)) {
      snprintf(err, errSize, "argument '%s' has value '%s', expected a finite number", keys[k], buf);
      return false;
    }
    values[k] = v;
    seen[k] = true;
    p = comma ? comma + 1 : end;
  }
  return true;
}

bool cubeInitSpecParse(const char *text, size_t len, CubeInitSpec *out, char *err, size_t errSize) {
  memset(out, 0, sizeof *out);
  const char *end = text + len;
  const char *paren = memchr(text, '(', len);
  size_t nameLen = paren ? (size_t)(paren - text) : len;
#define NAME_IS(s) (nameLen == strlen(s) && strncmp(text, s, nameLen) == 0)
  if (!paren && NAME_IS("zeros")) {
    out->kind = CUBE_INIT_ZEROS;
    return true;
  }
  if (!paren && NAME_IS("ones")) {
    out->kind = CUBE_INIT_ONES;
    return true;
  }
  double v[2] = {0, 0};
  bool seen[2] = {false, false};
  if (paren && NAME_IS("constant")) {
    static const char *const keys[] = {"value"};
    if (!parseArgs(paren, end, keys, 1, v, seen, err, errSize)) return false;
    if (!seen[0]) return snprintf(err, errSize, "constant needs value=V"), false;
    out->kind = CUBE_INIT_CONSTANT;
    out->value = v[0];
    return true;
  }
  if (paren && NAME_IS("normal")) {
    static const char *const keys[] = {"mean", "std"};
    if (!parseArgs(paren, end, keys, 2, v, seen, err, errSize)) return false;
    if (!seen[1] || v[1] <= 0)
      return snprintf(err, errSize, "normal needs std=S with S > 0"), false;
    out->kind = CUBE_INIT_NORMAL;
    out->mean = v[0];
    out->std = v[1];
    return true;
  }
  if (paren && NAME_IS("uniform")) {
    static const char *const keys[] = {"low", "high"};
    if (!parseArgs(paren, end, keys, 2, v, seen, err, errSize)) return false;
    if (!seen[0] || !seen[1] || !(v[0] < v[1]))
      return snprintf(err, errSize, "uniform needs low=L,high=H with L < H"), false;
    out->kind = CUBE_INIT_UNIFORM;
    out->low = v[0];
    out->high = v[1];
    return true;
  }
  if (paren && NAME_IS("kaiming_uniform")) {
    static const char *const keys[] = {"a"};
    if (!parseArgs(paren, end, keys, 1, v, seen, err, errSize)) return false;
    if (!seen[0]) return snprintf(err, errSize, "kaiming_uniform needs a=A"), false;
    out->kind = CUBE_INIT_KAIMING_UNIFORM;
    out->a = v[0];
    return true;
  }
#undef NAME_IS
  snprintf(err, errSize, "unknown initialiser '%.*s', expected " EXPECTED, (int)(len > 60 ? 60 : len),
           text);
  return false;
}
