/* The pieces of fusion that cube-fuse, cube-group-kernels and the fused kernel generators share
 * (cube/Fuse.h): which ops may be fused, a group's inputs and outputs, reading a marked group back, and
 * reading a fused kernel function's body. */
#include "cube/Fuse.h"

#include <stdio.h>
#include <string.h>

#include "cube/GpuKernels.h"
#include "cube/KernelGen.h"
#include "cube/Ops.h"
#include "cube/Rewrite.h"
#include "mlir-c/BuiltinTypes.h"

static const char *const kUnary[] = {"neg", "exp", "rsqrt", "silu", "scale", "cast"};
static const char *const kBinary[] = {"add", "sub", "mul", "div", "minimum", "silu_grad"};

static int arity(MlirOperation op) {
  for (size_t i = 0; i < sizeof kUnary / sizeof *kUnary; ++i)
    if (cubeIsOp(op, kUnary[i])) return 1;
  for (size_t i = 0; i < sizeof kBinary / sizeof *kBinary; ++i)
    if (cubeIsOp(op, kBinary[i])) return 2;
  return 0;
}

static bool floatTensor(MlirType t, int64_t n) {
  if (!cubeIsStaticTensor(t) || cubeTensorNumElements(t) != n) return false;
  MlirType e = mlirShapedTypeGetElementType(t);
  return mlirTypeIsAF32(e) || mlirTypeIsABF16(e) || mlirTypeIsAF16(e);
}

bool cubeFuseOpFusable(MlirOperation op) {
  int n = arity(op);
  if (!n || mlirOperationGetNumOperands(op) != n || mlirOperationGetNumResults(op) != 1 ||
      cubeHasAttr(op, CUBE_ATTR_KERNEL_GPU) || cubeHasAttr(op, "cube.gemm"))
    return false;
  const KernelSpec *spec = cubeKernelSpecFor(op);
  if (!spec || spec->nInplace) return false;
  MlirType rt = mlirValueGetType(mlirOperationGetResult(op, 0));
  int64_t count = cubeIsStaticTensor(rt) ? cubeTensorNumElements(rt) : 0;
  if (count <= 0 || !floatTensor(rt, count)) return false;
  for (int i = 0; i < n; ++i)
    if (!floatTensor(mlirValueGetType(mlirOperationGetOperand(op, i)), count)) return false;
  return true;
}

bool cubeFuseIsIdentity(MlirOperation op) {
  double f = 0;
  return cubeIsOp(op, "scale") && cubeGetF64Attr(op, "factor", &f) && f == 1.0 &&
         mlirOperationGetNumOperands(op) == 1 && mlirOperationGetNumResults(op) == 1 &&
         mlirTypeEqual(mlirValueGetType(mlirOperationGetOperand(op, 0)),
                       mlirValueGetType(mlirOperationGetResult(op, 0)));
}

int cubeFuseIndexOf(const MlirValue *vals, int n, MlirValue v) {
  for (int i = 0; i < n; ++i)
    if (mlirValueEqual(vals[i], v)) return i;
  return -1;
}

static bool inGroup(const CubeFuseGroup *g, MlirOperation op) {
  for (int i = 0; i < g->nOps; ++i)
    if (mlirOperationEqual(g->ops[i], op)) return true;
  return false;
}

bool cubeFuseGroupIO(CubeFuseGroup *g) {
  g->nIn = g->nOut = 0;
  g->n = g->nOps ? cubeTensorNumElements(mlirValueGetType(mlirOperationGetResult(g->ops[0], 0))) : 0;
  for (int j = 0; j < g->nOps; ++j) {
    for (intptr_t i = 0; i < mlirOperationGetNumOperands(g->ops[j]); ++i) {
      MlirValue v = mlirOperationGetOperand(g->ops[j], i);
      if (mlirValueIsAOpResult(v) && inGroup(g, mlirOpResultGetOwner(v))) continue;
      int known = cubeFuseIndexOf(g->in, g->nIn < CUBE_FUSE_MAX_INPUTS ? g->nIn : CUBE_FUSE_MAX_INPUTS, v);
      if (known >= 0) continue;
      if (g->nIn < CUBE_FUSE_MAX_INPUTS) g->in[g->nIn] = v;
      g->nIn++;
    }
    MlirValue r = mlirOperationGetResult(g->ops[j], 0);
    bool outside = mlirOpOperandIsNull(mlirValueGetFirstUse(r));
    for (MlirOpOperand u = mlirValueGetFirstUse(r); !outside && !mlirOpOperandIsNull(u); u = mlirOpOperandGetNextUse(u))
      outside = !inGroup(g, mlirOpOperandGetOwner(u));
    if (!outside) continue;
    if (g->nOut < CUBE_FUSE_MAX_OUTPUTS) g->out[g->nOut] = r;
    g->nOut++;
  }
  return g->nOut >= 1 && g->nIn <= CUBE_FUSE_MAX_INPUTS && g->nOut <= CUBE_FUSE_MAX_OUTPUTS;
}

static void opName(MlirOperation op, char *buf, size_t n) {
  MlirStringRef s = mlirIdentifierStr(mlirOperationGetName(op));
  snprintf(buf, n, "%.*s", (int)s.length, s.data);
}

