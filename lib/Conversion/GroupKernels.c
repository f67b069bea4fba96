/* cube-group-kernels{target=cpu|cuda}: the explicit kernel-grouping step of codegen (docs/codegen.md).
 *
 * Every compute op of @forward is outlined into its own kernel function, in destination-passing style:
 *   func.func private @k<N>_<op>(inputs..., scratch..., out) -> out
 *       attributes {cube.kernel = "cube.<op>", cube.kernel_inputs = I, cube.kernel_scratch = S}
 * and replaced in @forward by `tensor.empty` for the scratch and out buffers and a
 * `func.call @k<N>_<op>(...) {cube.op, cube.scope}` (one step of the plan). One kernel per op, except the
 * groups that cube-fuse marked (cube.fuse_group): each becomes ONE kernel function @k<N>_fused
 * (outlineFused, cube/Fuse.h). cube.param stays; cube.reshape stays (a buffer alias, no kernel); on
 * target=cuda cube.linear/cube.matmul stay too, marked `cube.gemm` (cuBLASLt steps), while on target=cpu
 * they are kernels. On target=cuda an op with a gpu-dialect kernel (cube/GpuKernels.h:
 * fused attention and its gradient) gets that kernel's scratch and the unit attribute cube.kernel_gpu.
 * A cube.scale by exactly 1.0 is dropped (its uses read its operand). Otherwise the scratch each kernel
 * needs comes from the per-op table
 * (lib/Conversion/KernelSpecs.c) shared with cube-lower-to-linalg. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

enum { OPT_TARGET, OPT_FUNC, OPT_REGISTRY, OPT_ROW_PATTERNS };

static const CubePassOption kOptions[] = {
    [OPT_TARGET] = {"target", CUBE_OPT_STRING, "cpu", "cpu (linear/matmul are kernels) or cuda (they are GEMM steps)", 0, 0},
    [OPT_FUNC] = {"func", CUBE_OPT_STRING, "forward", "the function to group: forward, train_step or grad_step "
                  "(recorded as the module's cube.program)", 0, 0},
    [OPT_REGISTRY] = {"registry", CUBE_OPT_STRING, "", "a directory with kernels.json of user-registered GPU kernels "
                      "(target=cuda; default: cube-opt --cube-kernel-registry)", 0, 0},
    [OPT_ROW_PATTERNS] = {"row-patterns", CUBE_OPT_BOOL, "true", "target=cuda: a residual add into an rmsnorm, and an "
                          "rmsnorm_grad (dw unused) into an add, become one kernel each", 0, 0},
};

static MlirNamedAttribute named(MlirContext ctx, const char *name, MlirAttribute a) {
  return mlirNamedAttributeGet(mlirIdentifierGet(ctx, CUBE_STR(name)), a);
}

static MlirOperation buildEmpty(MlirLocation loc, MlirType t) {
  MlirOperationState st = mlirOperationStateGet(CUBE_STR("tensor.empty"), loc);
  mlirOperationStateAddResults(&st, 1, &t);
  return mlirOperationCreate(&st);
}

static MlirOperation kernelFunc(MlirLocation loc, MlirBlock block, const char *name, MlirStringRef kernel, intptr_t nIn,
                                intptr_t nScratch, intptr_t nOut, const MlirType *types);

/* The kernel function: entry block args (types), the op cloned into it (operand i reads block arg
 * argOf[i]), and a return of its results (or, for an in-place op, of its out arguments). */
static MlirOperation buildKernel(MlirOperation op, const char *name, intptr_t nIn, intptr_t nScratch, intptr_t nOut,
                                 const MlirType *types, const int *argOf) {
  MlirLocation loc = mlirOperationGetLocation(op);
  intptr_t nArgs = nIn + nScratch + nOut;
  MlirLocation locs[CUBE_KERNEL_MAX_ARGS];
  for (intptr_t i = 0; i < nArgs; ++i) locs[i] = loc;
  MlirBlock block = mlirBlockCreate(nArgs, types, locs);
  MlirOperation body = mlirOperationClone(op);
  for (intptr_t i = 0; i < mlirOperationGetNumOperands(op); ++i)
    mlirOperationSetOperand(body, i, mlirBlockGetArgument(block, argOf[i]));
  mlirBlockAppendOwnedOperation(block, body);
  MlirOperationState rs = mlirOperationStateGet(CUBE_STR("func.return"), loc);
  bool inPlace = mlirOperationGetNumResults(op) == 0;
  for (intptr_t i = 0; i < nOut; ++i) {
    MlirValue r = inPlace ? mlirBlockGetArgument(block, nIn + nScratch + i) : mlirOperationGetResult(body, i);
    mlirOperationStateAddOperands(&rs, 1, &r);
  }
  mlirBlockAppendOwnedOperation(block, mlirOperationCreate(&rs));
  return kernelFunc(loc, block, name, mlirIdentifierStr(mlirOperationGetName(op)), nIn, nScratch, nOut, types);
}

/* The kernel func.func `name` around its entry block: cube.kernel = `kernel` and the argument counts. */
static MlirOperation kernelFunc(MlirLocation loc, MlirBlock block, const char *name, MlirStringRef kernel, intptr_t nIn,
                                intptr_t nScratch, intptr_t nOut, const MlirType *types) {
  MlirContext ctx = mlirLocationGetContext(loc);
  intptr_t nArgs = nIn + nScratch + nOut;
  const MlirType *outs = types + nIn + nScratch;
  MlirRegion region = mlirRegionCreate();
  mlirRegionAppendOwnedBlock(region, block);
  MlirNamedAttribute attrs[7] = {
      named(ctx, "sym_name", mlirStringAttrGet(ctx, CUBE_STR(name))),
      named(ctx, "function_type", mlirTypeAttrGet(mlirFunctionTypeGet(ctx, nArgs, types, nOut, outs))),
      named(ctx, "sym_visibility", mlirStringAttrGet(ctx, CUBE_STR("private"))),
      named(ctx, CUBE_ATTR_KERNEL, mlirStringAttrGet(ctx, kernel)),
      cubeNamedI64(ctx, CUBE_ATTR_KERNEL_INPUTS, nIn),
      cubeNamedI64(ctx, CUBE_ATTR_KERNEL_SCRATCH, nScratch),
      cubeNamedI64(ctx, CUBE_ATTR_KERNEL_OUTS, nOut),
  };
  MlirOperationState fs = mlirOperationStateGet(CUBE_STR("func.func"), loc);
  mlirOperationStateAddAttributes(&fs, nOut != 1 ? 7 : 6, attrs);
  mlirOperationStateAddOwnedRegions(&fs, 1, &region);
  return mlirOperationCreate(&fs);
}

