/* Small pieces the codegen passes share: the target name, finding @forward, checking an NVPTX chip before
 * MLIR sees it (LLVM aborts the process on a chip without the PTX version it needs), finding CUDA's
 * libdevice, and writing an artifact file atomically (temporary file + rename). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cube/Conversion.h"
#include "cube/Ops.h"
#include "cube/Rewrite.h"

bool cubeParseTarget(const char *s, CubeTarget *t, char *err, size_t errSize) {
  if (s && !strcmp(s, "cpu")) return *t = CUBE_TARGET_CPU, true;
  if (s && !strcmp(s, "cuda")) return *t = CUBE_TARGET_CUDA, true;
  snprintf(err, errSize, "unknown target '%s' (expected cpu or cuda)", s ? s : "");
  return false;
}

bool cubeIsKernelFunc(MlirOperation op) {
  return cubeOpNameIs(op, "func.func") && cubeHasAttr(op, CUBE_ATTR_KERNEL);
}

MlirOperation cubeFindForward(MlirOperation module, char *err, size_t errSize) {
  MlirOperation named = cubeLookupFunc(module, CUBE_STR("forward")), only = {NULL};
  MlirBlock body;
  if (!mlirOperationIsNull(named) && cubeFuncEntryBlock(named, &body)) return named;
  int count = 0;
  MlirBlock mb = cubeModuleBody(module);
  for (MlirOperation o = mlirBlockIsNull(mb) ? (MlirOperation){NULL} : mlirBlockGetFirstOperation(mb);
       !mlirOperationIsNull(o); o = mlirOperationGetNextInBlock(o)) {
    if (!cubeFuncEntryBlock(o, &body) || cubeIsKernelFunc(o) || cubeIsOutlinedFunc(o)) continue;
    only = o;
    count++;
  }
  if (count == 1) return only;
  snprintf(err, errSize, count ? "the module has %d functions and none is named @forward" :
           "the module has no @forward function (with a body) to compile", count);
  return (MlirOperation){NULL};
}

MlirOperation cubeFindProgram(MlirOperation module, const char *func, char *err, size_t errSize) {
  if (!func || !*func || !strcmp(func, "forward")) return cubeFindForward(module, err, errSize);
  MlirOperation f = cubeLookupFunc(module, mlirStringRefCreateFromCString(func));
  MlirBlock body;
  if (!mlirOperationIsNull(f) && cubeFuncEntryBlock(f, &body) && !cubeIsKernelFunc(f)) return f;
  snprintf(err, errSize, "the module has no @%s function (with a body) to compile%s", func,
           !strcmp(func, "train_step") ? " (run cube-autodiff first)" :
           !strcmp(func, "grad_step") ? " (run cube-autodiff{optimizer=none} first)" : "");
  return (MlirOperation){NULL};
}

/* ---- chips ----------------------------------------------------------------------------------------------- */

typedef struct {
  const char *chip;
  int minPtx; /* PTX ISA version * 10 (LLVM's NVPTX.td) */
} Chip;

static const Chip kChips[] = {
    {"sm_50", 40},  {"sm_52", 40},   {"sm_53", 42},  {"sm_60", 50},   {"sm_61", 50},  {"sm_62", 50},
    {"sm_70", 60},  {"sm_72", 61},   {"sm_75", 63},  {"sm_80", 70},   {"sm_86", 71},  {"sm_87", 74},
    {"sm_89", 78},  {"sm_90", 78},   {"sm_90a", 80}, {"sm_100", 86},  {"sm_100a", 86}, {"sm_101", 86},
    {"sm_101a", 86}, {"sm_120", 87}, {"sm_120a", 87},
};

bool cubeCudaChipCheck(const char *chip, int *ptx, char *err, size_t errSize) {
  for (size_t i = 0; i < sizeof kChips / sizeof kChips[0]; ++i) {
    if (chip && !strcmp(chip, kChips[i].chip)) {
      *ptx = kChips[i].minPtx > 80 ? kChips[i].minPtx : 80;
      return true;
    }
  }
  size_t len = (size_t)snprintf(err, errSize, "unknown CUDA chip '%s' (known:", chip ? chip : "");
  for (size_t i = 0; i < sizeof kChips / sizeof kChips[0] && len < errSize; ++i)
    len += (size_t)snprintf(err + len, errSize - len, " %s", kChips[i].chip);
  if (len < errSize) snprintf(err + len, errSize - len, ")");
  return false;
}

static bool hasLibdevice(const char *dir) {
  char p[4096];
  snprintf(p, sizeof p, "%s/nvvm/libdevice/libdevice.10.bc", dir);
  return access(p, R_OK) == 0;
}

const char *cubeCudaToolkit(const char *hint, char *buf, size_t n) {
  const char *cands[] = {hint && *hint ? hint : NULL, getenv("CUDA_HOME"), getenv("CUDA_PATH"), "/usr/local/cuda",
                         "/usr/lib/cuda"};
  for (size_t i = 0; i < sizeof cands / sizeof cands[0]; ++i) {
    if (!cands[i] || !*cands[i]) continue;
    if (hasLibdevice(cands[i])) {
      snprintf(buf, n, "%s", cands[i]);
      return buf;
    }
    if (i == 0) return NULL; /* an explicit path that lacks libdevice is not silently replaced */
  }
  return NULL;
}

/* ---- files ----------------------------------------------------------------------------------------------- */

bool cubeWriteFileAtomic(const char *dir, const char *name, const void *data, size_t len, char *err, size_t errSize) {
  char path[4096], tmp[4200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  snprintf(tmp, sizeof tmp, "%s/.%s.tmp.%d", dir, name, (int)getpid());
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    snprintf(err, errSize, "cannot write '%s': %s", path, strerror(errno));
    return false;
  }
  bool ok = fwrite(data, 1, len, f) == len;
  ok = (fclose(f) == 0) && ok;
  if (ok && rename(tmp, path) != 0) ok = false;
  if (!ok) {
    snprintf(err, errSize, "cannot write '%s': %s", path, strerror(errno));
    remove(tmp);
  }
  return ok;
}

bool cubeLaunchListAdd(CubeLaunchList *l, const CubeLaunch *x) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 32;
    CubeLaunch *v = realloc(l->v, cap * sizeof *v);
    if (!v) return false;
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = *x;
  return true;
}

void cubeLaunchListFree(CubeLaunchList *l) {
  for (size_t i = 0; i < l->n; ++i) free(l->v[i].args);
  free(l->v);
  memset(l, 0, sizeof *l);
}
