/* Kernels of the row-wise ops: rmsnorm and softmax (a reduction per row into f32 scratch, then one 1-D
 * generic over every element), and rope (one 1-D generic computing HF's angles in the kernel).
 *
 * rmsnorm as HF's LlamaRMSNorm: x32 = f32(x); y = w * cast(x32 * rsqrt(sum(x32^2)/H + eps), x.dtype).
 * softmax with max-subtraction, in f32: exp(x - max) / sum(exp(x - max)).
 * rope_grad (its transpose) shares rope's generator.
 * rope as HF's LlamaRotaryEmbedding + apply_rotary_pos_emb, positions 0..S-1:
 *   inv_freq[i] = 1 / theta^(2i/D) (f32, as HF), angle = s * inv_freq[i mod D/2],
 *   out = x * cos(angle) + rotate_half(x) * sin(angle), rotate_half(x) = cat(-x[D/2:], x[:D/2]). */
#include <inttypes.h>
#include <stdio.h>

#include "cube/KernelGen.h"
#include "cube/Ops.h"
#include "mlir-c/BuiltinTypes.h"

#define NEG_INF "0xFF800000"

/* ---- rmsnorm ------------------------------------------------------------------------------------------ */

int kscrRmsnorm(MlirOperation op, MlirType *types) {
  MlirType in = mlirValueGetType(mlirOperationGetOperand(op, 0));
  int64_t h = kgDim(in, kgRank(in) - 1);
  types[0] = kgF32Tensor(mlirOperationGetContext(op), h ? kgNumElements(in) / h : 0); /* sum of squares per row */
  return 1;
}

bool kgenRmsnorm(KGen *g, MlirOperation op, const KArgs *a) {
  double eps = 1e-6;
  cubeGetF64Attr(op, "eps", &eps);
  int64_t h = kgDim(a->in[0], kgRank(a->in[0]) - 1);
  KFlat x = kgFlat(g, "%in0", a->in[0]), w = kgFlat(g, "%in1", a->in[1]);
  KFlat s = kgFill(g, kgFlat(g, "%s0", a->scratch[0]), "0.0");
  KFlat o = kgFlat(g, "%out", a->out);
  int64_t rows = s.n, dims[2] = {rows, h};
  char m1[64], m2[64];

  /* s[r] = sum_h f32(x[r, h])^2 */
  KOperand rin = {kgView(g, x, 2, dims), "d0, d1"}, rout = {s, "d0"};
  KBody k = {.g = g};
  KVal xf = kbToF32(&k, kbArg("%bi0"), x.elt);
  KVal sq = kbOp(&k, "arith.mulf %s, %s : f32", xf.s, xf.s);
  KVal acc = kbOp(&k, "arith.addf %%bo0, %s : f32", sq.s);
  kgGeneric(g, 2, 1, &rin, 1, &rout, &k, &acc, &s);

  /* y = w * cast(x32 * rsqrt(s / H + eps)) */
  snprintf(m1, sizeof m1, "d0 mod %" PRId64, h);
  snprintf(m2, sizeof m2, "d0 floordiv %" PRId64, h);
  KOperand ins[3] = {{x, "d0"}, {w, m1}, {s, m2}}, out = {o, "d0"};
  KBody b = {.g = g};
  KVal x32 = kbToF32(&b, kbArg("%bi0"), x.elt);
  KVal hf = kbF32(&b, (float)h), ef = kbF32(&b, (float)eps);
  KVal mean = kbOp(&b, "arith.divf %%bi2, %s : f32", hf.s);
  KVal var = kbOp(&b, "arith.addf %s, %s : f32", mean.s, ef.s);
  KVal rs = kbOp(&b, "math.rsqrt %s : f32", var.s);
  KVal n = kbOp(&b, "arith.mulf %s, %s : f32", x32.s, rs.s);
  KVal nc = kbToF32(&b, kbFromF32(&b, n, o.elt), o.elt); /* hidden_states.to(input_dtype) */
  KVal wf = kbToF32(&b, kbArg("%bi1"), w.elt);
  KVal y = kbFromF32(&b, kbOp(&b, "arith.mulf %s, %s : f32", wf.s, nc.s), o.elt);
  KFlat res;
  kgGeneric(g, 1, 3, ins, 1, &out, &b, &y, &res);
  kgReturn(g, res, a->out);
  return true;
}

/* ---- softmax ------------------------------------------------------------------------------------------ */

int kscrSoftmax(MlirOperation op, MlirType *types) {
  MlirType in = mlirValueGetType(mlirOperationGetOperand(op, 0));
  int64_t outer, n, inner;
  kgSplitAtDim(op, in, &outer, &n, &inner);
  MlirContext ctx = mlirOperationGetContext(op);
  types[0] = kgF32Tensor(ctx, outer * inner); /* row max */
  types[1] = kgF32Tensor(ctx, outer * inner); /* row sum of exp(x - max) */
  return 2;
}

