/* cube-attention-to-matmul: attention as batched GEMMs around a row softmax, the way HF's eager attention
 * computes it, so that the S x S products run on cuBLASLt (tensor cores for bf16/f16) instead of the fused
 * one-thread-per-row kernel. It trades memory for speed: the [B*Hq, S, S] scores (and, in the gradient, dP)
 * exist for the duration of one attention op.
 *
 * With G = Hq / Hkv, the query heads of one kv head are consecutive, so q viewed as [B*Hkv, G*S, D] and k, v
 * as [B*Hkv, S, D] are free reshapes and GQA needs no copy:
 *   attention(q, k, v):   P = softmax(q k^T {scale, causal})       (cube.matmul transpose_rhs, cube.softmax)
 *                         out = P v
 *   attention_grad(q, k, v, dout):
 *                         P as above; dv = P^T dout; dP = dout v^T; dS = softmax_grad(P, dP)
 *                         dq = scale (dS k); dk = scale (dS^T q)
 * P and dS are in the element type of q (as HF's eager attention in bf16: the softmax is computed in f32
 * and rounded). Every new op keeps the attention's cube.scope and cube.recomputed (cube-cse then merges a
 * recomputed attention's q k^T and softmax with its gradient's). Ops whose shapes do not fit (not rank 4,
 * Hq % Hkv != 0, causal with S != Skv) are left alone. Runs on any function, after cube-autodiff.
 *
 * keep-flash=true leaves a forward attention that is not recomputed (the forward pass's own, also inside a
 * checkpoint's callee) as one op when the tensor-core flash kernel takes it on cuda (bf16, head dim 64,
 * causal: cubeGpuAttentionMmaApplies): its scores never reach memory, and nothing later needs its P (a
 * recomputed copy or the gradient computes its own). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cube/GpuKernels.h"
#include "cube/Ops.h"
#include "cube/Passes.h"
#include "cube/Rewrite.h"
#include "mlir-c/BuiltinAttributes.h"
#include "mlir-c/BuiltinTypes.h"

typedef struct {
  MlirOperation at; /* new ops go before this op */
  MlirContext ctx;
  MlirLocation loc;
  CubeBuf scope;
  bool hasScope, recomputed; /* the attention's cube.recomputed, copied onto every new op */
} B;

static MlirOperation emit(B *b, const char *name, intptr_t n, const MlirValue *ops, MlirType t, intptr_t na,
                          const MlirNamedAttribute *attrs) {
  MlirOperationState st = mlirOperationStateGet(mlirStringRefCreateFromCString(name), b->loc);
  mlirOperationStateAddOperands(&st, n, ops);
  mlirOperationStateAddResults(&st, 1, &t);
  if (na) mlirOperationStateAddAttributes(&st, na, attrs);
  MlirOperation op = mlirOperationCreate(&st);
  mlirBlockInsertOwnedOperationBefore(mlirOperationGetBlock(b->at), b->at, op);
  if (b->hasScope) cubeSetScope(op, cubeBufStr(&b->scope));
  if (b->recomputed) mlirOperationSetAttributeByName(op, mlirStringRefCreateFromCString("cube.recomputed"),
                                                     mlirUnitAttrGet(b->ctx));
  return op;
}

static MlirValue res(MlirOperation op) { return mlirOperationGetResult(op, 0); }

static MlirType tensor3(MlirType elem, int64_t a, int64_t c, int64_t d) {
  int64_t dims[3] = {a, c, d};
  return mlirRankedTensorTypeGet(3, dims, elem, mlirAttributeGetNull());
}

static MlirValue reshape(B *b, MlirValue x, MlirType t) { return res(emit(b, "cube.reshape", 1, &x, t, 0, NULL)); }

static MlirValue matmul(B *b, MlirValue l, MlirValue r, bool tl, bool tr, MlirType t) {
  MlirValue ops[2] = {l, r};
  MlirNamedAttribute a[2];
  intptr_t n = 0;
  if (tl) a[n++] = cubeNamedBool(b->ctx, "transpose_lhs", true);
  if (tr) a[n++] = cubeNamedBool(b->ctx, "transpose_rhs", true);
  return res(emit(b, "cube.matmul", 2, ops, t, n, a));
}

typedef struct {
  int64_t b, hq, hkv, s, skv, d;
  double scale;
  bool causal;
  MlirType elem;
} Dims;

static bool dims(MlirOperation op, Dims *d) {
  MlirType q = mlirValueGetType(mlirOperationGetOperand(op, 0)), k = mlirValueGetType(mlirOperationGetOperand(op, 1));
  if (!cubeIsStaticTensor(q) || !cubeIsStaticTensor(k) || mlirShapedTypeGetRank(q) != 4 ||
      mlirShapedTypeGetRank(k) != 4)
    return false;
  *d = (Dims){mlirShapedTypeGetDimSize(q, 0), mlirShapedTypeGetDimSize(q, 1), mlirShapedTypeGetDimSize(k, 1),
              mlirShapedTypeGetDimSize(q, 2), mlirShapedTypeGetDimSize(k, 2), mlirShapedTypeGetDimSize(q, 3), 1.0,
              false, mlirShapedTypeGetElementType(q)};
  if (d->hkv <= 0 || d->hq % d->hkv || d->d <= 0) return false;
  cubeGetBoolAttr(op, "causal", &d->causal);
  if (d->causal && d->s != d->skv) return false;
  d->scale = pow((double)d->d, -0.5);
  cubeGetF64Attr(op, "scale", &d->scale);
  return true;
}

