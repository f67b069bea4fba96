/* The CPU backend: the arena is one host allocation, kernels.so is dlopen'ed and every kernel a `call` step
 * names is looked up at load (a missing file or symbol is an error naming it, before anything runs).
 * Steps run in plan order: `call` with bare pointers arena + buffer.offset + arg.offset (the kernel ABI of
 * docs/plan-format.md: `void NAME(void *arg0, ...)`), `copy` with memmove, `gemm` with the reference loop
 * of Gemm.c. A call goes through a cast to the exact arity (up to CUBE_CPU_MAX_ARGS pointers), so no
 * function is ever called through a type that differs from its definition's. */
#include "cube/Runtime.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CUBE_CPU_MAX_ARGS 32

typedef void (*KernelFn)(void);

typedef struct {
  unsigned char *arena;
  void *lib;
  KernelFn *fns; /* per step; NULL for non-call steps */
} Cpu;

#define CUBE_P1 p[0]
#define CUBE_P2 CUBE_P1, p[1]
#define CUBE_P3 CUBE_P2, p[2]
#define CUBE_P4 CUBE_P3, p[3]
#define CUBE_P5 CUBE_P4, p[4]
#define CUBE_P6 CUBE_P5, p[5]
#define CUBE_P7 CUBE_P6, p[6]
#define CUBE_P8 CUBE_P7, p[7]
#define CUBE_P9 CUBE_P8, p[8]
#define CUBE_P10 CUBE_P9, p[9]
#define CUBE_P11 CUBE_P10, p[10]
#define CUBE_P12 CUBE_P11, p[11]
#define CUBE_P13 CUBE_P12, p[12]
#define CUBE_P14 CUBE_P13, p[13]
#define CUBE_P15 CUBE_P14, p[14]
#define CUBE_P16 CUBE_P15, p[15]
#define CUBE_P17 CUBE_P16, p[16]
#define CUBE_P18 CUBE_P17, p[17]
#define CUBE_P19 CUBE_P18, p[18]
#define CUBE_P20 CUBE_P19, p[19]
#define CUBE_P21 CUBE_P20, p[20]
#define CUBE_P22 CUBE_P21, p[21]
#define CUBE_P23 CUBE_P22, p[22]
#define CUBE_P24 CUBE_P23, p[23]
#define CUBE_P25 CUBE_P24, p[24]
#define CUBE_P26 CUBE_P25, p[25]
#define CUBE_P27 CUBE_P26, p[26]
#define CUBE_P28 CUBE_P27, p[27]
#define CUBE_P29 CUBE_P28, p[28]
#define CUBE_P30 CUBE_P29, p[29]
#define CUBE_P31 CUBE_P30, p[30]
#define CUBE_P32 CUBE_P31, p[31]

#define CUBE_V1 void *
#define CUBE_V2 CUBE_V1, void *
#define CUBE_V3 CUBE_V2, void *
#define CUBE_V4 CUBE_V3, void *
#define CUBE_V5 CUBE_V4, void *
#define CUBE_V6 CUBE_V5, void *
#define CUBE_V7 CUBE_V6, void *
#define CUBE_V8 CUBE_V7, void *
#define CUBE_V9 CUBE_V8, void *
#define CUBE_V10 CUBE_V9, void *
#define CUBE_V11 CUBE_V10, void *
#define CUBE_V12 CUBE_V11, void *
#define CUBE_V13 CUBE_V12, void *
#define CUBE_V14 CUBE_V13, void *
#define CUBE_V15 CUBE_V14, void *
#define CUBE_V16 CUBE_V15, void *
#define CUBE_V17 CUBE_V16, void *
#define CUBE_V18 CUBE_V17, void *
#define CUBE_V19 CUBE_V18, void *
#define CUBE_V20 CUBE_V19, void *
#define CUBE_V21 CUBE_V20, void *
#define CUBE_V22 CUBE_V21, void *
#define CUBE_V23 CUBE_V22, void *
#define CUBE_V24 CUBE_V23, void *
#define CUBE_V25 CUBE_V24, void *
#define CUBE_V26 CUBE_V25, void *
#define CUBE_V27 CUBE_V26, void *
#define CUBE_V28 CUBE_V27, void *
#define CUBE_V29 CUBE_V28, void *
#define CUBE_V30 CUBE_V29, void *
#define CUBE_V31 CUBE_V30, void *
#define CUBE_V32 CUBE_V31, void *

