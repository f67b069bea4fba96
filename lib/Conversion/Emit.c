/* cube-emit{out=DIR target=cpu|cuda chip=sm_90 cuda-path= dump=false}: writes the artifact of a grouped,
 * linalg-lowered module (docs/plan-format.md): kernels.so (cpu) or kernels.ptx (cuda), final.mlir (the module
 * as it is here: @forward as steps, the kernels in linalg), then plan.json, each written atomically, the plan
 * last (an older plan.json is removed first) so that a plan never names kernels that are not there. The
 * module itself is left unchanged.
 *
 * Every option is checked before MLIR or LLVM sees it (an NVPTX chip without its PTX version aborts LLVM):
 * an unknown target or chip, a target other than the one the module was grouped for, or an output directory
 * that cannot be created or written is an error at the module, never a crash.
 *
 * func= picks the program (forward, train_step, grad_step; default the one cube-group-kernels grouped, which
 * it records as cube.program); plan-memory=true (default) plans the arena by liveness (MemPlan.c);
 * report=true prints the memory table to stderr. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cube/Conversion.h"
#include "cube/GpuKernels.h"
#include "cube/Ops.h"
#include "cube/Passes.h"
#include "cube/ReadFile.h"
#include "cube/Rewrite.h"
#include "mlir-c/Diagnostics.h"

enum { OPT_OUT, OPT_TARGET, OPT_CHIP, OPT_CUDA_PATH, OPT_DUMP, OPT_FUNC, OPT_PLAN_MEMORY, OPT_REPORT };

static const CubePassOption kOptions[] = {
    [OPT_OUT] = {"out", CUBE_OPT_STRING, "", "the artifact directory (created if missing)", 0, 0},
    [OPT_TARGET] = {"target", CUBE_OPT_STRING, "", "cpu or cuda (default: the target cube-group-kernels used)", 0, 0},
    [OPT_CHIP] = {"chip", CUBE_OPT_STRING, "sm_90", "CUDA chip for the PTX (target=cuda)", 0, 0},
    [OPT_CUDA_PATH] = {"cuda-path", CUBE_OPT_STRING, "", "CUDA toolkit with nvvm/libdevice (default: $CUDA_HOME, "
                       "$CUDA_PATH, /usr/local/cuda)", 0, 0},
    [OPT_DUMP] = {"dump", CUBE_OPT_BOOL, "false", "also write kernels.lowered.mlir (LLVM dialect for cpu; the "
                  "GPU launches and kernels before NVVM for cuda), for debugging", 0, 0},
    [OPT_FUNC] = {"func", CUBE_OPT_STRING, "", "the function to plan: forward, train_step or grad_step (default: the "
                  "one cube-group-kernels grouped)", 0, 0},
    [OPT_PLAN_MEMORY] = {"plan-memory", CUBE_OPT_BOOL, "true", "liveness-based arena reuse for activations and "
                         "scratch (cube-plan-memory); false: every buffer has bytes of its own", 0, 0},
    [OPT_REPORT] = {"report", CUBE_OPT_BOOL, "false", "print the memory report (params, grads, optimizer state, "
                    "activation and scratch peaks, inputs/outputs, arena) to stderr", 0, 0},
};

static MlirLogicalResult failAt(MlirOperation at, const char *fmt, const char *a, const char *b) {
  char msg[10240], line[9000];
  snprintf(line, sizeof line, fmt, a, b);
  snprintf(msg, sizeof msg, "cube-emit: %s", line);
  mlirEmitError(mlirOperationGetLocation(at), msg);
  return mlirLogicalResultFailure();
}

/* mkdir -p, then a check that the directory is writable. */
static bool makeDir(const char *path, char *err, size_t n) {
  char buf[4096];
  if (strlen(path) >= sizeof buf) return snprintf(err, n, "the path is too long"), false;
  strcpy(buf, path);
  for (char *p = buf + 1; ; ++p) {
    if (*p == '/' || !*p) {
      char c = *p;
      *p = 0;
      if (mkdir(buf, 0777) != 0 && errno != EEXIST) return snprintf(err, n, "cannot create '%s': %s", buf, strerror(errno)), false;
      *p = c;
      if (!c) break;
    }
  }
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return snprintf(err, n, "'%s' is not a directory", path), false;
  if (access(path, W_OK) != 0) return snprintf(err, n, "'%s' is not writable: %s", path, strerror(errno)), false;
  return true;
}

static void printTo(MlirStringRef s, void *u) { cubeBufAppendN(u, s.data, s.length); }

static MlirWalkResult findCubeOp(MlirOperation op, void *u) {
  if (!cubeIsCubeOp(op)) return MlirWalkResultAdvance;
  *(bool *)u = true;
  return MlirWalkResultInterrupt;
}

/* True when no kernel function still holds its cube op (cube-lower-to-linalg ran); a gpu-dialect kernel
 * (cube.kernel_gpu) keeps its op until cube-emit writes it. */
