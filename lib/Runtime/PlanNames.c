/* Small lookups on a parsed plan and the names plan.json uses for dtypes, buffer kinds and step ops
 * (docs/plan-format.md), shared by the parser, the checks, the backends and the messages. */
#include "cube/Plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kDTypeNames[CUBE_DT_COUNT] = {
    [CUBE_DT_F32] = "f32", [CUBE_DT_F16] = "f16", [CUBE_DT_BF16] = "bf16", [CUBE_DT_F64] = "f64",
    [CUBE_DT_I64] = "i64", [CUBE_DT_I32] = "i32", [CUBE_DT_I16] = "i16",   [CUBE_DT_I8] = "i8",
    [CUBE_DT_U8] = "u8",   [CUBE_DT_BOOL] = "i1",
};

const char *cubePlanDTypeName(CubeDType t) { return t < CUBE_DT_COUNT ? kDTypeNames[t] : "?"; }

bool cubePlanDTypeParse(const char *name, CubeDType *out) {
  for (int i = 0; i < CUBE_DT_COUNT; ++i)
    if (!strcmp(kDTypeNames[i], name)) {
      *out = (CubeDType)i;
      return true;
    }
  return false;
}

const char *cubeBufferKindName(CubeBufferKind k) {
  static const char *const names[CUBE_BUF_KIND_COUNT] = {"input",           "output",     "param",  "grad",
                                                         "optimizer-state", "activation", "scratch"};
  return k < CUBE_BUF_KIND_COUNT ? names[k] : "?";
}

const char *cubeStepOpName(CubeStepOp op) {
  switch (op) {
  case CUBE_STEP_CALL: return "call";
  case CUBE_STEP_LAUNCH: return "launch";
  case CUBE_STEP_GEMM: return "gemm";
  case CUBE_STEP_COPY: return "copy";
  case CUBE_STEP_ALL_REDUCE: return "all_reduce";
  case CUBE_STEP_WAIT: return "wait";
  }
  return "?";
}

int cubePlanFindBuffer(const CubePlan *p, const char *name) {
  for (size_t i = 0; i < p->nBuffers; ++i)
    if (p->buffers[i].name && !strcmp(p->buffers[i].name, name)) return (int)i;
  return -1;
}

const CubePlanIO *cubePlanFindInput(const CubePlan *p, const char *name) {
  for (size_t i = 0; i < p->nInputs; ++i)
    if (!strcmp(p->inputs[i].name, name)) return &p->inputs[i];
  return NULL;
}

const CubePlanIO *cubePlanFindOutput(const CubePlan *p, const char *name) {
  for (size_t i = 0; i < p->nOutputs; ++i)
    if (!strcmp(p->outputs[i].name, name)) return &p->outputs[i];
  return NULL;
}

const CubePlanParam *cubePlanFindParam(const CubePlan *p, const char *name) {
  for (size_t i = 0; i < p->nParams; ++i)
    if (p->params[i].name && !strcmp(p->params[i].name, name)) return &p->params[i];
  return NULL;
}

const CubePlanState *cubePlanFindState(const CubePlan *p, const char *name) {
  for (size_t i = 0; i < p->nStates; ++i)
    if (p->states[i].name && !strcmp(p->states[i].name, name)) return &p->states[i];
  return NULL;
}

double cubePlanLoraScaling(const CubePlan *p) {
  if (!p->lora.present || p->lora.r <= 0) return 0.0;
  return p->lora.useRslora ? p->lora.alpha / sqrt((double)p->lora.r) : p->lora.alpha / (double)p->lora.r;
}

char *cubePlanStepKernelsPath(const CubePlan *p, const CubePlanStep *s) {
  if (!s->kernelsFile) return cubePlanKernelsPath(p);
  size_t n = strlen(p->dir) + strlen(s->kernelsFile) + 2;
  char *out = malloc(n);
  if (out) snprintf(out, n, "%s/%s", p->dir, s->kernelsFile);
  return out;
}

char *cubePlanKernelsPath(const CubePlan *p) {
  const char *file = p->kernelsFile ? p->kernelsFile : (strcmp(p->target, "cuda") ? "kernels.so" : "kernels.ptx");
  size_t n = strlen(p->dir) + strlen(file) + 2;
  char *out = malloc(n);
  if (file[0] == '/')
    snprintf(out, n, "%s", file);
  else
    snprintf(out, n, "%s/%s", p->dir, file);
  return out;
}

uint64_t cubeShapeNumel(const int64_t *shape, int rank) {
  uint64_t n = 1;
  for (int i = 0; i < rank; ++i) n *= (uint64_t)shape[i];
  return n;
}

const char *cubeShapeString(const int64_t *shape, int rank, char *buf, size_t size) {
  size_t used = (size_t)snprintf(buf, size, "[");
  for (int i = 0; i < rank && used < size; ++i)
    used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
  if (used < size) snprintf(buf + used, size - used, "]");
  return buf;
}