static void callKernel(KernelFn fn, void **p, size_t n) {
  switch (n) {
  case 0: fn(); break;
  case 1: ((void (*)(CUBE_V1))fn)(CUBE_P1); break;
  case 2: ((void (*)(CUBE_V2))fn)(CUBE_P2); break;
  case 3: ((void (*)(CUBE_V3))fn)(CUBE_P3); break;
  case 4: ((void (*)(CUBE_V4))fn)(CUBE_P4); break;
  case 5: ((void (*)(CUBE_V5))fn)(CUBE_P5); break;
  case 6: ((void (*)(CUBE_V6))fn)(CUBE_P6); break;
  case 7: ((void (*)(CUBE_V7))fn)(CUBE_P7); break;
  case 8: ((void (*)(CUBE_V8))fn)(CUBE_P8); break;
  case 9: ((void (*)(CUBE_V9))fn)(CUBE_P9); break;
  case 10: ((void (*)(CUBE_V10))fn)(CUBE_P10); break;
  case 11: ((void (*)(CUBE_V11))fn)(CUBE_P11); break;
  case 12: ((void (*)(CUBE_V12))fn)(CUBE_P12); break;
  case 13: ((void (*)(CUBE_V13))fn)(CUBE_P13); break;
  case 14: ((void (*)(CUBE_V14))fn)(CUBE_P14); break;
  case 15: ((void (*)(CUBE_V15))fn)(CUBE_P15); break;
  case 16: ((void (*)(CUBE_V16))fn)(CUBE_P16); break;
  case 17: ((void (*)(CUBE_V17))fn)(CUBE_P17); break;
  case 18: ((void (*)(CUBE_V18))fn)(CUBE_P18); break;
  case 19: ((void (*)(CUBE_V19))fn)(CUBE_P19); break;
  case 20: ((void (*)(CUBE_V20))fn)(CUBE_P20); break;
  case 21: ((void (*)(CUBE_V21))fn)(CUBE_P21); break;
  case 22: ((void (*)(CUBE_V22))fn)(CUBE_P22); break;
  case 23: ((void (*)(CUBE_V23))fn)(CUBE_P23); break;
  case 24: ((void (*)(CUBE_V24))fn)(CUBE_P24); break;
  case 25: ((void (*)(CUBE_V25))fn)(CUBE_P25); break;
  case 26: ((void (*)(CUBE_V26))fn)(CUBE_P26); break;
  case 27: ((void (*)(CUBE_V27))fn)(CUBE_P27); break;
  case 28: ((void (*)(CUBE_V28))fn)(CUBE_P28); break;
  case 29: ((void (*)(CUBE_V29))fn)(CUBE_P29); break;
  case 30: ((void (*)(CUBE_V30))fn)(CUBE_P30); break;
  case 31: ((void (*)(CUBE_V31))fn)(CUBE_P31); break;
  case 32: ((void (*)(CUBE_V32))fn)(CUBE_P32); break;
  }
}

static void *at(Cpu *c, const CubePlan *plan, const CubePlanRef *r) {
  return c->arena + plan->buffers[r->buffer].offset + r->offset;
}

static bool cpuWrite(CubeBackend *be, uint64_t offset, const void *src, uint64_t bytes, char *err, size_t errSize) {
  memcpy(((Cpu *)be->impl)->arena + offset, src, bytes);
  return true;
}

static bool cpuRead(CubeBackend *be, uint64_t offset, void *dst, uint64_t bytes, char *err, size_t errSize) {
  memcpy(dst, ((Cpu *)be->impl)->arena + offset, bytes);
  return true;
}