static bool kernelsLowered(MlirOperation module) {
  MlirBlock body = cubeModuleBody(module);
  bool found = false;
  for (MlirOperation f = mlirBlockIsNull(body) ? (MlirOperation){NULL} : mlirBlockGetFirstOperation(body);
       !mlirOperationIsNull(f) && !found; f = mlirOperationGetNextInBlock(f))
    if (cubeIsKernelFunc(f) && !cubeHasAttr(f, CUBE_ATTR_KERNEL_GPU)) mlirOperationWalk(f, findCubeOp, &found, MlirWalkPreOrder);
  return !found;
}

/* The artifact file name of a registered PTX file: registered.<its name>, or registered.<k>.<its name> when an
 * earlier, different file of the same name took that (k: the file's index), or registered.<k>.ptx when the
 * name is too long for a plan's kernels_file. `copied` holds the k files already copied (path, name pairs). */
static void ptxCopyName(char **copied, size_t k, const char *path, char *name, size_t n) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  int len = snprintf(name, n, "registered.%s", base);
  bool taken = false;
  for (size_t i = 0; i < k && !taken; ++i) taken = !strcmp(copied[2 * i + 1], name);
  if (taken) len = snprintf(name, n, "registered.%zu.%s", k, base);
  if (len < 0 || (size_t)len >= n) snprintf(name, n, "registered.%zu.ptx", k);
}

/* The launches of the registered PTX kernels (docs/kernel-registry.md): one per kernel function marked
 * cube.kernel_ptx, with the manifest's launch shape and the function's arguments in order. Each PTX file is
 * copied once into the artifact (ptxCopyName; the plan's launch step names it in kernels_file), so that the
 * artifact stands alone. */
static bool addRegisteredPtx(MlirOperation module, const char *out, CubeLaunchList *launches, char *err, size_t errSize) {
  MlirBlock body = cubeModuleBody(module);
  bool ok = true;
  if (errSize) err[0] = 0;
  char **copied = NULL; /* source path, artifact name: 2 per file copied */
  size_t nCopied = 0, cap = 0;
  for (MlirOperation f = mlirBlockGetFirstOperation(body); ok && !mlirOperationIsNull(f); f = mlirOperationGetNextInBlock(f)) {
    if (!cubeIsKernelFunc(f) || !cubeKernelRegistryIsPtx(f)) continue;
    char *path = NULL, *entry = NULL;
    int64_t shape[7];
    int nArgs = 0;
    MlirStringRef fname;
    ok = cubeKernelRegistryPtxLaunch(f, &path, &entry, shape, &nArgs, err, errSize) && cubeGetStrAttr(f, "sym_name", &fname);
    CubeLaunch l = {0};
    size_t at = nCopied;
    for (size_t i = 0; ok && i < nCopied; ++i)
      if (!strcmp(copied[2 * i], path)) at = i;
    if (ok && at == nCopied) { /* a file not copied yet */
      char name[sizeof l.kernelsFile];
      ptxCopyName(copied, nCopied, path, name, sizeof name);
      char *text = cubeReadTextFile(path, "the registered PTX file", err, errSize);
      ok = text && cubeWriteFileAtomic(out, name, text, strlen(text), err, errSize) &&
           cubeGrow((void **)&copied, &cap, 2 * nCopied + 2, sizeof *copied);
      if (ok) {
        copied[2 * nCopied] = strdup(path);
        copied[2 * nCopied + 1] = strdup(name);
        ok = copied[2 * nCopied] && copied[2 * nCopied + 1];
        nCopied++;
      }
      free(text);
    }
    if (ok) {
      snprintf(l.func, sizeof l.func, "%.*s", (int)fname.length, fname.data);
      snprintf(l.name, sizeof l.name, "%s", entry);
      snprintf(l.kernelsFile, sizeof l.kernelsFile, "%s", copied[2 * at + 1]);
      memcpy(l.grid, shape, sizeof l.grid);
      memcpy(l.block, shape + 3, sizeof l.block);
      l.sharedBytes = shape[6];
      l.nArgs = nArgs;
      l.args = calloc((size_t)(nArgs ? nArgs : 1), sizeof *l.args);
      ok = l.args != NULL;
      for (int i = 0; ok && i < nArgs; ++i) l.args[i].arg = i;
    }
    if (ok && !cubeLaunchListAdd(launches, &l)) ok = false;
    if (!ok && !err[0]) snprintf(err, errSize, "out of memory");
    if (!ok) free(l.args);
    free(path);
    free(entry);
  }
  for (size_t i = 0; i < 2 * nCopied; ++i) free(copied[i]);
  free(copied);
  return ok;
}