typedef struct {
  MlirOperation module, forward, lastFunc;
  CubeKernelRegistry *registry; /* target=cuda with a registry directory; else NULL */
  CubeTarget target;
  int count;
  bool failed;
  int64_t *fuseIds; /* the fuse groups outlined so far (each must be one run of consecutive ops) */
  size_t nFuseIds, capFuseIds;
  CubeKernelDedup *dedup; /* the kernel functions so far: an identical one is reused */
} Group;

static MlirOperation placeKernel(Group *g, MlirOperation fn, const char *name, MlirOperation at, MlirStringRef stepOp,
                                 MlirOperation scopeOf, intptr_t nIn, intptr_t nScratch, intptr_t nOut,
                                 intptr_t nFresh, MlirType *types, MlirValue *args);

static int inplaceSlot(const KernelSpec *spec, intptr_t operand) {
  for (int j = 0; j < spec->nInplace; ++j)
    if (spec->inplace[j] == operand) return j;
  return -1;
}

/* Outlines `op` into a kernel: inputs (the operands not updated in place), scratch, outs (one per result;
 * for an in-place op, the updated operands themselves, so that the call writes their buffers). */
static bool outline(Group *g, MlirOperation op, const KernelSpec *spec) {
  MlirContext ctx = mlirOperationGetContext(op);
  MlirLocation loc = mlirOperationGetLocation(op);
  intptr_t nOps = mlirOperationGetNumOperands(op), nRes = mlirOperationGetNumResults(op);
  if (spec->nInplace ? nRes != 0 || nOps <= spec->inplace[spec->nInplace - 1] : nRes < 1 || nRes > 3) {
    mlirEmitError(loc, spec->nInplace ? "cube-group-kernels: expected an in-place op with no results"
                                      : "cube-group-kernels: expected an op with 1 to 3 results");
    return false;
  }
  intptr_t nOut = spec->nInplace ? spec->nInplace : nRes, nIn = nOps - spec->nInplace;
  MlirType scratch[6];
  const CubeKernelEntry *reg = NULL;
  char err[2048];
  if (!spec->nInplace && !cubeKernelRegistryMatch(g->registry, op, &reg, err, sizeof err)) {
    char msg[2200];
    snprintf(msg, sizeof msg, "cube-group-kernels: kernel registry: %s", err);
    mlirEmitError(loc, msg);
    return false;
  }
  bool registered = reg != NULL;
  bool gpu = registered || (g->target == CUBE_TARGET_CUDA && cubeGpuKernelApplies(op));
  intptr_t nScratch = registered ? 0 : gpu ? cubeGpuKernelScratch(op, scratch) : spec->scratch(op, scratch);
  MlirType types[CUBE_KERNEL_MAX_ARGS];
  MlirValue args[CUBE_KERNEL_MAX_ARGS];
  int argOf[CUBE_KERNEL_MAX_ARGS];
  if (nOps > CUBE_KERNEL_MAX_ARGS || nIn + nScratch + nOut > CUBE_KERNEL_MAX_ARGS || nIn > 8) {
    mlirEmitError(loc, "cube-group-kernels: too many kernel arguments");
    return false;
  }
  for (intptr_t i = 0, k = 0; i < nOps; ++i) {
    int slot = inplaceSlot(spec, i);
    MlirValue v = mlirOperationGetOperand(op, i);
    intptr_t at = slot >= 0 ? nIn + nScratch + slot : k++;
    argOf[i] = (int)at;
    types[at] = mlirValueGetType(v);
    args[at] = v;
  }
  for (intptr_t i = 0; i < nScratch; ++i) types[nIn + i] = scratch[i];
  for (intptr_t i = 0; i < nRes; ++i) types[nIn + nScratch + i] = mlirValueGetType(mlirOperationGetResult(op, i));

  char base[128];
  MlirStringRef opName = mlirIdentifierStr(mlirOperationGetName(op));
  snprintf(base, sizeof base, "k%d_%.*s", g->count++, (int)opName.length - 5, opName.data + 5);
  CubeBuf name = {0};
  cubeFreshSymbol(g->module, base, &name);
  MlirOperation fn = buildKernel(op, cubeBufStr(&name), nIn, nScratch, nOut, types, argOf);
  if (gpu) mlirOperationSetAttributeByName(fn, CUBE_STR(CUBE_ATTR_KERNEL_GPU), mlirUnitAttrGet(ctx));
  if (registered) cubeKernelRegistryMark(reg, fn);
  MlirOperation call = placeKernel(g, fn, cubeBufStr(&name), op, opName, op, nIn, nScratch, nOut, nRes, types, args);
  for (intptr_t i = 0; i < nRes; ++i)
    mlirValueReplaceAllUsesOfWith(mlirOperationGetResult(op, i), mlirOperationGetResult(call, i));
  mlirOperationDestroy(op);
  cubeBufFree(&name);
  return true;
}

