/* Filling the parameters: from their init specs (cube/Init.h's seeded per-parameter RNG streams, drawn in
 * fp32 and converted to the parameter's dtype) or from a safetensors file by HF name. Loading checks the
 * whole file against the plan before it writes anything: a tensor of the wrong shape or of a non-float
 * dtype is an error; parameters missing from the file and tensors the plan does not know are listed
 * (warnings, or errors with --strict). F32, BF16 and F16 tensors are converted to the parameter's dtype. */
#include "cube/Init.h"
#include "cube/Runtime.h"
#include "cube/Safetensors.h"

#include <stdlib.h>
#include <string.h>

bool cubeConvertFromF32(const float *src, size_t n, CubeDType dtype, void *dst) {
  switch (dtype) {
  case CUBE_DT_F32: memcpy(dst, src, n * sizeof(float)); return true;
  case CUBE_DT_BF16: for (size_t i = 0; i < n; ++i) ((uint16_t *)dst)[i] = cubeF32ToBF16(src[i]); return true;
  case CUBE_DT_F16: for (size_t i = 0; i < n; ++i) ((uint16_t *)dst)[i] = cubeF32ToF16(src[i]); return true;
  case CUBE_DT_F64: for (size_t i = 0; i < n; ++i) ((double *)dst)[i] = src[i]; return true;
  default: return false;
  }
}

bool cubeConvertToF32(const void *src, size_t n, CubeDType dtype, float *dst) {
  switch (dtype) {
  case CUBE_DT_F32: memcpy(dst, src, n * sizeof(float)); return true;
  case CUBE_DT_BF16: for (size_t i = 0; i < n; ++i) dst[i] = cubeBF16ToF32(((const uint16_t *)src)[i]); return true;
  case CUBE_DT_F16: for (size_t i = 0; i < n; ++i) dst[i] = cubeF16ToF32(((const uint16_t *)src)[i]); return true;
  case CUBE_DT_F64: for (size_t i = 0; i < n; ++i) dst[i] = (float)((const double *)src)[i]; return true;
  default: return false;
  }
}

bool cubeFillFromInit(CubeBackend *be, int buffer, const CubeInitSpec *init, const int64_t *shape, int rank,
                      CubeDType dtype, uint64_t seed, const char *name, const char *what, char *err, size_t errSize) {
  const CubePlanBuffer *b = &be->plan->buffers[buffer];
  size_t n = (size_t)cubeShapeNumel(shape, rank);
  float *f = malloc(n * sizeof(float) + 1);
  void *bytes = malloc(b->bytes + 1);
  bool ok = f && bytes;
  if (ok) {
    cubeInitFill(init, shape, rank, seed, name, f);
    ok = cubeConvertFromF32(f, n, dtype, bytes) && cubeBackendWrite(be, b->offset, bytes, b->bytes, err, errSize);
  } else {
    snprintf(err, errSize, "out of memory initialising %s '%s'", what, name);
  }
  free(f);
  free(bytes);
  return ok;
}

bool cubeParamsInit(const CubePlan *plan, CubeBackend *be, uint64_t seed, char *err, size_t errSize) {
  for (size_t i = 0; i < plan->nParams; ++i) {
    const CubePlanParam *q = &plan->params[i];
    if (!cubeFillFromInit(be, q->buffer, &q->init, q->shape, q->rank, q->dtype, seed, q->name, "parameter", err,
                          errSize))
      return false;
  }
  return true;
}

static bool isFloat(CubeDType t) {
  return t == CUBE_DT_F32 || t == CUBE_DT_BF16 || t == CUBE_DT_F16 || t == CUBE_DT_F64;
}

/* "a, b, c and 4 more" of up to 8 names into buf. */
static void nameList(const char **names, size_t n, char *buf, size_t size) {
  size_t used = 0;
  buf[0] = 0;
  for (size_t i = 0; i < n && i < 8 && used < size; ++i)
    used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", names[i]);
  if (n > 8 && used < size) snprintf(buf + used, size - used, " and %zu more", n - 8);
}

