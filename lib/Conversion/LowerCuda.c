/* target=cuda: bufferized kernels -> parallel loops -> gpu.launch -> outlined GPU kernels -> NVVM -> PTX.
 *
 * Each linalg op of a kernel function is one parallel loop (one parallel dim, see cube/KernelGen.h), tiled
 * by 256 (`no-min-max-bounds`: a static 256-thread inner loop with a bounds guard) and mapped to blocks x
 * threads, so every GPU kernel runs ceil(N / 256) blocks of 256 threads. Before anything of the host side is
 * lowered, every gpu.launch_func is read here: its grid, block and arguments (a buffer is an argument of the
 * kernel function, possibly through a memref view with a byte offset; a scalar is a constant), in program
 * order; those become the plan's `launch` steps and the host functions are dropped (the runtime launches
 * the kernels itself). The GPU functions are renamed <kernel function>_<i>, gathered into one gpu.module and
 * lowered to one PTX text (`cubin-format=isa`, bare-pointer kernel ABI, libdevice linked for math functions). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cube/Conversion.h"
#include "cube/Ops.h"
#include "cube/Rewrite.h"
#include "mlir-c/BuiltinAttributes.h"
#include "mlir-c/BuiltinTypes.h"
#include "mlir-c/Diagnostics.h"
#include "mlir-c/Dialect/GPU.h"

static const char *kToGpu =
    "func.func(convert-linalg-to-parallel-loops,"
    "scf-parallel-loop-tiling{parallel-loop-tile-sizes=256 no-min-max-bounds=true},"
    "gpu-map-parallel-loops,convert-parallel-loops-to-gpu,canonicalize),"
    "gpu-launch-sink-index-computations,gpu-kernel-outlining,canonicalize,cse";

static bool error(MlirOperation at, const char *fmt, const char *a, const char *b) {
  char msg[10240];
  snprintf(msg, sizeof msg, fmt, a, b);
  mlirEmitError(mlirOperationGetLocation(at), msg);
  return false;
}

static bool constValue(MlirValue v, int64_t *i, double *f, bool *isFloat) {
  if (!mlirValueIsAOpResult(v)) return false;
  MlirOperation def = mlirOpResultGetOwner(v);
  if (!cubeOpNameIs(def, "arith.constant")) return false;
  MlirAttribute a = mlirOperationGetAttributeByName(def, CUBE_STR("value"));
  if (mlirAttributeIsNull(a)) return false;
  if (mlirAttributeIsAInteger(a)) {
    *i = mlirIntegerAttrGetValueInt(a);
    *isFloat = false;
    return true;
  }
  if (mlirAttributeIsAFloat(a)) {
    *f = mlirFloatAttrGetValueDouble(a);
    *isFloat = true;
    return true;
  }
  return false;
}

/* A memref kernel operand -> (argument of the kernel function, byte offset). Views with static offsets only. */
static bool traceBuffer(MlirValue v, MlirBlock entry, int *arg, int64_t *offset) {
  *offset = 0;
  for (int depth = 0; depth < 32; ++depth) {
    if (mlirValueIsABlockArgument(v)) {
      if (!mlirBlockEqual(mlirBlockArgumentGetOwner(v), entry)) return false;
      *arg = (int)mlirBlockArgumentGetArgNumber(v);
      return true;
    }
    MlirOperation def = mlirOpResultGetOwner(v);
    if (cubeOpNameIs(def, "memref.collapse_shape") || cubeOpNameIs(def, "memref.expand_shape") ||
        cubeOpNameIs(def, "memref.cast")) {
      v = mlirOperationGetOperand(def, 0);
      continue;
    }
    /* a 1-D run of a flat buffer (a contiguous slice's tensor.extract_slice): its static offset is in the
     * result's layout (strided<[1], offset: N>), which the kernel applies to the bare pointer itself, so the
     * launch passes the buffer's own start */
    if (cubeOpNameIs(def, "memref.subview") && mlirOperationGetNumOperands(def) == 1) {
      v = mlirOperationGetOperand(def, 0);
      continue;
    }
    return false;
  }
  return false;
}