/* Inserts the kernel function fn (named `name`) after the previous one, or destroys it and calls the earlier
 * identical one (KernelDedup.c), and, before `at`, a tensor.empty for
 * each scratch tensor and for the last nFresh outs (args[nIn..] get them; in-place outs are already in args),
 * then `func.call @name(args) {cube.op = stepOp, cube.scope = <scopeOf's scope>}`, which it returns. */
static MlirOperation placeKernel(Group *g, MlirOperation fn, const char *name, MlirOperation at, MlirStringRef stepOp,
                                 MlirOperation scopeOf, intptr_t nIn, intptr_t nScratch, intptr_t nOut,
                                 intptr_t nFresh, MlirType *types, MlirValue *args) {
  MlirContext ctx = mlirOperationGetContext(at);
  MlirLocation loc = mlirOperationGetLocation(at);
  const char *same = cubeKernelDedupFind(&g->dedup, fn, name);
  if (same) { /* an identical kernel exists (another layer's): call it */
    mlirOperationDestroy(fn);
    name = same;
  } else {
    mlirBlockInsertOwnedOperationAfter(cubeModuleBody(g->module), g->lastFunc, fn);
    g->lastFunc = fn;
  }
  for (intptr_t i = 0; i < nScratch + nFresh; ++i)
    args[nIn + i] = mlirOperationGetResult(cubeInsertBefore(at, buildEmpty(loc, types[nIn + i])), 0);
  MlirStringRef scope;
  bool hasScope = cubeGetScope(scopeOf, &scope);
  MlirNamedAttribute attrs[3] = {
      named(ctx, "callee", mlirFlatSymbolRefAttrGet(ctx, CUBE_STR(name))),
      named(ctx, CUBE_ATTR_STEP_OP, mlirStringAttrGet(ctx, stepOp)),
      named(ctx, "cube.scope", hasScope ? mlirStringAttrGet(ctx, scope) : mlirStringAttrGet(ctx, CUBE_STR(""))),
  };
  MlirOperationState cs = mlirOperationStateGet(CUBE_STR("func.call"), loc);
  mlirOperationStateAddOperands(&cs, nIn + nScratch + nOut, args);
  mlirOperationStateAddResults(&cs, nOut, &types[nIn + nScratch]);
  mlirOperationStateAddAttributes(&cs, hasScope ? 3 : 2, attrs);
  return cubeInsertBefore(at, mlirOperationCreate(&cs));
}

/* Outlines the fuse group that starts at `first` (cube/Fuse.h, marked by cube-fuse) into ONE kernel function
 * @k<N>_fused {cube.kernel = "cube.fused"}: its inputs are the values the group reads from outside, its outs
 * the group results used outside (destination-passing style, like a one-op kernel), its body the group's
 * ops; the call (cube.op = "cube.fused", the first op's scope) replaces the group. On target=cuda it gets
 * cube.kernel_gpu when the vectorised kernel (GpuFused.c) takes it. *after: the op following the group. */
static bool outlineFused(Group *g, MlirOperation first, MlirOperation *after) {
  CubeFuseGroup fg;
  int64_t id;
  char err[512], msg[700];
  MlirLocation loc = mlirOperationGetLocation(first);
  if (!cubeFuseGroupAt(first, &fg, &id, after, err, sizeof err)) {
    snprintf(msg, sizeof msg, "cube-group-kernels: %s", err);
    mlirEmitError(loc, msg);
    return false;
  }
  for (size_t i = 0; i < g->nFuseIds; ++i)
    if (g->fuseIds[i] == id) {
      snprintf(msg, sizeof msg, "cube-group-kernels: the ops of fuse group %lld are not consecutive (cube-fuse "
               "orders them so)", (long long)id);
      mlirEmitError(loc, msg);
      return false;
    }
  if (cubeGrow((void **)&g->fuseIds, &g->capFuseIds, g->nFuseIds + 1, sizeof *g->fuseIds))
    g->fuseIds[g->nFuseIds++] = id;
  intptr_t nIn = fg.nIn, nOut = fg.nOut;
  MlirType types[CUBE_KERNEL_MAX_ARGS];
  MlirValue args[CUBE_KERNEL_MAX_ARGS];
  MlirLocation locs[CUBE_KERNEL_MAX_ARGS];
  for (intptr_t i = 0; i < nIn + nOut; ++i) {
    types[i] = mlirValueGetType(i < nIn ? fg.in[i] : fg.out[i - nIn]);
    args[i] = i < nIn ? fg.in[i] : (MlirValue){NULL};
    locs[i] = loc;
  }
  MlirBlock block = mlirBlockCreate(nIn + nOut, types, locs);
  MlirOperation clones[CUBE_FUSE_MAX_OPS];
  CubeBuf opsText = {0};
  for (int j = 0; j < fg.nOps; ++j) {
    clones[j] = mlirOperationClone(fg.ops[j]);
    mlirOperationRemoveAttributeByName(clones[j], CUBE_STR(CUBE_ATTR_FUSE_GROUP));
    for (intptr_t i = 0; i < mlirOperationGetNumOperands(fg.ops[j]); ++i) {
      MlirValue v = mlirOperationGetOperand(fg.ops[j], i);
      int a = cubeFuseIndexOf(fg.in, fg.nIn, v);
      if (a >= 0) mlirOperationSetOperand(clones[j], i, mlirBlockGetArgument(block, a));
      for (int p = 0; a < 0 && p < j; ++p)
        if (mlirValueEqual(mlirOperationGetResult(fg.ops[p], 0), v))
          mlirOperationSetOperand(clones[j], i, mlirOperationGetResult(clones[p], 0));
    }
    mlirBlockAppendOwnedOperation(block, clones[j]);
    MlirStringRef on = mlirIdentifierStr(mlirOperationGetName(fg.ops[j]));
    cubeBufPrintf(&opsText, "%s%.*s", j ? "," : "", (int)on.length, on.data);
  }
  MlirOperationState rs = mlirOperationStateGet(CUBE_STR("func.return"), loc);
  for (int k = 0; k < fg.nOut; ++k)
    for (int j = 0; j < fg.nOps; ++j)
      if (mlirValueEqual(mlirOperationGetResult(fg.ops[j], 0), fg.out[k])) {
        MlirValue r = mlirOperationGetResult(clones[j], 0);
        mlirOperationStateAddOperands(&rs, 1, &r);
      }
  mlirBlockAppendOwnedOperation(block, mlirOperationCreate(&rs));
  char base[64];
  snprintf(base, sizeof base, "k%d_fused", g->count++);
  CubeBuf name = {0};
  cubeFreshSymbol(g->module, base, &name);
  MlirOperation fn = kernelFunc(loc, block, cubeBufStr(&name), CUBE_STR(CUBE_FUSED_KERNEL), nIn, 0, nOut, types);
  cubeSetStrAttr(fn, CUBE_ATTR_FUSED_OPS, cubeBufStr(&opsText));
  cubeBufFree(&opsText);
  if (g->target == CUBE_TARGET_CUDA && cubeGpuFusedApplies(fn))
    mlirOperationSetAttributeByName(fn, CUBE_STR(CUBE_ATTR_KERNEL_GPU), mlirUnitAttrGet(mlirOperationGetContext(fn)));
  MlirOperation call = placeKernel(g, fn, cubeBufStr(&name), first, CUBE_STR(CUBE_FUSED_KERNEL), first, nIn, 0, nOut,
                                   nOut, types, args);
  for (int k = 0; k < fg.nOut; ++k) mlirValueReplaceAllUsesOfWith(fg.out[k], mlirOperationGetResult(call, k));
  for (int j = fg.nOps - 1; j >= 0; --j) mlirOperationDestroy(fg.ops[j]);
  cubeBufFree(&name);
  return true;
}

