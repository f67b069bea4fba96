/* Kernels of the simple backward ops (docs/dialect.md "Backward and optimizer ops"), all in f32 math:
 *   silu_grad     dout * s * (1 + x (1 - s)), s = sigmoid(x)             one elementwise generic
 *   softmax_grad  y * (dy - sum(dy * y, dim))                            row dot [outer*inner] in scratch
 *   reduce_sum    input.sum(dims)                                        one thread per output element
 *   pad           `value` (default 0) with the input written at offsets  one thread per output element
 *   sumsq         (x.float() ** 2).sum()                                 one reduction (one thread on the GPU)
 * reduce_sum reads the input through an affine map of (output index, reduced index); its reduced loop's
 * bound comes from a scratch [R] (R = the number of summed elements) that is never read. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cube/KernelGen.h"
#include "cube/Ops.h"
#include "mlir-c/BuiltinAttributes.h"
#include "mlir-c/BuiltinTypes.h"

/* ---- silu_grad ---------------------------------------------------------------------------------------- */

bool kgenSiluGrad(KGen *g, MlirOperation op, const KArgs *a) {
  KFlat x = kgFlat(g, "%in0", a->in[0]), dy = kgFlat(g, "%in1", a->in[1]), o = kgFlat(g, "%out", a->out);
  KOperand ins[2] = {{x, "d0"}, {dy, "d0"}}, out = {o, "d0"};
  KBody b = {.g = g};
  KVal xf = kbToF32(&b, kbArg("%bi0"), x.elt), df = kbToF32(&b, kbArg("%bi1"), dy.elt);
  KVal r;
  kbElementwise(&b, op, xf, df, &r);
  KVal y = kbFromF32(&b, r, o.elt);
  KFlat res;
  kgGeneric(g, 1, 2, ins, 1, &out, &b, &y, &res);
  kgReturn(g, res, a->out);
  return true;
}

/* ---- softmax_grad ------------------------------------------------------------------------------------- */

int kscrSoftmaxGrad(MlirOperation op, MlirType *types) {
  MlirType in = mlirValueGetType(mlirOperationGetOperand(op, 0));
  int64_t outer, n, inner;
  kgSplitAtDim(op, in, &outer, &n, &inner);
  types[0] = kgF32Tensor(mlirOperationGetContext(op), outer * inner); /* sum(dy * y) per row */
  return 1;
}

bool kgenSoftmaxGrad(KGen *g, MlirOperation op, const KArgs *a) {
  int64_t outer, n, inner;
  kgSplitAtDim(op, a->in[0], &outer, &n, &inner);
  KFlat y = kgFlat(g, "%in0", a->in[0]), dy = kgFlat(g, "%in1", a->in[1]), o = kgFlat(g, "%out", a->out);
  int64_t dims[3] = {outer, n, inner};
  char xmap[96], row[128];
  snprintf(xmap, sizeof xmap, "d0 floordiv %" PRId64 ", d1, d0 mod %" PRId64, inner, inner);
  KFlat dot = kgFill(g, kgFlat(g, "%s0", a->scratch[0]), "0.0");
  KOperand rin[2] = {{kgView(g, y, 3, dims), xmap}, {kgView(g, dy, 3, dims), xmap}}, rout = {dot, "d0"};
  KBody k = {.g = g};
  KVal yf = kbToF32(&k, kbArg("%bi0"), y.elt), df = kbToF32(&k, kbArg("%bi1"), dy.elt);
  KVal pr = kbOp(&k, "arith.mulf %s, %s : f32", yf.s, df.s);
  KVal acc = kbOp(&k, "arith.addf %%bo0, %s : f32", pr.s);
  kgGeneric(g, 2, 2, rin, 1, &rout, &k, &acc, &dot);

  snprintf(row, sizeof row, "(d0 floordiv %" PRId64 ") * %" PRId64 " + d0 mod %" PRId64, n * inner, inner, inner);
  KOperand ins[3] = {{y, "d0"}, {dy, "d0"}, {dot, row}}, out = {o, "d0"};
  KBody b = {.g = g};
  KVal y2 = kbToF32(&b, kbArg("%bi0"), y.elt), d2 = kbToF32(&b, kbArg("%bi1"), dy.elt);
  KVal diff = kbOp(&b, "arith.subf %s, %%bi2 : f32", d2.s);
  KVal r = kbFromF32(&b, kbOp(&b, "arith.mulf %s, %s : f32", y2.s, diff.s), o.elt);
  KFlat res;
  kgGeneric(g, 1, 3, ins, 1, &out, &b, &r, &res);
  kgReturn(g, res, a->out);
  return true;
}