/* Checks every tensor against the plan; fills missing[] and unexpected[]. */
static bool checkFile(const CubePlan *plan, const CubeSafetensors *st, const char **missing, size_t *nMissing,
                      const char **unexpected, size_t *nUnexpected, char *err, size_t errSize) {
  char s1[128], s2[128];
  *nMissing = *nUnexpected = 0;
  for (size_t i = 0; i < plan->nParams; ++i) {
    const CubePlanParam *q = &plan->params[i];
    const CubeTensorInfo *t = cubeSafetensorsFind(st, q->name);
    if (!t) {
      missing[(*nMissing)++] = q->name;
      continue;
    }
    if (t->rank != q->rank || memcmp(t->shape, q->shape, sizeof(int64_t) * (size_t)q->rank)) {
      snprintf(err, errSize, "%s: tensor '%s' has shape %s, but the plan's parameter has shape %s", st->path, q->name,
               cubeShapeString(t->shape, t->rank, s1, sizeof s1), cubeShapeString(q->shape, q->rank, s2, sizeof s2));
      return false;
    }
    if (!isFloat(t->dtype)) {
      snprintf(err, errSize, "%s: tensor '%s' has dtype %s; parameters load from F32, BF16, F16 or F64 tensors",
               st->path, q->name, cubeDTypeName(t->dtype));
      return false;
    }
  }
  for (size_t i = 0; i < st->count; ++i)
    if (!cubePlanFindParam(plan, st->tensors[i].name)) unexpected[(*nUnexpected)++] = st->tensors[i].name;
  return true;
}

static bool loadOne(const CubePlanParam *q, const CubePlan *plan, const CubeSafetensors *st, CubeBackend *be,
                    char *err, size_t errSize) {
  const CubeTensorInfo *t = cubeSafetensorsFind(st, q->name);
  const CubePlanBuffer *b = &plan->buffers[q->buffer];
  const void *src = cubeSafetensorsData(st, t);
  if (t->dtype == q->dtype) return cubeBackendWrite(be, b->offset, src, b->bytes, err, errSize);
  size_t n = (size_t)cubeShapeNumel(q->shape, q->rank);
  float *f = malloc(n * sizeof(float) + 1);
  void *bytes = malloc(b->bytes + 1);
  bool ok = f && bytes && cubeConvertToF32(src, n, t->dtype, f) && cubeConvertFromF32(f, n, q->dtype, bytes);
  if (!ok)
    snprintf(err, errSize, "%s: cannot convert tensor '%s' from %s to %s", st->path, q->name, cubeDTypeName(t->dtype),
             cubePlanDTypeName(q->dtype));
  ok = ok && cubeBackendWrite(be, b->offset, bytes, b->bytes, err, errSize);
  free(f);
  free(bytes);
  return ok;
}

bool cubeParamsLoadWeights(const CubePlan *plan, CubeBackend *be, const char *path, bool strict, FILE *warn,
                           CubeWeightsReport *report, char *err, size_t errSize) {
  CubeWeightsReport r = {0, 0, 0};
  CubeSafetensors st;
  if (!cubeSafetensorsOpen(path, &st, err, errSize)) return false;
  const char **missing = calloc(plan->nParams + 1, sizeof *missing);
  const char **unexpected = calloc(st.count + 1, sizeof *unexpected);
  char list[1024];
  bool ok = checkFile(plan, &st, missing, &r.missing, unexpected, &r.unexpected, err, errSize);
  if (ok && strict && (r.missing || r.unexpected)) {
    nameList(r.missing ? missing : unexpected, r.missing ? r.missing : r.unexpected, list, sizeof list);
    if (r.missing)
      snprintf(err, errSize, "%s: %zu parameter%s of the plan %s not in the file (--strict): %s", path, r.missing,
               r.missing == 1 ? "" : "s", r.missing == 1 ? "is" : "are", list);
    else
      snprintf(err, errSize, "%s: %zu tensor%s in the file %s not a parameter of the plan (--strict): %s", path,
               r.unexpected, r.unexpected == 1 ? "" : "s", r.unexpected == 1 ? "is" : "are", list);
    ok = false;
  }
  for (size_t i = 0; ok && i < plan->nParams; ++i)
    if (cubeSafetensorsFind(&st, plan->params[i].name)) {
      ok = loadOne(&plan->params[i], plan, &st, be, err, errSize);
      r.loaded += ok;
    }
  if (ok && warn && r.missing) {
    nameList(missing, r.missing, list, sizeof list);
    fprintf(warn, "warning: %s: %zu parameter%s of the plan %s not in the file and keep%s %s init: %s\n", path,
            r.missing, r.missing == 1 ? "" : "s", r.missing == 1 ? "is" : "are", r.missing == 1 ? "s" : "",
            r.missing == 1 ? "its" : "their", list);
  }
  if (ok && warn && r.unexpected) {
    nameList(unexpected, r.unexpected, list, sizeof list);
    fprintf(warn, "warning: %s: %zu tensor%s in the file %s not a parameter of the plan (ignored): %s\n", path,
            r.unexpected, r.unexpected == 1 ? "" : "s", r.unexpected == 1 ? "is" : "are", list);
  }
  free(missing);
  free(unexpected);
  cubeSafetensorsClose(&st);
  if (report) *report = r;
  return ok;
}