/* x * scale (when the op has a scale), in a body where `x` is the f32 element. */
static KVal softmaxScaled(KBody *k, KVal x, bool hasScale, double scale) {
  if (!hasScale) return x;
  return kbOp(k, "arith.mulf %s, %s : f32", x.s, kbF32(k, (float)scale).s);
}

/* True (i1) when element j of row r is masked: j > r mod period. */
static KVal softmaxMasked(KBody *k, KVal r, KVal j, int64_t period) {
  KVal i = kbOp(k, "arith.remui %s, %s : index", r.s, kbIndex(k, period).s);
  return kbOp(k, "arith.cmpi ugt, %s, %s : index", j.s, i.s);
}

bool kgenSoftmax(KGen *g, MlirOperation op, const KArgs *a) {
  int64_t outer, n, inner, period = 0;
  kgSplitAtDim(op, a->in[0], &outer, &n, &inner);
  double scale = 1.0;
  bool hasScale = cubeGetF64Attr(op, "scale", &scale);
  cubeGetI64Attr(op, "causal_period", &period);
  if (period > 0 && inner != 1) {
    snprintf(g->err, sizeof g->err, "softmax: causal_period needs the last dim");
    return false;
  }
  KFlat x = kgFlat(g, "%in0", a->in[0]);
  KFlat o = kgFlat(g, "%out", a->out);
  int64_t dims[3] = {outer, n, inner};
  char xmap[96], row[96];
  snprintf(xmap, sizeof xmap, "d0 floordiv %" PRId64 ", d1, d0 mod %" PRId64, inner, inner);
  KOperand xv = {kgView(g, x, 3, dims), xmap};

  /* m[r] = max_j x * scale (masked elements skipped) */
  KFlat m = kgFill(g, kgFlat(g, "%s0", a->scratch[0]), NEG_INF);
  KOperand mo = {m, "d0"};
  KBody k = {.g = g};
  KVal xf = softmaxScaled(&k, kbToF32(&k, kbArg("%bi0"), x.elt), hasScale, scale);
  KVal mx = kbOp(&k, "arith.maximumf %%bo0, %s : f32", xf.s);
  if (period > 0) {
    KVal r = kbOp(&k, "linalg.index 0 : index"), j = kbOp(&k, "linalg.index 1 : index");
    mx = kbOp(&k, "arith.select %s, %%bo0, %s : f32", softmaxMasked(&k, r, j, period).s, mx.s);
  }
  kgGeneric(g, 2, 1, &xv, 1, &mo, &k, &mx, &m);

  /* l[r] = sum_j exp(x * scale - m) (masked: 0) */
  KFlat l = kgFill(g, kgFlat(g, "%s1", a->scratch[1]), "0.0");
  KOperand lin[2] = {xv, {m, "d0"}}, lo = {l, "d0"};
  KBody k2 = {.g = g};
  KVal xf2 = softmaxScaled(&k2, kbToF32(&k2, kbArg("%bi0"), x.elt), hasScale, scale);
  KVal d = kbOp(&k2, "arith.subf %s, %%bi1 : f32", xf2.s);
  KVal e = kbOp(&k2, "math.exp %s : f32", d.s);
  if (period > 0) {
    KVal r = kbOp(&k2, "linalg.index 0 : index"), j = kbOp(&k2, "linalg.index 1 : index");
    e = kbOp(&k2, "arith.select %s, %s, %s : f32", softmaxMasked(&k2, r, j, period).s, kbF32(&k2, 0.0f).s, e.s);
  }
  KVal sum = kbOp(&k2, "arith.addf %%bo0, %s : f32", e.s);
  kgGeneric(g, 2, 2, lin, 1, &lo, &k2, &sum, &l);

  /* y = exp(x * scale - m) / l (masked: 0) */
  snprintf(row, sizeof row, "(d0 floordiv %" PRId64 ") * %" PRId64 " + d0 mod %" PRId64, n * inner, inner, inner);
  KOperand ins[3] = {{x, "d0"}, {m, row}, {l, row}}, out = {o, "d0"};
  KBody b = {.g = g};
  KVal x32 = softmaxScaled(&b, kbToF32(&b, kbArg("%bi0"), x.elt), hasScale, scale);
  KVal d2 = kbOp(&b, "arith.subf %s, %%bi1 : f32", x32.s);
  KVal e2 = kbOp(&b, "math.exp %s : f32", d2.s);
  KVal p = kbOp(&b, "arith.divf %s, %%bi2 : f32", e2.s);
  if (period > 0) {
    KVal flat = kbOp(&b, "linalg.index 0 : index"), cn = kbIndex(&b, n);
    KVal r = kbOp(&b, "arith.divui %s, %s : index", flat.s, cn.s), j = kbOp(&b, "arith.remui %s, %s : index", flat.s, cn.s);
    p = kbOp(&b, "arith.select %s, %s, %s : f32", softmaxMasked(&b, r, j, period).s, kbF32(&b, 0.0f).s, p.s);
  }
  KVal y = kbFromF32(&b, p, o.elt);
  KFlat res;
  kgGeneric(g, 1, 3, ins, 1, &out, &b, &y, &res);
  kgReturn(g, res, a->out);
  return true;
}