static MlirLogicalResult runEmit(MlirOperation module, const CubeOptionValue *options) {
  const char *out = options[OPT_OUT].s, *chip = options[OPT_CHIP].s;
  char err[1024], tk[4096];
  MlirStringRef grouped;
  if (!out || !*out) return failAt(module, "needs out=DIR (the artifact directory)%s%s", "", "");
  if (!cubeGetStrAttr(module, CUBE_ATTR_TARGET, &grouped))
    return failAt(module, "the module is not grouped into kernels (run cube-prepare-forward, cube-group-kernels "
                          "and cube-lower-to-linalg first)%s%s", "", "");
  const char *want = options[OPT_TARGET].s && *options[OPT_TARGET].s ? options[OPT_TARGET].s : NULL;
  char groupedText[16];
  snprintf(groupedText, sizeof groupedText, "%.*s", (int)grouped.length, grouped.data);
  CubeTarget target;
  if (!cubeParseTarget(want ? want : groupedText, &target, err, sizeof err)) return failAt(module, "%s%s", err, "");
  if (want && strcmp(want, groupedText))
    return failAt(module, "target=%s, but the module was grouped for target=%s (cube-group-kernels)", want, groupedText);
  int ptx = 0;
  const char *toolkit = NULL;
  if (target == CUBE_TARGET_CUDA) {
    if (!cubeCudaChipCheck(chip, &ptx, err, sizeof err)) return failAt(module, "%s%s", err, "");
    toolkit = cubeCudaToolkit(options[OPT_CUDA_PATH].s, tk, sizeof tk);
    if (options[OPT_CUDA_PATH].s && *options[OPT_CUDA_PATH].s && !toolkit)
      return failAt(module, "cuda-path=%s has no nvvm/libdevice/libdevice.10.bc%s", options[OPT_CUDA_PATH].s, "");
  }
  MlirStringRef prog;
  const char *func = options[OPT_FUNC].s;
  if (func && *func && cubeGetStrAttr(module, CUBE_ATTR_PROGRAM, &prog) && !cubeRefEq(prog, func)) {
    char g[256];
    snprintf(g, sizeof g, "%.*s", (int)prog.length, prog.data);
    return failAt(module, "func=%s, but the module was grouped for func=%s (cube-group-kernels)", func, g);
  }
  if (!kernelsLowered(module))
    return failAt(module, "the kernels are not lowered to linalg yet (run cube-lower-to-linalg first)%s%s", "", "");
  if (!makeDir(out, err, sizeof err)) return failAt(module, "%s%s", err, "");
  /* A failed run must not leave an older plan.json next to new kernels. */
  char stale[4200];
  snprintf(stale, sizeof stale, "%s/plan.json", out);
  if (remove(stale) != 0 && errno != ENOENT) return failAt(module, "cannot replace '%s': %s", stale, strerror(errno));

  CubeBuf text = {0};
  mlirOperationPrint(module, printTo, &text);
  cubeBufAppend(&text, "\n");
  MlirModule km = cubeBufferizeKernels(module);
  if (mlirModuleIsNull(km)) {
    cubeBufFree(&text);
    return mlirLogicalResultFailure();
  }
  bool ok = true;
  CubeLaunchList launches = {0};
  CubeBuf dump = {0};
  CubeBuf *dumpTo = options[OPT_DUMP].b ? &dump : NULL;
  if (target == CUBE_TARGET_CPU) {
    ok = cubeLowerKernelsCpu(km, module, out, "kernels.so", dumpTo);
  } else {
    char *ptxText = cubeLowerKernelsCuda(km, module, chip, ptx, toolkit, &launches, dumpTo);
    ok = ptxText != NULL;
    if (ok && !cubeWriteFileAtomic(out, "kernels.ptx", ptxText, strlen(ptxText), err, sizeof err)) {
      failAt(module, "%s%s", err, "");
      ok = false;
    }
    free(ptxText);
    if (ok && !addRegisteredPtx(module, out, &launches, err, sizeof err)) {
      failAt(module, "%s%s", err, "");
      ok = false;
    }
  }
  mlirModuleDestroy(km);
  if (ok && dumpTo && !cubeWriteFileAtomic(out, "kernels.lowered.mlir", cubeBufStr(&dump), dump.len, err, sizeof err)) {
    failAt(module, "%s%s", err, "");
    ok = false;
  }
  cubeBufFree(&dump);
  CubePlanOptions po = {options[OPT_FUNC].s ? options[OPT_FUNC].s : "", options[OPT_PLAN_MEMORY].b,
                        options[OPT_REPORT].b};
  char *plan = ok ? cubePlanJsonOpts(module, target, chip, &launches, &po) : NULL;
  cubeLaunchListFree(&launches);
  ok = plan && cubeWriteFileAtomic(out, "final.mlir", cubeBufStr(&text), text.len, err, sizeof err);
  cubeBufFree(&text);
  if (!plan) return mlirLogicalResultFailure();
  if (ok) ok = cubeWriteFileAtomic(out, "plan.json", plan, strlen(plan), err, sizeof err);
  free(plan);
  if (!ok) return failAt(module, "%s%s", err, "");
  return mlirLogicalResultSuccess();
}

const CubePassInfo cubeEmitPassInfo = {
    .argument = "cube-emit",
    .description = "Write the artifact (plan.json, kernels.so or kernels.ptx, final.mlir) of a grouped module",
    .anchor = "builtin.module",
    .options = kOptions,
    .nOptions = sizeof kOptions / sizeof kOptions[0],
    .run = runEmit,
};