static bool cpuRun(CubeBackend *be, size_t first, size_t end, char *err, size_t errSize) {
  Cpu *c = be->impl;
  const CubePlan *plan = be->plan;
  void *ptrs[CUBE_CPU_MAX_ARGS];
  for (size_t i = first; i < end && i < plan->nSteps; ++i) {
    const CubePlanStep *s = &plan->steps[i];
    switch (s->op) {
    case CUBE_STEP_CALL:
      for (size_t j = 0; j < s->nArgs; ++j) ptrs[j] = at(c, plan, &s->args[j].ref);
      callKernel(c->fns[i], ptrs, s->nArgs);
      break;
    case CUBE_STEP_COPY:
      memmove(at(c, plan, &s->dst), at(c, plan, &s->src), s->bytes);
      break;
    case CUBE_STEP_GEMM:
      cubeGemmCpu(s, at(c, plan, &s->a), at(c, plan, &s->b), at(c, plan, &s->c), s->hasBias ? at(c, plan, &s->bias) : NULL);
      break;
    case CUBE_STEP_ALL_REDUCE: /* blocking: the wait step has nothing left to do */
      for (size_t j = 0; be->comm && j < s->nBuffers; ++j) {
        const CubePlanBuffer *b = &plan->buffers[s->buffers[j]];
        uint64_t count = b->bytes / (b->dtype == CUBE_DT_F32 ? 4 : 2);
        if (!cubeCommAllReduceHost(be->comm, c->arena + b->offset, count, b->dtype, s->average, err, errSize))
          return false;
      }
      break;
    case CUBE_STEP_WAIT:
      break;
    case CUBE_STEP_LAUNCH:
      snprintf(err, errSize, "%s: steps[%zu]: a launch step cannot run on the CPU", plan->path, i);
      return false;
    }
  }
  return true;
}

static bool cpuSync(CubeBackend *be, char *err, size_t errSize) { return true; }

static void cpuClose(CubeBackend *be) {
  Cpu *c = be->impl;
  if (c) {
    if (c->lib) dlclose(c->lib);
    free(c->fns);
    free(c->arena);
    free(c);
  }
  free(be);
}

static const CubeBackendOps kCpuOps = {"cpu", cpuWrite, cpuRead, cpuRun, cpuSync, cpuClose, NULL};

void *cubeBackendCpuArena(CubeBackend *be) { return be && be->ops == &kCpuOps ? ((Cpu *)be->impl)->arena : NULL; }

/* dlopen's the kernels file and resolves every call step's kernel. */
static bool loadKernels(Cpu *c, const CubePlan *plan, char *err, size_t errSize) {
  bool any = false;
  for (size_t i = 0; i < plan->nSteps; ++i) any |= plan->steps[i].op == CUBE_STEP_CALL;
  if (!any) return true;
  char *path = cubePlanKernelsPath(plan);
  struct stat st;
  if (stat(path, &st) != 0) {
    snprintf(err, errSize, "%s: cannot open the kernels file: %s (named by %s's kernels_file)", path, strerror(errno),
             plan->path);
    free(path);
    return false;
  }
  /* dlopen needs a slash to take a path rather than search the library path. */
  char *full = malloc(strlen(path) + 3);
  sprintf(full, "%s%s", strchr(path, '/') ? "" : "./", path);
  c->lib = dlopen(full, RTLD_NOW | RTLD_LOCAL);
  free(full);
  if (!c->lib) {
    const char *why = dlerror();
    snprintf(err, errSize, "%s: cannot load the kernels file: %s", path, why ? why : "unknown error");
    free(path);
    return false;
  }
  for (size_t i = 0; i < plan->nSteps; ++i) {
    const CubePlanStep *s = &plan->steps[i];
    if (s->op != CUBE_STEP_CALL) continue;
    if (s->nArgs > CUBE_CPU_MAX_ARGS) {
      snprintf(err, errSize, "%s: steps[%zu]: kernel '%s' takes %zu arguments; the CPU backend passes at most %d",
               plan->path, i, s->kernel, s->nArgs, CUBE_CPU_MAX_ARGS);
      free(path);
      return false;
    }
    dlerror();
    void *sym = dlsym(c->lib, s->kernel);
    if (!sym) {
      snprintf(err, errSize, "%s: kernel '%s' (steps[%zu] of %s) is not in the kernels file", path, s->kernel, i,
               plan->path);
      free(path);
      return false;
    }
    memcpy(&c->fns[i], &sym, sizeof sym);
  }
  free(path);
  return true;
}

bool cubeBackendOpenCpu(const CubePlan *plan, CubeComm *comm, CubeBackend **out, char *err, size_t errSize) {
  *out = NULL;
  CubeBackend *be = calloc(1, sizeof *be);
  Cpu *c = calloc(1, sizeof *c);
  be->ops = &kCpuOps;
  be->plan = plan;
  be->comm = comm;
  be->impl = c;
  c->fns = calloc(plan->nSteps + 1, sizeof *c->fns);
  c->arena = cubeArenaAllocHost(plan->arenaBytes, plan->alignment, err, errSize);
  if (!c->arena || !loadKernels(c, plan, err, errSize)) {
    cpuClose(be);
    return false;
  }
  *out = be;
  return true;
}