/* Reads every launch of kernel function `fn` and renames its GPU function. */
static bool readLaunches(MlirOperation kernels, MlirOperation fn, MlirOperation diagAt, CubeLaunchList *out) {
  MlirStringRef fname = {"?", 1};
  cubeGetStrAttr(fn, "sym_name", &fname);
  char fnText[256], what[600];
  snprintf(fnText, sizeof fnText, "%.*s", (int)fname.length, fname.data);
  MlirBlock entry;
  if (!cubeFuncEntryBlock(fn, &entry)) return true;
  int index = 0;
  for (MlirOperation op = mlirBlockGetFirstOperation(entry); !mlirOperationIsNull(op); op = mlirOperationGetNextInBlock(op)) {
    if (cubeOpNameIs(op, "arith.constant") || cubeOpNameIs(op, "func.return") ||
        cubeOpNameIs(op, "memref.collapse_shape") || cubeOpNameIs(op, "memref.expand_shape") ||
        cubeOpNameIs(op, "memref.cast") || cubeOpNameIs(op, "memref.subview"))
      continue;
    MlirStringRef on = mlirIdentifierStr(mlirOperationGetName(op));
    if (!cubeOpNameIs(op, "gpu.launch_func")) {
      snprintf(what, sizeof what, "%.*s", (int)on.length, on.data);
      return error(diagAt, "cube-emit: internal error: kernel @%s keeps '%s' on the host: part of it was not mapped to "
                           "the GPU", fnText, what);
    }
    MlirAttribute seg = mlirOperationGetAttributeByName(op, CUBE_STR("operandSegmentSizes"));
    MlirAttribute sym = mlirOperationGetAttributeByName(op, CUBE_STR("kernel"));
    if (mlirAttributeIsNull(seg) || !mlirAttributeIsADenseI32Array(seg) || mlirDenseArrayGetNumElements(seg) < 12 ||
        mlirAttributeIsNull(sym) || !mlirAttributeIsASymbolRef(sym))
      return error(diagAt, "cube-emit: internal error: unexpected gpu.launch_func form in @%s%s", fnText, "");
    int32_t s[13] = {0};
    for (intptr_t i = 0; i < 13 && i < mlirDenseArrayGetNumElements(seg); ++i) s[i] = mlirDenseI32ArrayGetElement(seg, i);
    if (s[0] || s[7] || s[8] || s[9] || s[10])
      return error(diagAt, "cube-emit: internal error: a launch in @%s is async, clustered or uses shared memory%s", fnText, "");
    CubeLaunch l = {0};
    snprintf(l.func, sizeof l.func, "%s", fnText);
    snprintf(l.name, sizeof l.name, "%s_%d", fnText, index++);
    for (int d = 0; d < 6; ++d) {
      int64_t iv = 0;
      double fv;
      bool isF;
      if (!constValue(mlirOperationGetOperand(op, d), &iv, &fv, &isF) || isF)
        return error(diagAt, "cube-emit: internal error: a launch in @%s has a grid or block size that is not a "
                             "constant%s", fnText, "");
      (d < 3 ? l.grid : l.block)[d % 3] = iv;
    }
    intptr_t first = 6, n = s[11];
    l.args = calloc((size_t)(n ? n : 1), sizeof *l.args);
    l.nArgs = (int)n;
    for (intptr_t i = 0; i < n; ++i) {
      MlirValue v = mlirOperationGetOperand(op, first + i);
      MlirType t = mlirValueGetType(v);
      CubeLaunchArg *a = &l.args[i];
      bool isF = false;
      if (mlirTypeIsAMemRef(t)) {
        if (!traceBuffer(v, entry, &a->arg, &a->offset)) {
          free(l.args);
          return error(diagAt, "cube-emit: internal error: a launch in @%s takes a buffer that is not a view of a kernel "
                               "argument%s", fnText, "");
        }
      } else if (constValue(v, &a->i, &a->f, &isF)) {
        a->scalar = true;
        const char *ty = mlirTypeIsAIndex(t) ? "i64" : mlirTypeIsAF32(t) ? "f32" :
                         mlirTypeIsAInteger(t) && mlirIntegerTypeGetWidth(t) == 64 ? "i64" :
                         mlirTypeIsAInteger(t) && mlirIntegerTypeGetWidth(t) == 32 ? "i32" : NULL;
        if (!ty) {
          free(l.args);
          return error(diagAt, "cube-emit: internal error: a launch in @%s takes a scalar of an unsupported type%s", fnText, "");
        }
        snprintf(a->type, sizeof a->type, "%s", ty);
      } else {
        free(l.args);
        return error(diagAt, "cube-emit: internal error: a launch in @%s takes a value that is neither a buffer nor a "
                             "constant%s", fnText, "");
      }
    }
    /* Rename the GPU function to the launch's name (its gpu.module keeps its own). */
    MlirStringRef modName = mlirSymbolRefAttrGetRootReference(sym);
    MlirStringRef funcName = mlirSymbolRefAttrGetLeafReference(sym);
    MlirBlock kb = cubeModuleBody(kernels);
    bool renamed = false;
    for (MlirOperation m = mlirBlockGetFirstOperation(kb); !mlirOperationIsNull(m) && !renamed;
         m = mlirOperationGetNextInBlock(m)) {
      MlirStringRef mn;
      if (!cubeOpNameIs(m, "gpu.module") || !cubeGetStrAttr(m, "sym_name", &mn) || !mlirStringRefEqual(mn, modName)) continue;
      MlirBlock mb = mlirRegionGetFirstBlock(mlirOperationGetRegion(m, 0));
      for (MlirOperation g = mlirBlockGetFirstOperation(mb); !mlirOperationIsNull(g); g = mlirOperationGetNextInBlock(g)) {
        MlirStringRef gn;
        if (cubeOpNameIs(g, "gpu.func") && cubeGetStrAttr(g, "sym_name", &gn) && mlirStringRefEqual(gn, funcName)) {
          MlirContext ctx = mlirOperationGetContext(op);
          cubeSetStrAttr(g, "sym_name", l.name);
          MlirAttribute leaf = mlirFlatSymbolRefAttrGet(ctx, CUBE_STR(l.name));
          mlirOperationSetAttributeByName(op, CUBE_STR("kernel"), mlirSymbolRefAttrGet(ctx, modName, 1, &leaf));
          renamed = true;
          break;
        }
      }
    }
    if (!renamed || !cubeLaunchListAdd(out, &l)) {
      free(l.args);
      return error(diagAt, "cube-emit: internal error: the GPU function of a launch in @%s is missing%s", fnText, "");
    }
  }
  return true;
}

