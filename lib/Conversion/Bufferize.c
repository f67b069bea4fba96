/* The first step of kernel lowering, shared by both targets: copies the kernel functions (linalg on tensors)
 * into a module of their own, bufferizes them with upstream one-shot-bufferize (function boundaries
 * included, identity layouts), and turns them into the kernel ABI: memref arguments only, no results (the
 * returned tensor must be the out argument, written in place), public (exported) symbols. A kernel that
 * would need a buffer of its own after bufferization (memref.alloc, a copy) is an internal error: every
 * temporary must be a scratch argument that the plan allocates in the arena. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cube/Conversion.h"
#include "cube/Fuse.h"
#include "cube/GpuKernels.h"
#include "cube/Ops.h"
#include "cube/Rewrite.h"
#include "mlir-c/BuiltinAttributes.h"
#include "mlir-c/BuiltinTypes.h"
#include "mlir-c/Diagnostics.h"
#include "mlir-c/Pass.h"

static void collectText(MlirStringRef s, void *u) { cubeBufAppendN(u, s.data, s.length); }

bool cubeRunPipeline(MlirOperation op, const char *pipeline, MlirOperation diagAt, const char *what) {
  MlirContext ctx = mlirOperationGetContext(op);
  MlirPassManager pm = mlirPassManagerCreate(ctx);
  CubeBuf err = {0};
  bool ok = mlirLogicalResultIsSuccess(
      mlirOpPassManagerAddPipeline(mlirPassManagerGetAsOpPassManager(pm), CUBE_STR(pipeline), collectText, &err));
  char msg[1024];
  if (!ok) {
    snprintf(msg, sizeof msg, "internal error: the %s pipeline does not parse: %s", what, cubeBufStr(&err));
    mlirEmitError(mlirOperationGetLocation(diagAt), msg);
  } else if (mlirLogicalResultIsFailure(mlirPassManagerRunOnOp(pm, op))) {
    snprintf(msg, sizeof msg, "the %s pipeline failed (see the errors above)", what);
    mlirEmitError(mlirOperationGetLocation(diagAt), msg);
    ok = false;
  }
  cubeBufFree(&err);
  mlirPassManagerDestroy(pm);
  return ok;
}

typedef struct {
  MlirOperation bad;
} AllocScan;

static MlirWalkResult findAlloc(MlirOperation op, void *u) {
  AllocScan *s = u;
  if (cubeOpNameIs(op, "memref.alloc") || cubeOpNameIs(op, "memref.alloca") || cubeOpNameIs(op, "memref.copy") ||
      cubeOpNameIs(op, "memref.dealloc") || cubeIsCubeOp(op)) {
    s->bad = op;
    return MlirWalkResultInterrupt;
  }
  return MlirWalkResultAdvance;
}

/* Drops the function's results: each returned value must be one of its arguments. */
static bool dropResults(MlirOperation fn, MlirOperation diagAt) {
  MlirBlock entry;
  MlirStringRef name = {"?", 1};
  cubeGetStrAttr(fn, "sym_name", &name);
  char msg[512];
  if (!cubeFuncEntryBlock(fn, &entry)) return false;
  MlirOperation ret = mlirBlockGetTerminator(entry);
  if (mlirOperationIsNull(ret) || !cubeOpNameIs(ret, "func.return")) return false;
  for (intptr_t i = 0; i < mlirOperationGetNumOperands(ret); ++i) {
    MlirValue v = mlirOperationGetOperand(ret, i);
    if (!mlirValueIsABlockArgument(v) || !mlirBlockEqual(mlirBlockArgumentGetOwner(v), entry)) {
      snprintf(msg, sizeof msg, "internal error: kernel @%.*s does not compute its result in place in its out "
               "argument after bufferization", (int)name.length, name.data);
      mlirEmitError(mlirOperationGetLocation(diagAt), msg);
      return false;
    }
  }
  MlirOperationState st = mlirOperationStateGet(CUBE_STR("func.return"), mlirOperationGetLocation(ret));
  mlirBlockInsertOwnedOperationBefore(entry, ret, mlirOperationCreate(&st));
  mlirOperationDestroy(ret);
  MlirType ft = mlirTypeAttrGetValue(mlirOperationGetAttributeByName(fn, CUBE_STR("function_type")));
  intptr_t n = mlirFunctionTypeGetNumInputs(ft);
  MlirType *in = malloc(sizeof *in * (size_t)(n ? n : 1));
  for (intptr_t i = 0; i < n; ++i) in[i] = mlirFunctionTypeGetInput(ft, i);
  MlirContext ctx = mlirOperationGetContext(fn);
  mlirOperationSetAttributeByName(fn, CUBE_STR("function_type"), mlirTypeAttrGet(mlirFunctionTypeGet(ctx, n, in, 0, NULL)));
  free(in);
  AllocScan s = {{NULL}};
  mlirOperationWalk(fn, findAlloc, &s, MlirWalkPreOrder);
  if (!mlirOperationIsNull(s.bad)) {
    MlirStringRef on = mlirIdentifierStr(mlirOperationGetName(s.bad));
    snprintf(msg, sizeof msg, "internal error: kernel @%.*s still has '%.*s' after bufferization (every temporary "
             "must be a scratch argument)", (int)name.length, name.data, (int)on.length, on.data);
    mlirEmitError(mlirOperationGetLocation(diagAt), msg);
    return false;
  }
  return true;
}