/* Outlines a chain of ops into ONE kernel function {cube.kernel = "cube.add+cube.rmsnorm"}: its inputs are
 * the operands the chain does not compute (cubeKernelRegistryPatternIO), its outs `out` (results of the
 * chain's ops), its body the chain's ops; the call takes the last op's place (every outside use of an inner
 * result comes after it). A registered pattern's kernel (e) gets the registry's marking: out is then every
 * result; otherwise it is one of cube's row patterns (GpuRows.c), marked cube.kernel_gpu. */
static void outlineChain(Group *g, const MlirOperation *chain, int n, const MlirValue *out, int nOut,
                         const CubeKernelEntry *e, MlirValue extraIn) {
  MlirValue in[CUBE_REGISTRY_MAX_IN + 1], all[CUBE_REGISTRY_MAX_OUT];
  int nIn, nAll;
  MlirOperation last = chain[n - 1];
  MlirLocation loc = mlirOperationGetLocation(last);
  cubeKernelRegistryPatternIO(chain, n, in, &nIn, all, &nAll); /* matched: within the caps */
  if (!mlirValueIsNull(extraIn)) in[nIn++] = extraIn; /* an input the body does not read (the dS kernel's O) */
  MlirType types[CUBE_KERNEL_MAX_ARGS];
  MlirValue args[CUBE_KERNEL_MAX_ARGS];
  MlirLocation locs[CUBE_KERNEL_MAX_ARGS];
  for (int i = 0; i < nIn + nOut; ++i) {
    types[i] = mlirValueGetType(i < nIn ? in[i] : out[i - nIn]);
    args[i] = i < nIn ? in[i] : (MlirValue){NULL};
    locs[i] = loc;
  }
  MlirBlock block = mlirBlockCreate(nIn + nOut, types, locs);
  MlirOperation clones[8];
  CubeBuf kernel = {0};
  int arg = 0;
  for (int j = 0; j < n; ++j) {
    clones[j] = mlirOperationClone(chain[j]);
    for (intptr_t i = 0; i < mlirOperationGetNumOperands(chain[j]); ++i) {
      MlirValue v = mlirOperationGetOperand(chain[j], i);
      bool inner = false;
      for (int p = 0; p < j && !inner; ++p)
        for (intptr_t r = 0; r < mlirOperationGetNumResults(chain[p]) && !inner; ++r)
          if ((inner = mlirValueEqual(mlirOperationGetResult(chain[p], r), v)))
            mlirOperationSetOperand(clones[j], i, mlirOperationGetResult(clones[p], r));
      if (!inner) mlirOperationSetOperand(clones[j], i, mlirBlockGetArgument(block, arg++));
    }
    mlirBlockAppendOwnedOperation(block, clones[j]);
    MlirStringRef on = mlirIdentifierStr(mlirOperationGetName(chain[j]));
    cubeBufPrintf(&kernel, "%s%.*s", j ? "+" : "", (int)on.length, on.data);
  }
  MlirOperationState rs = mlirOperationStateGet(CUBE_STR("func.return"), loc);
  for (int k = 0; k < nOut; ++k)
    for (int j = 0; j < n; ++j)
      for (intptr_t r = 0; r < mlirOperationGetNumResults(chain[j]); ++r)
        if (mlirValueEqual(mlirOperationGetResult(chain[j], r), out[k])) {
          MlirValue v = mlirOperationGetResult(clones[j], r);
          mlirOperationStateAddOperands(&rs, 1, &v);
        }
  mlirBlockAppendOwnedOperation(block, mlirOperationCreate(&rs));
  char base[64];
  snprintf(base, sizeof base, e ? "k%d_registered" : "k%d_rows", g->count++);
  CubeBuf name = {0};
  cubeFreshSymbol(g->module, base, &name);
  MlirOperation fn = kernelFunc(loc, block, cubeBufStr(&name), CUBE_STR(cubeBufStr(&kernel)), nIn, 0, nOut, types);
  if (e)
    cubeKernelRegistryMark(e, fn);
  else
    mlirOperationSetAttributeByName(fn, CUBE_STR(CUBE_ATTR_KERNEL_GPU), mlirUnitAttrGet(mlirOperationGetContext(fn)));
  MlirOperation call = placeKernel(g, fn, cubeBufStr(&name), last, CUBE_STR(cubeBufStr(&kernel)), last, nIn, 0, nOut,
                                   nOut, types, args);
  for (int k = 0; k < nOut; ++k) mlirValueReplaceAllUsesOfWith(out[k], mlirOperationGetResult(call, k));
  for (int j = n - 1; j >= 0; --j) mlirOperationDestroy(chain[j]);
  cubeBufFree(&name);
  cubeBufFree(&kernel);
}