/* Moves every gpu.func into the first gpu.module (renamed cube_kernels) and erases everything else. */
static bool gatherGpuFuncs(MlirOperation kernels) {
  MlirBlock kb = cubeModuleBody(kernels);
  MlirOperation target = {NULL}, lastFunc = {NULL};
  for (MlirOperation m = mlirBlockGetFirstOperation(kb); !mlirOperationIsNull(m);) {
    MlirOperation next = mlirOperationGetNextInBlock(m);
    if (cubeOpNameIs(m, "gpu.module")) {
      MlirBlock mb = mlirRegionGetFirstBlock(mlirOperationGetRegion(m, 0));
      if (mlirOperationIsNull(target)) {
        target = m;
        cubeSetStrAttr(m, "sym_name", "cube_kernels");
        for (MlirOperation g = mlirBlockGetFirstOperation(mb); !mlirOperationIsNull(g); g = mlirOperationGetNextInBlock(g))
          if (cubeOpNameIs(g, "gpu.func")) lastFunc = g;
      } else {
        for (MlirOperation g = mlirBlockGetFirstOperation(mb); !mlirOperationIsNull(g);) {
          MlirOperation gn = mlirOperationGetNextInBlock(g);
          if (cubeOpNameIs(g, "gpu.func")) {
            mlirOperationMoveAfter(g, lastFunc);
            lastFunc = g;
          }
          g = gn;
        }
        mlirOperationDestroy(m);
      }
    } else {
      mlirOperationDestroy(m); /* host functions: the runtime launches the kernels */
    }
    m = next;
  }
  return !mlirOperationIsNull(target);
}