/* ---- rope --------------------------------------------------------------------------------------------- */

/* rope (transpose = false) and rope_grad (transpose = true: dx = dy cos + rotate_half_T(dy) sin,
 * rotate_half_T(y) = cat(y[D/2:], -y[:D/2]), the same partner element with the opposite sign). */
static bool ropeGen(KGen *g, MlirOperation op, const KArgs *a, bool transpose) {
  double theta = 10000.0;
  cubeGetF64Attr(op, "theta", &theta);
  MlirType t = a->in[0];
  if (kgRank(t) != 4) {
    snprintf(g->err, sizeof g->err, "%s needs a rank-4 input [B, heads, S, D]", transpose ? "rope_grad" : "rope");
    return false;
  }
  int64_t s = kgDim(t, 2), d = kgDim(t, 3), half = d / 2;
  KFlat x = kgFlat(g, "%in0", t);
  KFlat o = kgFlat(g, "%out", a->out);
  char partner[128];
  /* the element rotate_half reads: d -> (d + D/2) mod D in the same row */
  snprintf(partner, sizeof partner, "d0 - d0 mod %" PRId64 " + (d0 mod %" PRId64 " + %" PRId64 ") mod %" PRId64, d, d,
           half, d);
  KOperand ins[2] = {{x, "d0"}, {x, partner}}, out = {o, "d0"};
  KBody b = {.g = g};
  KVal i = kbOp(&b, "linalg.index 0 : index");
  KVal cd = kbIndex(&b, d), cs = kbIndex(&b, s), ch = kbIndex(&b, half), c2 = kbIndex(&b, 2);
  KVal dd = kbOp(&b, "arith.remui %s, %s : index", i.s, cd.s);
  KVal q = kbOp(&b, "arith.divui %s, %s : index", i.s, cd.s);
  KVal pos = kbOp(&b, "arith.remui %s, %s : index", q.s, cs.s);
  KVal fi = kbOp(&b, "arith.remui %s, %s : index", dd.s, ch.s);
  KVal twoI = kbOp(&b, "arith.muli %s, %s : index", fi.s, c2.s);
  KVal twoI64 = kbOp(&b, "arith.index_cast %s : index to i64", twoI.s);
  KVal twoIf = kbOp(&b, "arith.uitofp %s : i64 to f32", twoI64.s);
  KVal df = kbF32(&b, (float)d), th = kbF32(&b, (float)theta), one = kbF32(&b, 1.0f);
  KVal ex = kbOp(&b, "arith.divf %s, %s : f32", twoIf.s, df.s);
  KVal pw = kbOp(&b, "math.powf %s, %s : f32", th.s, ex.s);
  KVal inv = kbOp(&b, "arith.divf %s, %s : f32", one.s, pw.s);
  KVal pos64 = kbOp(&b, "arith.index_cast %s : index to i64", pos.s);
  KVal posf = kbOp(&b, "arith.uitofp %s : i64 to f32", pos64.s);
  KVal ang = kbOp(&b, "arith.mulf %s, %s : f32", inv.s, posf.s);
  KVal cosv = kbOp(&b, "math.cos %s : f32", ang.s);
  KVal sinv = kbOp(&b, "math.sin %s : f32", ang.s);
  KVal low = kbOp(&b, "arith.cmpi ult, %s, %s : index", dd.s, ch.s);
  KVal xp = kbToF32(&b, kbArg("%bi1"), x.elt);
  KVal nxp = kbOp(&b, "arith.negf %s : f32", xp.s);
  KVal rot = transpose ? kbOp(&b, "arith.select %s, %s, %s : f32", low.s, xp.s, nxp.s)
                       : kbOp(&b, "arith.select %s, %s, %s : f32", low.s, nxp.s, xp.s);
  KVal xf = kbToF32(&b, kbArg("%bi0"), x.elt);
  KVal p1 = kbOp(&b, "arith.mulf %s, %s : f32", xf.s, cosv.s);
  KVal p2 = kbOp(&b, "arith.mulf %s, %s : f32", rot.s, sinv.s);
  KVal y = kbFromF32(&b, kbOp(&b, "arith.addf %s, %s : f32", p1.s, p2.s), o.elt);
  KFlat res;
  kgGeneric(g, 1, 2, ins, 1, &out, &b, &y, &res);
  kgReturn(g, res, a->out);
  return true;
}

bool kgenRope(KGen *g, MlirOperation op, const KArgs *a) { return ropeGen(g, op, a, false); }
bool kgenRopeGrad(KGen *g, MlirOperation op, const KArgs *a) { return ropeGen(g, op, a, true); }