/* Every chain that a registered pattern matches becomes its kernel, before the one-op kernels. After each
 * match the scan starts again at the top: the ops between the chain's first and last op are not yet
 * scanned, and the chain's ops are gone. */
static bool outlinePatterns(Group *g, MlirBlock entry) {
  for (MlirOperation op = mlirBlockGetFirstOperation(entry); !mlirOperationIsNull(op);) {
    MlirOperation chain[8];
    int n = 0;
    const CubeKernelEntry *e = NULL;
    char err[2048], msg[2200];
    if (!cubeKernelRegistryMatchPattern(g->registry, op, chain, &n, &e, err, sizeof err)) {
      snprintf(msg, sizeof msg, "cube-group-kernels: kernel registry: %s", err);
      mlirEmitError(mlirOperationGetLocation(op), msg);
      return false;
    }
    if (!e) {
      op = mlirOperationGetNextInBlock(op);
      continue;
    }
    MlirValue in[CUBE_REGISTRY_MAX_IN], out[CUBE_REGISTRY_MAX_OUT];
    int nIn, nOut;
    cubeKernelRegistryPatternIO(chain, n, in, &nIn, out, &nOut);
    outlineChain(g, chain, n, out, nOut, e, (MlirValue){NULL});
    op = mlirBlockGetFirstOperation(entry);
  }
  return true;
}

static bool sameTypes(MlirOperation op) {
  MlirType t = mlirValueGetType(mlirOperationGetResult(op, 0));
  for (intptr_t i = 0; i < mlirOperationGetNumOperands(op); ++i)
    if (!mlirTypeEqual(mlirValueGetType(mlirOperationGetOperand(op, i)), t)) return false;
  return true;
}

static bool onlyUse(MlirValue v, MlirOperation user);

/* A two-operand cube.matmul, not in a cube-fuse group, with these transpose flags. */
static bool matmulAs(MlirOperation op, bool lhsT, bool rhsT) {
  bool tl = false, tr = false;
  if (!cubeIsOp(op, "matmul") || mlirOperationGetNumOperands(op) != 2 || cubeHasAttr(op, CUBE_ATTR_FUSE_GROUP))
    return false;
  cubeGetBoolAttr(op, "transpose_lhs", &tl);
  cubeGetBoolAttr(op, "transpose_rhs", &tr);
  return tl == lhsT && tr == rhsT;
}

/* An attention's causal softmax over [BH, R, S] scores: along the last dim, causal_period = S. */
static bool causalSoftmax(MlirOperation sm) {
  int64_t period = 0, dim = -1;
  cubeGetI64Attr(sm, "dim", &dim);
  return cubeIsOp(sm, "softmax") && cubeGetI64Attr(sm, "causal_period", &period) && (dim == 2 || dim == -1) &&
         period == mlirShapedTypeGetDimSize(mlirValueGetType(mlirOperationGetResult(sm, 0)), 2);
}

/* The attention gradient's dS (cube-attention-to-matmul's form): softmax_grad(P, dP) with dP = matmul(dO, V)
 * {transpose_rhs} read by nothing else, P = softmax(S){causal_period = S} and O = matmul(P, V) among P's
 * readers: returns dP's matmul and sets *o; else null. */
static MlirOperation attentionDs(MlirOperation sg, MlirValue *o) {
  MlirValue p = mlirOperationGetOperand(sg, 0), dp = mlirOperationGetOperand(sg, 1);
  MlirOperation none = {NULL};
  if (!mlirValueIsAOpResult(dp) || !mlirValueIsAOpResult(p) || !onlyUse(dp, sg)) return none;
  MlirOperation mm = mlirOpResultGetOwner(dp);
  if (!matmulAs(mm, false, true) || !causalSoftmax(mlirOpResultGetOwner(p)) || !cubeGpuAttentionDsApplies(mm, sg))
    return none;
  MlirValue v = mlirOperationGetOperand(mm, 1);
  for (MlirOpOperand u = mlirValueGetFirstUse(p); !mlirOpOperandIsNull(u); u = mlirOpOperandGetNextUse(u)) {
    MlirOperation pv = mlirOpOperandGetOwner(u);
    if (!matmulAs(pv, false, false) || mlirOpOperandGetOperandNumber(u) != 0 ||
        !mlirValueEqual(mlirOperationGetOperand(pv, 1), v) || !mlirBlockEqual(mlirOperationGetBlock(pv), mlirOperationGetBlock(sg)) ||
        !mlirOperationIsBeforeInBlock(pv, sg))
      continue;
    *o = mlirOperationGetResult(pv, 0);
    return mm;
  }
  return none;
}

/* A recomputed attention (cube-attention-to-matmul's form): P = softmax(S){causal_period = S's last dim, scale}
 * with S = matmul(q, k){transpose_rhs} read by nothing else, and O = matmul(P, v) with every other reader of P
 * after it: chain[0..2] = the three ops; false otherwise. */