typedef struct {
  char *ptx;
} PtxFind;

static void findPtx(MlirOperation op, void *u) {
  PtxFind *f = u;
  MlirAttribute objs = mlirOperationGetAttributeByName(op, CUBE_STR("objects"));
  if (f->ptx || mlirAttributeIsNull(objs) || !mlirAttributeIsAArray(objs) || mlirArrayAttrGetNumElements(objs) < 1) return;
  MlirAttribute o = mlirArrayAttrGetElement(objs, 0);
  if (!mlirAttributeIsAGPUObjectAttr(o)) return;
  MlirStringRef s = mlirGPUObjectAttrGetObject(o);
  f->ptx = cubeStrDupRef(s);
}

static void printTo(MlirStringRef s, void *u) { cubeBufAppendN(u, s.data, s.length); }

char *cubeLowerKernelsCuda(MlirModule kernels, MlirOperation diagAt, const char *chip, int ptx, const char *toolkit,
                           CubeLaunchList *launches, CubeBuf *dump) {
  MlirOperation kop = mlirModuleGetOperation(kernels);
  if (!cubeRunPipeline(kop, kToGpu, diagAt, "GPU mapping")) return NULL;
  MlirBlock kb = cubeModuleBody(kop);
  for (MlirOperation f = mlirBlockGetFirstOperation(kb); !mlirOperationIsNull(f); f = mlirOperationGetNextInBlock(f))
    if (cubeOpNameIs(f, "func.func") && !readLaunches(kop, f, diagAt, launches)) return NULL;
  if (dump) mlirOperationPrint(kop, printTo, dump);
  if (!gatherGpuFuncs(kop)) {
    /* No GPU work at all (every kernel is empty): an empty PTX module. */
    char *empty = malloc(128);
    if (empty) snprintf(empty, 128, "//\n// cube: no GPU kernels\n//\n\n.version %d.%d\n.target %s\n.address_size 64\n",
                        ptx / 10, ptx % 10, chip);
    return empty;
  }
  char pipe[2048];
  snprintf(pipe, sizeof pipe,
           "nvvm-attach-target{chip=%s features=+ptx%d O=3},"
           "gpu.module(expand-strided-metadata,lower-affine,convert-scf-to-cf,"
           "convert-gpu-to-nvvm{use-bare-ptr-memref-call-conv=1 index-bitwidth=64},canonicalize,cse,"
           "reconcile-unrealized-casts),gpu-module-to-binary{format=isa%s%s}",
           chip, ptx, toolkit ? " toolkit=" : "", toolkit ? toolkit : "");
  if (!cubeRunPipeline(kop, pipe, diagAt, "NVVM/PTX")) return NULL;
  PtxFind f = {NULL};
  cubeWalkOps(kop, "gpu.binary", findPtx, &f);
  if (!f.ptx) {
    error(diagAt, "cube-emit: internal error: no PTX came out of gpu-module-to-binary%s%s", "", "");
    return NULL;
  }
  if (strstr(f.ptx, ".extern .func")) {
    error(diagAt, "cube-emit: the PTX calls functions it does not define (libdevice was not linked): give "
                  "cuda-path=DIR of a CUDA toolkit with nvvm/libdevice/libdevice.10.bc (%s)%s",
          toolkit ? toolkit : "none found", "");
    free(f.ptx);
    return NULL;
  }
  return f.ptx;
}
