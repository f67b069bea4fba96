/* cube-lower-to-linalg: writes the body of every kernel function (made by cube-group-kernels) in linalg on
 * tensors, in destination-passing style: the result is computed into the `out` argument, temporaries into
 * the scratch arguments, never into tensor.empty. Each body is generated as MLIR text from the kernel's
 * cube op, its shapes and attributes (lib/Conversion/Kernels*.c), parsed and verified by MLIR, and replaces
 * the function; a fused kernel function (cube-fuse) becomes one generic for its whole group. The numerics (f32 accumulation, max-subtraction, log-sum-exp, HF's rmsnorm and rope) are
 * described at each generator and in docs/codegen.md. */
#include <stdio.h>
#include <stdlib.h>

#include "cube/Conversion.h"
#include "cube/Fuse.h"
#include "cube/GpuKernels.h"
#include "cube/KernelGen.h"
#include "cube/Ops.h"
#include "cube/Passes.h"
#include "cube/Rewrite.h"
#include "mlir-c/BuiltinAttributes.h"
#include "mlir-c/BuiltinTypes.h"
#include "mlir-c/Diagnostics.h"

/* The kernel's cube op (the one op of a grouped, not yet lowered kernel), or a null op. */
static MlirOperation kernelOp(MlirOperation fn) {
  MlirBlock entry;
  if (!cubeFuncEntryBlock(fn, &entry)) return (MlirOperation){NULL};
  MlirOperation first = mlirBlockGetFirstOperation(entry);
  return !mlirOperationIsNull(first) && cubeIsCubeOp(first) ? first : (MlirOperation){NULL};
}

static bool replaceKernel(MlirOperation fn, MlirOperation op, CubeBuf *textBuf);

/* A fused kernel (cube/Fuse.h): one linalg.generic for the whole group (KernelsFused.c). */
static bool lowerFused(MlirOperation fn, MlirOperation op) {
  char err[512], msg[1024];
  MlirStringRef name;
  char *fname = cubeGetStrAttr(fn, "sym_name", &name) ? cubeStrDupRef(name) : NULL;
  CubeBuf text = {0};
  bool named = fname != NULL, ok = named && cubeFusedKernelText(fn, fname, &text, err, sizeof err);
  free(fname);
  if (!ok) {
    snprintf(msg, sizeof msg, "cube-lower-to-linalg: cannot lower a fused kernel: %s", named ? err : "no sym_name");
    mlirEmitError(mlirOperationGetLocation(fn), msg);
    cubeBufFree(&text);
    return false;
  }
  return replaceKernel(fn, op, &text);
}