static bool attentionProbs(MlirOperation sm, MlirOperation *chain) {
  MlirValue sv = mlirOperationGetOperand(sm, 0), p = mlirOperationGetResult(sm, 0);
  if (!mlirValueIsAOpResult(sv) || !onlyUse(sv, sm) || !causalSoftmax(sm)) return false;
  MlirOperation mq = mlirOpResultGetOwner(sv);
  if (!matmulAs(mq, false, true) || !cubeGpuAttentionProbsApplies(mq, sm)) return false;
  for (MlirOpOperand u = mlirValueGetFirstUse(p); !mlirOpOperandIsNull(u); u = mlirOpOperandGetNextUse(u)) {
    MlirOperation pv = mlirOpOperandGetOwner(u);
    if (!matmulAs(pv, false, false) || mlirOpOperandGetOperandNumber(u) != 0 ||
        !mlirBlockEqual(mlirOperationGetBlock(pv), mlirOperationGetBlock(sm)) ||
        !mlirTypeEqual(mlirValueGetType(mlirOperationGetOperand(pv, 1)), mlirValueGetType(mlirOperationGetOperand(mq, 1))) ||
        !cubeUsesAfter(p, pv, pv, NULL))
      continue;
    chain[0] = mq, chain[1] = sm, chain[2] = pv;
    return true;
  }
  return false;
}

/* cube's own row patterns on target=cuda (GpuRows.c), after the registered ones: an rmsnorm whose input is a
 * residual add's sum becomes one add + rmsnorm kernel (the sum an out when anything else reads it); an
 * rmsnorm_grad whose dx only an add reads, and whose dw nothing reads (a frozen norm weight), becomes one
 * rmsnorm_grad + add kernel. Adds in a cube-fuse group are left to it. Each saves a launch and a pass over
 * the [rows, H] sum. Ops that a user-registered kernel takes are left to it. */
static void outlineRowPatterns(Group *g, MlirBlock entry) {
  for (MlirOperation op = mlirBlockGetFirstOperation(entry); !mlirOperationIsNull(op);) {
    MlirOperation next = mlirOperationGetNextInBlock(op), chain[2] = {{NULL}, {NULL}};
    MlirValue out[2], extra = {NULL};
    int nOut = 0;
    bool any = false;
    if (cubeIsOp(op, "rmsnorm") && mlirValueIsAOpResult(mlirOperationGetOperand(op, 0))) {
      MlirOperation add = mlirOpResultGetOwner(mlirOperationGetOperand(op, 0));
      MlirValue sum = mlirOperationGetOperand(op, 0);
      if (cubeIsOp(add, "add") && !cubeHasAttr(add, CUBE_ATTR_FUSE_GROUP) && sameTypes(add) &&
          mlirBlockEqual(mlirOperationGetBlock(add), entry) && cubeUsesAfter(sum, op, op, &any) &&
          cubeGpuRowPatternApplies(add, op, any)) {
        chain[0] = add, chain[1] = op;
        if (any) out[nOut++] = sum;
        out[nOut++] = mlirOperationGetResult(op, 0);
      }
    } else if (cubeIsOp(op, "rmsnorm_grad") && mlirOperationGetNumResults(op) == 2 &&
               mlirOpOperandIsNull(mlirValueGetFirstUse(mlirOperationGetResult(op, 1)))) {
      MlirOpOperand u = mlirValueGetFirstUse(mlirOperationGetResult(op, 0));
      MlirOperation add = mlirOpOperandIsNull(u) ? (MlirOperation){NULL} : mlirOpOperandGetOwner(u);
      if (!mlirOperationIsNull(add) && mlirOpOperandIsNull(mlirOpOperandGetNextUse(u)) && cubeIsOp(add, "add") &&
          !cubeHasAttr(add, CUBE_ATTR_FUSE_GROUP) && sameTypes(add) && mlirBlockEqual(mlirOperationGetBlock(add), entry) &&
          !mlirValueEqual(mlirOperationGetOperand(add, 0), mlirOperationGetOperand(add, 1)) &&
          cubeGpuRowPatternApplies(op, add, false)) {
        chain[0] = op, chain[1] = add;
        out[nOut++] = mlirOperationGetResult(add, 0);
      }
    }
    else if (cubeIsOp(op, "softmax_grad")) {
      MlirOperation dp = attentionDs(op, &extra);
      if (!mlirOperationIsNull(dp)) {
        chain[0] = dp, chain[1] = op;
        out[nOut++] = mlirOperationGetResult(op, 0);
      }
    }
    /* a user-registered one-op kernel comes first */
    if (nOut && (cubeKernelRegistryTakes(g->registry, chain[0]) || cubeKernelRegistryTakes(g->registry, chain[1])))
      nOut = 0;
    if (nOut) {
      if (mlirOperationEqual(next, chain[1])) next = mlirOperationGetNextInBlock(next);
      outlineChain(g, chain, 2, out, nOut, NULL, extra);
    }
    op = next;
  }
  /* then the recomputed attentions (after the dS kernels, which name their O: the new kernel's O replaces it) */
  for (MlirOperation op = mlirBlockGetFirstOperation(entry); !mlirOperationIsNull(op);) {
    MlirOperation next = mlirOperationGetNextInBlock(op), chain[3];
    if (cubeIsOp(op, "softmax") && attentionProbs(op, chain) && !cubeKernelRegistryTakes(g->registry, chain[0]) &&
        !cubeKernelRegistryTakes(g->registry, op) && !cubeKernelRegistryTakes(g->registry, chain[2])) {
      MlirValue out[2] = {mlirOperationGetResult(op, 0), mlirOperationGetResult(chain[2], 0)};
      while (!mlirOperationIsNull(next) && (mlirOperationEqual(next, chain[2])))
        next = mlirOperationGetNextInBlock(next);
      outlineChain(g, chain, 3, out, 2, NULL, (MlirValue){NULL});
    }
    op = next;
  }
}

/* A GEMM epilogue: `scale(gemm(...)) {factor}` where the scale is the GEMM result's only use becomes the GEMM
 * with cube.gemm_alpha = factor (cuBLASLt's alpha: alpha * A B, rounded once): no kernel, no launch. The
 * attention gradient's dq and dk are such scales on target=cuda. */