/* ---- reduce_sum --------------------------------------------------------------------------------------- */

/* The summed dims of reduce_sum as a mask over the input's dims; false when `dims` is not valid. */
static bool reducedMask(MlirOperation op, MlirType in, bool *mask) {
  MlirAttribute d = mlirOperationGetAttributeByName(op, mlirStringRefCreateFromCString("dims"));
  intptr_t r = kgRank(in);
  for (intptr_t i = 0; i < r; ++i) mask[i] = false;
  if (mlirAttributeIsNull(d) || !mlirAttributeIsADenseI64Array(d)) return false;
  for (intptr_t i = 0; i < mlirDenseArrayGetNumElements(d); ++i) {
    int64_t v = mlirDenseI64ArrayGetElement(d, i);
    if (v < 0) v += r;
    if (v < 0 || v >= r) return false;
    mask[v] = true;
  }
  return true;
}

static int64_t reducedCount(MlirType in, const bool *mask) {
  int64_t n = 1;
  for (intptr_t i = 0; i < kgRank(in); ++i)
    if (mask[i]) n *= kgDim(in, i);
  return n;
}

int kscrReduceSum(MlirOperation op, MlirType *types) {
  MlirType in = mlirValueGetType(mlirOperationGetOperand(op, 0));
  bool mask[8] = {false};
  if (kgRank(in) > 8) return 0;
  reducedMask(op, in, mask);
  types[0] = kgF32Tensor(mlirOperationGetContext(op), reducedCount(in, mask)); /* bounds of the summed loop */
  return 1;
}

bool kgenReduceSum(KGen *g, MlirOperation op, const KArgs *a) {
  MlirType in = a->in[0];
  intptr_t r = kgRank(in);
  bool mask[8];
  if (r > 8 || !reducedMask(op, in, mask)) {
    snprintf(g->err, sizeof g->err, "reduce_sum needs 'dims' (array<i64>) of dims of its input (rank <= 8)");
    return false;
  }
  /* input flat index = sum_i idx_i * stride_i, idx_i from d0 (kept dims) or d1 (summed dims) */
  char map[1024] = "0";
  int64_t stride = 1, kStride = 1, rStride = 1;
  for (intptr_t i = r - 1; i >= 0; --i) {
    int64_t n = kgDim(in, i);
    size_t l = strlen(map);
    snprintf(map + l, sizeof map - l, " + ((d%d floordiv %" PRId64 ") mod %" PRId64 ") * %" PRId64, mask[i] ? 1 : 0,
             mask[i] ? rStride : kStride, n, stride);
    if (mask[i]) rStride *= n;
    else kStride *= n;
    stride *= n;
  }
  KFlat x = kgFlat(g, "%in0", in), bound = kgFlat(g, "%s0", a->scratch[0]);
  KFlat o = kgFill(g, kgFlat(g, "%out", a->out), "0.0");
  if (strcmp(o.elt, "f32")) {
    snprintf(g->err, sizeof g->err, "reduce_sum: only f32 results for now (accumulates in its result)");
    return false;
  }
  KOperand ins[2] = {{x, map}, {bound, "d1"}}, out = {o, "d0"};
  KBody b = {.g = g};
  KVal xf = kbToF32(&b, kbArg("%bi0"), x.elt);
  KVal s = kbOp(&b, "arith.addf %%bo0, %s : f32", xf.s);
  KFlat res;
  kgGeneric(g, 2, 2, ins, 1, &out, &b, &s, &res);
  kgReturn(g, res, a->out);
  return true;
}

/* ---- pad ---------------------------------------------------------------------------------------------- */

/* The constant written outside the input, in the element type `elt`: the optional `value` attribute (a float
 * for float tensors, rounded once to the element type; an i64 for integer tensors), 0 when absent. */
static bool padValue(KGen *g, KBody *b, MlirOperation op, const char *elt, KVal *out) {
  MlirAttribute v = mlirOperationGetAttributeByName(op, mlirStringRefCreateFromCString("value"));
  bool isInt = elt[0] == 'i';
  if (!mlirAttributeIsNull(v) && (isInt ? !mlirAttributeIsAInteger(v) : !mlirAttributeIsAFloat(v))) {
    snprintf(g->err, sizeof g->err, "pad's value must be %s attribute for element type %s",
             isInt ? "an integer" : "a float", elt);
    return false;
  }
  if (isInt) {
    int64_t x = mlirAttributeIsNull(v) ? 0 : mlirIntegerAttrGetValueInt(v);
    *out = kbOp(b, "arith.constant %" PRId64 " : %s", x, elt);
  } else {
    *out = kbFromF32(b, kbF32(b, mlirAttributeIsNull(v) ? 0.0f : (float)mlirFloatAttrGetValueDouble(v)), elt);
  }
  return true;
}