/* P = softmax(q k^T * scale, causal) as [B*Hkv, G*S, Skv]; also the 3-D views of q and k. */
static MlirValue probs(B *b, const Dims *d, MlirValue q, MlirValue k, MlirValue *q3, MlirValue *k3) {
  int64_t g = d->hq / d->hkv, bh = d->b * d->hkv;
  *q3 = reshape(b, q, tensor3(d->elem, bh, g * d->s, d->d));
  *k3 = reshape(b, k, tensor3(d->elem, bh, d->skv, d->d));
  MlirType st = tensor3(d->elem, bh, g * d->s, d->skv);
  MlirValue scores = matmul(b, *q3, *k3, false, true, st);
  MlirNamedAttribute a[3] = {cubeNamedI64(b->ctx, "dim", 2), cubeNamedF64(b->ctx, "scale", d->scale),
                             cubeNamedI64(b->ctx, "causal_period", d->s)};
  return res(emit(b, "cube.softmax", 1, &scores, st, d->causal ? 3 : 2, a));
}

static MlirValue scaled(B *b, MlirValue x, double f) {
  MlirNamedAttribute a = cubeNamedF64(b->ctx, "factor", f);
  return res(emit(b, "cube.scale", 1, &x, mlirValueGetType(x), 1, &a));
}

static bool rewrite(MlirOperation op) {
  Dims d;
  if (!dims(op, &d)) return false;
  B b = {op, mlirOperationGetContext(op), mlirOperationGetLocation(op), {0}, false,
         cubeHasAttr(op, "cube.recomputed")};
  MlirStringRef scope;
  if ((b.hasScope = cubeGetScope(op, &scope))) cubeBufAppendRef(&b.scope, scope);
  int64_t g = d.hq / d.hkv, bh = d.b * d.hkv;
  MlirValue q = mlirOperationGetOperand(op, 0), k = mlirOperationGetOperand(op, 1), v = mlirOperationGetOperand(op, 2);
  MlirValue q3, k3;
  MlirValue p = probs(&b, &d, q, k, &q3, &k3);
  MlirValue v3 = reshape(&b, v, tensor3(d.elem, bh, d.skv, d.d));
  MlirType qt = mlirValueGetType(q), kt = mlirValueGetType(k);
  if (cubeIsOp(op, "attention")) {
    MlirValue o = matmul(&b, p, v3, false, false, tensor3(d.elem, bh, g * d.s, d.d));
    mlirValueReplaceAllUsesOfWith(res(op), reshape(&b, o, qt));
  } else {
    MlirValue dout = mlirOperationGetOperand(op, 3);
    MlirValue do3 = reshape(&b, dout, tensor3(d.elem, bh, g * d.s, d.d));
    MlirValue dv = matmul(&b, p, do3, true, false, tensor3(d.elem, bh, d.skv, d.d));
    MlirValue dp = matmul(&b, do3, v3, false, true, mlirValueGetType(p));
    MlirValue sg[2] = {p, dp};
    MlirNamedAttribute dim = cubeNamedI64(b.ctx, "dim", 2);
    MlirValue ds = res(emit(&b, "cube.softmax_grad", 2, sg, mlirValueGetType(p), 1, &dim));
    MlirValue dq = scaled(&b, matmul(&b, ds, k3, false, false, tensor3(d.elem, bh, g * d.s, d.d)), d.scale);
    MlirValue dk = scaled(&b, matmul(&b, ds, q3, true, false, tensor3(d.elem, bh, d.skv, d.d)), d.scale);
    mlirValueReplaceAllUsesOfWith(mlirOperationGetResult(op, 0), reshape(&b, dq, qt));
    mlirValueReplaceAllUsesOfWith(mlirOperationGetResult(op, 1), reshape(&b, dk, kt));
    mlirValueReplaceAllUsesOfWith(mlirOperationGetResult(op, 2), reshape(&b, dv, mlirValueGetType(v)));
  }
  cubeBufFree(&b.scope);
  mlirOperationDestroy(op);
  return true;
}

enum { OPT_KEEP_FLASH };

static const CubePassOption kOptions[] = {
    [OPT_KEEP_FLASH] = {"keep-flash", CUBE_OPT_BOOL, "false", "leave forward attentions that are not recomputed "
                        "and that the tensor-core flash kernel takes (bf16, head dim 64, causal) as one op", 0, 0},
};

static MlirLogicalResult runAttentionToMatmul(MlirOperation module, const CubeOptionValue *options) {
  CubeOpList l = {0};
  cubeCollectOps(module, "cube.attention", &l);
  cubeCollectOps(module, "cube.attention_grad", &l);
  for (size_t i = 0; i < l.n; ++i)
    if (!(options[OPT_KEEP_FLASH].b && !cubeHasAttr(l.v[i], "cube.recomputed") && cubeGpuAttentionMmaApplies(l.v[i])))
      rewrite(l.v[i]);
  free(l.v);
  return mlirLogicalResultSuccess();
}

const CubePassInfo cubeAttentionToMatmulPassInfo = {
    .argument = "cube-attention-to-matmul",
    .description = "Rewrite attention and its gradient as batched matmuls around a scaled, causal row softmax "
                   "(HF's eager attention; cuBLASLt for the S x S products, the scores live in memory)",
    .anchor = "builtin.module",
    .options = kOptions,
    .nOptions = sizeof kOptions / sizeof kOptions[0],
    .run = runAttentionToMatmul,
};