static bool foldScaleIntoGemm(MlirOperation op) {
  double factor = 0, alpha = 1.0;
  if (!cubeIsOp(op, "scale") || !cubeGetF64Attr(op, "factor", &factor)) return false;
  MlirValue x = mlirOperationGetOperand(op, 0), y = mlirOperationGetResult(op, 0);
  if (!mlirValueIsAOpResult(x) || !mlirTypeEqual(mlirValueGetType(x), mlirValueGetType(y))) return false;
  MlirOperation gemm = mlirOpResultGetOwner(x);
  MlirOpOperand use = mlirValueGetFirstUse(x);
  if (!cubeHasAttr(gemm, CUBE_ATTR_GEMM) || mlirOpOperandIsNull(use) ||
      !mlirOpOperandIsNull(mlirOpOperandGetNextUse(use)))
    return false;
  cubeGetF64Attr(gemm, CUBE_ATTR_GEMM_ALPHA, &alpha);
  mlirOperationSetAttributeByName(gemm, CUBE_STR(CUBE_ATTR_GEMM_ALPHA),
                                  mlirFloatAttrDoubleGet(mlirOperationGetContext(op),
                                                         mlirF64TypeGet(mlirOperationGetContext(op)), alpha * factor));
  mlirValueReplaceAllUsesOfWith(y, x);
  mlirOperationDestroy(op);
  return true;
}

static bool onlyUse(MlirValue v, MlirOperation user) {
  MlirOpOperand u = mlirValueGetFirstUse(v);
  return !mlirOpOperandIsNull(u) && mlirOperationEqual(mlirOpOperandGetOwner(u), user) &&
         mlirOpOperandIsNull(mlirOpOperandGetNextUse(u));
}

/* A GEMM epilogue: `add(x, gemm)` (or `add(gemm, x)`) where the add is the only use of both, x is computed by a
 * kernel call or another GEMM before the GEMM, and all three types agree, stays a cube.add marked
 * cube.gemm_accumulate: the plan runs the GEMM with beta = 1 into x's buffer (cuBLASLt's C = A B + C) and the
 * add costs no launch (a LoRA target's base output plus its B product). x is never a parameter or an input:
 * its buffer is overwritten. */
static bool markGemmAccumulate(MlirOperation op) {
  if (!cubeIsOp(op, "add") || cubeHasAttr(op, CUBE_ATTR_FUSE_GROUP)) return false;
  MlirType t = mlirValueGetType(mlirOperationGetResult(op, 0));
  for (int k = 0; k < 2; ++k) {
    MlirValue y = mlirOperationGetOperand(op, k), x = mlirOperationGetOperand(op, 1 - k);
    if (!mlirValueIsAOpResult(x) || !mlirValueIsAOpResult(y) || !mlirTypeEqual(mlirValueGetType(x), t) ||
        !mlirTypeEqual(mlirValueGetType(y), t))
      continue;
    MlirOperation gemm = mlirOpResultGetOwner(y), def = mlirOpResultGetOwner(x);
    bool computed = cubeOpNameIs(def, "func.call") || cubeHasAttr(def, CUBE_ATTR_GEMM);
    if (!cubeHasAttr(gemm, CUBE_ATTR_GEMM) || !computed || !onlyUse(x, op) || !onlyUse(y, op) ||
        !mlirBlockEqual(mlirOperationGetBlock(def), mlirOperationGetBlock(gemm)) ||
        !mlirOperationIsBeforeInBlock(def, gemm))
      continue;
    mlirOperationSetAttributeByName(op, CUBE_STR(CUBE_ATTR_GEMM_ACC), mlirUnitAttrGet(mlirOperationGetContext(op)));
    return true;
  }
  return false;
}