bool cubeFuseGroupAt(MlirOperation first, CubeFuseGroup *g, int64_t *id, MlirOperation *after, char *err,
                     size_t errSize) {
  g->nOps = 0;
  *after = mlirOperationGetNextInBlock(first);
  if (!cubeGetI64Attr(first, CUBE_ATTR_FUSE_GROUP, id)) {
    snprintf(err, errSize, "cube.fuse_group must be an integer");
    return false;
  }
  int count = 0;
  MlirOperation op = first;
  for (int64_t other; !mlirOperationIsNull(op) && cubeGetI64Attr(op, CUBE_ATTR_FUSE_GROUP, &other) && other == *id;
       op = mlirOperationGetNextInBlock(op)) {
    if (count < CUBE_FUSE_MAX_OPS) g->ops[count] = op;
    count++;
  }
  *after = op;
  if (count > CUBE_FUSE_MAX_OPS) {
    snprintf(err, errSize, "fuse group %lld has %d ops (at most %d)", (long long)*id, count, CUBE_FUSE_MAX_OPS);
    return false;
  }
  g->nOps = count;
  char name[64];
  for (int j = 0; j < count; ++j) {
    if (!cubeFuseOpFusable(g->ops[j])) {
      opName(g->ops[j], name, sizeof name);
      snprintf(err, errSize, "fuse group %lld: '%s' cannot be fused (only elementwise f32/bf16/f16 ops without "
               "broadcasting)", (long long)*id, name);
      return false;
    }
  }
  bool ok = cubeFuseGroupIO(g);
  for (int j = 1; j < count; ++j) {
    if (cubeTensorNumElements(mlirValueGetType(mlirOperationGetResult(g->ops[j], 0))) != g->n) {
      snprintf(err, errSize, "fuse group %lld: its ops have different numbers of elements", (long long)*id);
      return false;
    }
  }
  if (!ok) {
    snprintf(err, errSize, "fuse group %lld has %d inputs and %d outputs (at most %d and %d, and at least one output)",
             (long long)*id, g->nIn, g->nOut, CUBE_FUSE_MAX_INPUTS, CUBE_FUSE_MAX_OUTPUTS);
    return false;
  }
  return true;
}

bool cubeIsFusedKernel(MlirOperation fn) {
  MlirStringRef k;
  return cubeOpNameIs(fn, "func.func") && cubeGetStrAttr(fn, "cube.kernel", &k) && cubeRefEq(k, CUBE_FUSED_KERNEL);
}

bool cubeFusedKernelBody(MlirOperation fn, CubeFuseGroup *g, char *err, size_t errSize) {
  MlirBlock entry;
  int64_t nIn = -1;
  g->nOps = g->nIn = g->nOut = 0;
  if (!cubeFuncEntryBlock(fn, &entry) || !cubeGetI64Attr(fn, "cube.kernel_inputs", &nIn) || nIn < 1 ||
      nIn > CUBE_FUSE_MAX_INPUTS || mlirBlockGetNumArguments(entry) < nIn) {
    snprintf(err, errSize, "a fused kernel needs a body and 1 to %d inputs", CUBE_FUSE_MAX_INPUTS);
    return false;
  }
  g->nIn = (int)nIn;
  for (int i = 0; i < g->nIn; ++i) g->in[i] = mlirBlockGetArgument(entry, i);
  for (MlirOperation op = mlirBlockGetFirstOperation(entry); !mlirOperationIsNull(op); op = mlirOperationGetNextInBlock(op)) {
    if (cubeOpNameIs(op, "func.return")) {
      intptr_t n = mlirOperationGetNumOperands(op);
      if (n < 1 || n > CUBE_FUSE_MAX_OUTPUTS) break;
      for (intptr_t i = 0; i < n; ++i) g->out[g->nOut++] = mlirOperationGetOperand(op, i);
      break;
    }
    if (g->nOps == CUBE_FUSE_MAX_OPS || !cubeFuseOpFusable(op)) {
      snprintf(err, errSize, "a fused kernel holds at most %d fusable elementwise ops", CUBE_FUSE_MAX_OPS);
      return false;
    }
    for (intptr_t i = 0; i < mlirOperationGetNumOperands(op); ++i) {
      MlirValue v = mlirOperationGetOperand(op, i);
      bool ok = cubeFuseIndexOf(g->in, g->nIn, v) >= 0;
      for (int j = 0; !ok && j < g->nOps; ++j) ok = mlirValueEqual(mlirOperationGetResult(g->ops[j], 0), v);
      if (!ok) {
        snprintf(err, errSize, "an op of a fused kernel reads a value that is neither an input nor an earlier result");
        return false;
      }
    }
    g->ops[g->nOps++] = op;
  }
  if (!g->nOps || !g->nOut) {
    snprintf(err, errSize, "a fused kernel needs ops and 1 to %d returned values", CUBE_FUSE_MAX_OUTPUTS);
    return false;
  }
  for (int k = 0; k < g->nOut; ++k) {
    bool ok = false;
    for (int j = 0; !ok && j < g->nOps; ++j) ok = mlirValueEqual(mlirOperationGetResult(g->ops[j], 0), g->out[k]);
    if (!ok) {
      snprintf(err, errSize, "a fused kernel must return results of its ops");
      return false;
    }
  }
  g->n = cubeTensorNumElements(mlirValueGetType(mlirOperationGetResult(g->ops[0], 0)));
  bool same = true;
  for (int j = 0; j < g->nOps; ++j)
    same &= cubeTensorNumElements(mlirValueGetType(mlirOperationGetResult(g->ops[j], 0))) == g->n;
  for (int i = 0; i < g->nIn; ++i) same &= floatTensor(mlirValueGetType(g->in[i]), g->n);
  if (!same) {
    snprintf(err, errSize, "the inputs and ops of a fused kernel must all have the same number of elements");
    return false;
  }
  return true;
}

bool cubeFuseReadLater(const CubeFuseGroup *g, int j) {
  MlirValue r = mlirOperationGetResult(g->ops[j], 0);
  for (int k = j + 1; k < g->nOps; ++k)
    for (intptr_t i = 0; i < mlirOperationGetNumOperands(g->ops[k]); ++i)
      if (mlirValueEqual(mlirOperationGetOperand(g->ops[k], i), r)) return true;
  return false;
}