bool kgenPad(KGen *g, MlirOperation op, const KArgs *a) {
  MlirType in = a->in[0], ot = a->out;
  intptr_t r = kgRank(in);
  MlirAttribute off = mlirOperationGetAttributeByName(op, mlirStringRefCreateFromCString("offsets"));
  if (mlirAttributeIsNull(off) || !mlirAttributeIsADenseI64Array(off) || mlirDenseArrayGetNumElements(off) != r ||
      kgRank(ot) != r) {
    snprintf(g->err, sizeof g->err, "pad needs 'offsets' (array<i64>, one per dim) and a result of the input's rank");
    return false;
  }
  KFlat x = kgFlat(g, "%in0", in), o = kgFlat(g, "%out", ot);
  KOperand out = {o, "d0"};
  KBody b = {.g = g};
  KVal i = kbOp(&b, "linalg.index 0 : index");
  KVal inside = kbOp(&b, "arith.constant true");
  KVal src = kbIndex(&b, 0);
  int64_t ostride = 1, istride = 1;
  for (intptr_t d = r - 1; d >= 0; --d) {
    int64_t on = kgDim(ot, d), inn = kgDim(in, d), offv = mlirDenseI64ArrayGetElement(off, d);
    KVal cs = kbIndex(&b, ostride), cn = kbIndex(&b, on);
    KVal q = kbOp(&b, "arith.divui %s, %s : index", i.s, cs.s);
    KVal od = kbOp(&b, "arith.remui %s, %s : index", q.s, cn.s);
    KVal co = kbIndex(&b, offv), ci = kbIndex(&b, inn);
    KVal id = kbOp(&b, "arith.subi %s, %s : index", od.s, co.s); /* may wrap: checked as signed below */
    KVal ge = kbOp(&b, "arith.cmpi sge, %s, %s : index", od.s, co.s);
    KVal lt = kbOp(&b, "arith.cmpi slt, %s, %s : index", id.s, ci.s);
    KVal ok = kbOp(&b, "arith.andi %s, %s : i1", ge.s, lt.s);
    inside = kbOp(&b, "arith.andi %s, %s : i1", inside.s, ok.s);
    KVal zero = kbIndex(&b, 0);
    KVal idc = kbOp(&b, "arith.select %s, %s, %s : index", ok.s, id.s, zero.s);
    KVal cis = kbIndex(&b, istride);
    KVal term = kbOp(&b, "arith.muli %s, %s : index", idc.s, cis.s);
    src = kbOp(&b, "arith.addi %s, %s : index", src.s, term.s);
    ostride *= on;
    istride *= inn;
  }
  /* The element is copied as it is (any element type: float activations, integer labels). */
  CubeBuf xt = {0};
  cubeBufPrintf(&xt, "tensor<%" PRId64 "x%s>", x.n, x.elt);
  KVal v = kbOp(&b, "tensor.extract %s[%s] : %s", x.v.s, src.s, cubeBufStr(&xt));
  cubeBufFree(&xt);
  KVal fillv;
  if (!padValue(g, &b, op, o.elt, &fillv)) {
    cubeBufFree(&b.b);
    return false;
  }
  KVal y = kbOp(&b, "arith.select %s, %s, %s : %s", inside.s, v.s, fillv.s, o.elt);
  KFlat res;
  kgGeneric(g, 1, 0, NULL, 1, &out, &b, &y, &res);
  kgReturn(g, res, a->out);
  return true;
}

/* ---- sumsq -------------------------------------------------------------------------------------------- */

bool kgenSumsq(KGen *g, MlirOperation op, const KArgs *a) {
  (void)op;
  KFlat x = kgFlat(g, "%in0", a->in[0]);
  KFlat o = kgFill(g, kgFlat(g, "%out", a->out), "0.0");
  int64_t dims[2] = {1, x.n};
  KOperand in = {kgView(g, x, 2, dims), "d0, d1"}, out = {o, "d0"};
  KBody b = {.g = g};
  KVal xf = kbToF32(&b, kbArg("%bi0"), x.elt);
  KVal sq = kbOp(&b, "arith.mulf %s, %s : f32", xf.s, xf.s);
  KVal s = kbOp(&b, "arith.addf %%bo0, %s : f32", sq.s);
  KFlat res;
  kgGeneric(g, 2, 1, &in, 1, &out, &b, &s, &res);
  kgReturn(g, res, a->out);
  return true;
}