static bool groupOp(Group *g, MlirOperation op) {
  MlirLocation loc = mlirOperationGetLocation(op);
  char msg[512];
  if (cubeOpNameIs(op, "func.return") || cubeIsOp(op, "param") || cubeIsOp(op, "opt_state") ||
      cubeIsOp(op, "reshape") || cubeIsOp(op, "all_reduce")) /* all_reduce: a collective step of the plan */
    return true;
  if (cubeIsCheckpoint(op) || cubeIsOp(op, "dropout")) {
    mlirEmitError(loc, "cube-group-kernels: @forward still has checkpoints or dropout; run cube-prepare-forward first");
    return false;
  }
  /* a registered pattern's kernel call (outlinePatterns) and its out buffers */
  if (cubeOpNameIs(op, "tensor.empty") || (cubeOpNameIs(op, "func.call") && cubeHasAttr(op, CUBE_ATTR_STEP_OP))) return true;
  /* x * 1.0 is x, bit for bit (LoRA with alpha == r scales by 1.0, and so does its gradient): no kernel. */
  double factor = 0;
  if (cubeIsOp(op, "scale") && cubeGetF64Attr(op, "factor", &factor) && factor == 1.0 &&
      mlirTypeEqual(mlirValueGetType(mlirOperationGetOperand(op, 0)), mlirValueGetType(mlirOperationGetResult(op, 0)))) {
    mlirValueReplaceAllUsesOfWith(mlirOperationGetResult(op, 0), mlirOperationGetOperand(op, 0));
    mlirOperationDestroy(op);
    return true;
  }
  if (foldScaleIntoGemm(op) || (g->target == CUBE_TARGET_CUDA && markGemmAccumulate(op))) return true;
  const KernelSpec *spec = cubeIsCubeOp(op) ? cubeKernelSpecFor(op) : NULL;
  if (spec && mlirOperationGetNumResults(op) == 1) {
    /* Zero-sized tensors: an empty result needs no kernel (its buffer is never read); an empty operand of
     * a non-empty result is not supported (bare-pointer memrefs with a zero dim do not lower). */
    MlirType rt = mlirValueGetType(mlirOperationGetResult(op, 0));
    bool emptyOperand = false;
    for (intptr_t i = 0; i < mlirOperationGetNumOperands(op); ++i)
      emptyOperand |= kgNumElements(mlirValueGetType(mlirOperationGetOperand(op, i))) == 0;
    if (cubeIsStaticTensor(rt) && kgNumElements(rt) == 0) {
      MlirOperation e = cubeInsertBefore(op, buildEmpty(loc, rt));
      mlirValueReplaceAllUsesOfWith(mlirOperationGetResult(op, 0), mlirOperationGetResult(e, 0));
      mlirOperationDestroy(op);
      return true;
    }
    if (emptyOperand) {
      MlirStringRef n = mlirIdentifierStr(mlirOperationGetName(op));
      snprintf(msg, sizeof msg, "cube-group-kernels: '%.*s' has an operand with no elements but a result with "
               "some; zero-sized operands are not supported", (int)n.length, n.data);
      mlirEmitError(loc, msg);
      return false;
    }
  }
  if (spec && (cubeIsOp(op, "linear") || cubeIsOp(op, "matmul")) && g->target == CUBE_TARGET_CUDA) {
    mlirOperationSetAttributeByName(op, CUBE_STR(CUBE_ATTR_GEMM), mlirUnitAttrGet(mlirOperationGetContext(op)));
    return true;
  }
  if (!spec) {
    MlirStringRef n = mlirIdentifierStr(mlirOperationGetName(op));
    snprintf(msg, sizeof msg, "cube-group-kernels: no kernel for '%.*s' in @forward (already grouped?)",
             (int)n.length, n.data);
    mlirEmitError(loc, msg);
    return false;
  }
  if (g->target == CUBE_TARGET_CUDA && cubeIsOp(op, "rmsnorm_grad") && mlirOperationGetNumResults(op) == 2 &&
      mlirOpOperandIsNull(mlirValueGetFirstUse(mlirOperationGetResult(op, 1))))
    mlirOperationSetAttributeByName(op, CUBE_STR(CUBE_ATTR_DWEIGHT_UNUSED), mlirUnitAttrGet(mlirOperationGetContext(op)));
  return outline(g, op, spec);
}

static MlirLogicalResult runGroup(MlirOperation module, const CubeOptionValue *options) {
  char err[512];
  Group g = {.module = module};
  if (!cubeParseTarget(options[OPT_TARGET].s, &g.target, err, sizeof err)) {
    char msg[600];
    snprintf(msg, sizeof msg, "cube-group-kernels: %s", err);
    mlirEmitError(mlirOperationGetLocation(module), msg);
    return mlirLogicalResultFailure();
  }
  g.forward = cubeFindProgram(module, options[OPT_FUNC].s, err, sizeof err);
  if (mlirOperationIsNull(g.forward)) {
    char msg[600];
    snprintf(msg, sizeof msg, "cube-group-kernels: %s", err);
    mlirEmitError(mlirOperationGetLocation(module), msg);
    return mlirLogicalResultFailure();
  }
  if (cubeHasAttr(module, CUBE_ATTR_TARGET)) {
    mlirEmitError(mlirOperationGetLocation(module), "cube-group-kernels: the module is already grouped");
    return mlirLogicalResultFailure();
  }
  const char *dir = *options[OPT_REGISTRY].s ? options[OPT_REGISTRY].s : cubeKernelRegistryDefault();
  char rerr[2048];
  if (g.target == CUBE_TARGET_CUDA &&
      !cubeKernelRegistryLoad(mlirOperationGetContext(module), dir, &g.registry, rerr, sizeof rerr)) {
    char msg[2200];
    snprintf(msg, sizeof msg, "cube-group-kernels: kernel registry: %s", rerr);
    mlirEmitError(mlirOperationGetLocation(module), msg);
    return mlirLogicalResultFailure();
  }
  g.lastFunc = g.forward;
  MlirBlock entry;
  cubeFuncEntryBlock(g.forward, &entry);
  bool ok = !g.registry || outlinePatterns(&g, entry);
  if (ok && g.target == CUBE_TARGET_CUDA && options[OPT_ROW_PATTERNS].b) outlineRowPatterns(&g, entry);
  for (MlirOperation op = mlirBlockGetFirstOperation(entry); ok && !mlirOperationIsNull(op);) {
    MlirOperation next = mlirOperationGetNextInBlock(op);
    if (cubeHasAttr(op, CUBE_ATTR_FUSE_GROUP)) ok = outlineFused(&g, op, &next) && ok; /* a cube-fuse group */
    else ok = groupOp(&g, op) && ok;
    op = next;
  }
  free(g.fuseIds);
  cubeKernelDedupFree(g.dedup);
  cubeKernelRegistryFree(g.registry);
  if (!ok) return mlirLogicalResultFailure();
  cubeSetStrAttr(module, CUBE_ATTR_TARGET, g.target == CUBE_TARGET_CUDA ? "cuda" : "cpu");
  MlirAttribute sym = mlirOperationGetAttributeByName(g.forward, CUBE_STR("sym_name"));
  if (!mlirAttributeIsNull(sym) && mlirAttributeIsAString(sym)) {
    MlirStringRef nm = mlirStringAttrGetValue(sym);
    char buf[256];
    snprintf(buf, sizeof buf, "%.*s", (int)nm.length, nm.data);
    cubeSetStrAttr(module, CUBE_ATTR_PROGRAM, buf);
  }
  return mlirLogicalResultSuccess();
}

const CubePassInfo cubeGroupKernelsPassInfo = {
    .argument = "cube-group-kernels",
    .description = "Outline every compute op of @forward into a kernel function (one per op, one per cube-fuse "
                   "group); GEMMs on cuda",
    .anchor = "builtin.module",
    .options = kOptions,
    .nOptions = sizeof kOptions / sizeof kOptions[0],
    .run = runGroup,
};