static bool lowerKernel(MlirOperation fn) {
  MlirLocation loc = mlirOperationGetLocation(fn);
  MlirOperation op = kernelOp(fn);
  if (mlirOperationIsNull(op)) return true; /* already lowered */
  if (cubeHasAttr(fn, CUBE_ATTR_KERNEL_GPU)) return true; /* a gpu-dialect kernel: cube-emit writes it */
  if (cubeIsFusedKernel(fn)) return lowerFused(fn, op);
  char err[512], msg[1024];
  MlirStringRef name;
  int64_t nIn = -1, nScratch = -1;
  MlirAttribute ft = mlirOperationGetAttributeByName(fn, CUBE_STR("function_type"));
  if (!cubeGetStrAttr(fn, "sym_name", &name) || !cubeGetI64Attr(fn, CUBE_ATTR_KERNEL_INPUTS, &nIn) ||
      !cubeGetI64Attr(fn, CUBE_ATTR_KERNEL_SCRATCH, &nScratch) || mlirAttributeIsNull(ft) ||
      !mlirAttributeIsAType(ft)) {
    mlirEmitError(loc, "cube-lower-to-linalg: a kernel function needs sym_name, cube.kernel_inputs and "
                       "cube.kernel_scratch");
    return false;
  }
  MlirType type = mlirTypeAttrGetValue(ft);
  int64_t nOut = 1;
  cubeGetI64Attr(fn, CUBE_ATTR_KERNEL_OUTS, &nOut);
  KArgs a = {.nIn = (int)nIn, .nScratch = (int)nScratch, .nOut = (int)nOut};
  const KernelSpec *spec0 = cubeKernelSpecFor(op);
  int nInplace = spec0 ? spec0->nInplace : 0;
  if (nIn < 0 || nIn > 8 || nScratch < 0 || nScratch > 6 || nOut < 1 || nOut > 3 ||
      mlirFunctionTypeGetNumInputs(type) != nIn + nScratch + nOut || mlirFunctionTypeGetNumResults(type) != nOut ||
      nIn + nInplace != mlirOperationGetNumOperands(op) || (nInplace && nInplace != nOut)) {
    mlirEmitError(loc, "cube-lower-to-linalg: the kernel's signature does not match its op");
    return false;
  }
  for (int i = 0; i < a.nIn; ++i) a.in[i] = mlirFunctionTypeGetInput(type, i);
  for (int i = 0; i < a.nScratch; ++i) a.scratch[i] = mlirFunctionTypeGetInput(type, a.nIn + i);
  for (int i = 0; i < a.nOut; ++i) a.outs[i] = mlirFunctionTypeGetResult(type, i);
  a.out = a.outs[0];
  /* The scratch in the signature must be what the generator expects. */
  const KernelSpec *spec = cubeKernelSpecFor(op);
  if (!spec) {
    MlirStringRef on = mlirIdentifierStr(mlirOperationGetName(op));
    snprintf(msg, sizeof msg, "cube-lower-to-linalg: '%.*s' has no kernel (param and reshape stay in @forward, dropout "
             "is removed by cube-prepare-forward)", (int)on.length, on.data);
    mlirEmitError(loc, msg);
    return false;
  }
  MlirType want[6];
  int nWant = spec->scratch(op, want);
  bool same = nWant == a.nScratch;
  for (int i = 0; same && i < nWant; ++i) same = mlirTypeEqual(want[i], a.scratch[i]);
  if (!same) {
    mlirEmitError(loc, "cube-lower-to-linalg: the kernel's scratch arguments are not the ones its op needs");
    return false;
  }
  char *fname = cubeStrDupRef(name);
  CubeBuf text = {0};
  bool ok = fname && cubeKernelText(op, fname, &a, &text, err, sizeof err);
  free(fname);
  if (!ok) {
    MlirStringRef on = mlirIdentifierStr(mlirOperationGetName(op));
    snprintf(msg, sizeof msg, "cube-lower-to-linalg: cannot lower '%.*s': %s", (int)on.length, on.data, err);
    mlirEmitError(mlirOperationGetLocation(op), msg);
    cubeBufFree(&text);
    return false;
  }
  return replaceKernel(fn, op, &text);
}

/* Parses and verifies the generated kernel text and puts it in place of fn (freeing the text). */
static bool replaceKernel(MlirOperation fn, MlirOperation op, CubeBuf *textBuf) {
  char msg[1024];
  CubeBuf text = *textBuf;
  MlirContext ctx = mlirOperationGetContext(fn);
  MlirOperation fresh = mlirOperationCreateParse(ctx, CUBE_STR(cubeBufStr(&text)), CUBE_STR("cube-lower-to-linalg"));
  if (mlirOperationIsNull(fresh) || !mlirOperationVerify(fresh)) {
    MlirStringRef on = mlirIdentifierStr(mlirOperationGetName(op));
    snprintf(msg, sizeof msg, "cube-lower-to-linalg: internal error: the linalg kernel generated for '%.*s' does "
             "not %s (see the error above)", (int)on.length, on.data, mlirOperationIsNull(fresh) ? "parse" : "verify");
    mlirEmitError(mlirOperationGetLocation(op), msg);
    if (getenv("CUBE_DEBUG_KERNELS")) fprintf(stderr, "%s\n", cubeBufStr(&text));
    if (!mlirOperationIsNull(fresh)) mlirOperationDestroy(fresh);
    cubeBufFree(&text);
    return false;
  }
  cubeBufFree(&text);
  /* The generated function has the same name, visibility and kernel attributes as the grouped one. */
  mlirBlockInsertOwnedOperationAfter(mlirOperationGetBlock(fn), fn, fresh);
  mlirOperationDestroy(fn);
  return true;
}

static MlirLogicalResult runLower(MlirOperation module, const CubeOptionValue *options) {
  (void)options;
  MlirBlock body = cubeModuleBody(module);
  if (mlirBlockIsNull(body)) return mlirLogicalResultSuccess();
  bool ok = true;
  for (MlirOperation f = mlirBlockGetFirstOperation(body); !mlirOperationIsNull(f);) {
    MlirOperation next = mlirOperationGetNextInBlock(f);
    if (cubeIsKernelFunc(f)) ok = lowerKernel(f) && ok;
    f = next;
  }
  return ok ? mlirLogicalResultSuccess() : mlirLogicalResultFailure();
}

const CubePassInfo cubeLowerToLinalgPassInfo = {
    .argument = "cube-lower-to-linalg",
    .description = "Write every kernel function's body in linalg on tensors (destination-passing style)",
    .anchor = "builtin.module",
    .options = NULL,
    .nOptions = 0,
    .run = runLower,
};