/* A cube.kernel_gpu function: its memref function from cube/GpuKernels.h (a fused kernel's from GpuFused.c),
 * parsed into the kernels module. */
static bool addGpuKernel(MlirBlock kb, MlirOperation fn, MlirOperation diagAt) {
  MlirBlock entry;
  MlirStringRef name;
  char err[512], msg[1024];
  MlirOperation op = cubeFuncEntryBlock(fn, &entry) ? mlirBlockGetFirstOperation(entry) : (MlirOperation){NULL};
  if (mlirOperationIsNull(op) || !cubeIsCubeOp(op) || !cubeGetStrAttr(fn, "sym_name", &name)) {
    mlirEmitError(mlirOperationGetLocation(diagAt), "internal error: a cube.kernel_gpu function without its cube op");
    return false;
  }
  char *fname = cubeStrDupRef(name);
  CubeBuf text = {0};
  MlirOperation fresh = {NULL};
  bool registered = cubeHasAttr(fn, CUBE_ATTR_KERNEL_FILE);
  bool ok = fname && (registered ? cubeKernelRegistryText(fn, fname, &fresh, err, sizeof err)
                                 : cubeIsFusedKernel(fn) ? cubeGpuFusedText(fn, fname, &text, err, sizeof err)
                                 : cubeGpuRowPatternIs(fn) ? cubeGpuRowPatternText(fn, fname, &text, err, sizeof err)
                                                           : cubeGpuKernelText(op, fname, &text, err, sizeof err));
  if (ok && registered) {
    ok = mlirOperationVerify(fresh);
    if (!ok) snprintf(err, sizeof err, "the registered kernel does not verify (see the error above)");
  } else if (ok) {
    fresh = mlirOperationCreateParse(mlirOperationGetContext(fn), CUBE_STR(cubeBufStr(&text)), CUBE_STR("cube-gpu-kernel"));
    ok = !mlirOperationIsNull(fresh) && mlirOperationVerify(fresh);
    snprintf(err, sizeof err, "the generated gpu-dialect kernel does not %s (see the error above)",
             mlirOperationIsNull(fresh) ? "parse" : "verify");
    if (!ok && getenv("CUBE_DEBUG_KERNELS")) fprintf(stderr, "%s\n", cubeBufStr(&text));
  }
  if (!ok) {
    snprintf(msg, sizeof msg, "%s @%s: %s", registered ? "registered kernel" : "internal error: kernel", fname ? fname : "?", err);
    mlirEmitError(mlirOperationGetLocation(op), msg);
    if (!mlirOperationIsNull(fresh)) mlirOperationDestroy(fresh);
  } else {
    mlirBlockAppendOwnedOperation(kb, fresh);
  }
  free(fname);
  cubeBufFree(&text);
  return ok;
}

MlirModule cubeBufferizeKernels(MlirOperation module) {
  MlirModule km = mlirModuleCreateEmpty(mlirOperationGetLocation(module));
  MlirBlock kb = mlirModuleGetBody(km);
  MlirBlock body = cubeModuleBody(module);
  for (MlirOperation f = mlirBlockIsNull(body) ? (MlirOperation){NULL} : mlirBlockGetFirstOperation(body);
       !mlirOperationIsNull(f); f = mlirOperationGetNextInBlock(f)) {
    if (!cubeIsKernelFunc(f) || cubeHasAttr(f, CUBE_ATTR_KERNEL_GPU)) continue;
    MlirOperation c = mlirOperationClone(f);
    mlirOperationRemoveAttributeByName(c, CUBE_STR("sym_visibility"));
    mlirBlockAppendOwnedOperation(kb, c);
  }
  MlirOperation kop = mlirModuleGetOperation(km);
  AllocScan s = {{NULL}};
  mlirOperationWalk(kop, findAlloc, &s, MlirWalkPreOrder);
  if (!mlirOperationIsNull(s.bad)) {
    mlirEmitError(mlirOperationGetLocation(module), "cube-emit: the kernels are not lowered to linalg yet (run "
                                                    "cube-lower-to-linalg first)");
    mlirModuleDestroy(km);
    return (MlirModule){NULL};
  }
  if (!cubeRunPipeline(kop, "one-shot-bufferize{bufferize-function-boundaries "
                            "function-boundary-type-conversion=identity-layout-map},canonicalize,cse",
                       module, "bufferization")) {
    mlirModuleDestroy(km);
    return (MlirModule){NULL};
  }
  bool ok = true;
  for (MlirOperation f = mlirBlockGetFirstOperation(kb); !mlirOperationIsNull(f); f = mlirOperationGetNextInBlock(f))
    if (cubeOpNameIs(f, "func.func")) ok = dropResults(f, module) && ok;
  /* A registered PTX kernel is no MLIR function: cube-emit launches it from its own module. */
  for (MlirOperation f = mlirBlockGetFirstOperation(body); ok && !mlirOperationIsNull(f); f = mlirOperationGetNextInBlock(f))
    if (cubeIsKernelFunc(f) && cubeHasAttr(f, CUBE_ATTR_KERNEL_GPU) && !cubeKernelRegistryIsPtx(f))
      ok = addGpuKernel(kb, f, module);
  if (!ok) {
    mlirModuleDestroy(km);
    return (MlirModule){NULL};
  }
  return km;
}
