/* The attention kernel: causal scaled dot-product attention with GQA, as HF's eager attention computes it,
 * all in f32: scores = q k^T (f32 accumulation), softmax(scores * scale + causal mask) with max-subtraction,
 * then probs @ v. Query head h reads kv head h / (Hq / Hkv) (HF's repeat_kv); scale defaults to D^-0.5.
 *
 * Rows are r = (b, h, i) flattened (R = B*Hq*S). Scratch: scores/probs [R*Skv], row max [R], row sum [R],
 * and, for bf16/f16, an f32 accumulator [R*D] (f32 accumulates straight into the output). Every step is a
 * linalg op with one parallel dim: scores and the output have one element per thread, the row statistics
 * one row per thread. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cube/KernelGen.h"
#include "cube/Ops.h"
#include "mlir-c/BuiltinTypes.h"

typedef struct {
  int64_t b, hq, hkv, s, skv, d, rows;
} AttnDims;

static AttnDims attnDims(MlirType q, MlirType k) {
  AttnDims a = {kgDim(q, 0), kgDim(q, 1), kgDim(k, 1), kgDim(q, 2), kgDim(k, 2), kgDim(q, 3), 0};
  a.rows = a.b * a.hq * a.s;
  return a;
}

int kscrAttention(MlirOperation op, MlirType *types) {
  MlirType q = mlirValueGetType(mlirOperationGetOperand(op, 0));
  MlirType k = mlirValueGetType(mlirOperationGetOperand(op, 1));
  MlirContext ctx = mlirOperationGetContext(op);
  AttnDims a = attnDims(q, k);
  types[0] = kgF32Tensor(ctx, a.rows * a.skv);
  types[1] = kgF32Tensor(ctx, a.rows);
  types[2] = kgF32Tensor(ctx, a.rows);
  if (mlirTypeIsAF32(mlirShapedTypeGetElementType(q))) return 3;
  types[3] = kgF32Tensor(ctx, a.rows * a.d);
  return 4;
}

/* The flat kv row of query row `r` (an affine expr of `r`) and key position `j`: (b * Hkv + h / G) * Skv + j. */
static void kvRow(char *buf, size_t n, const AttnDims *a, const char *r, const char *j) {
  int64_t g = a->hkv ? a->hq / a->hkv : 1;
  snprintf(buf, n,
           "((%s) floordiv %" PRId64 ") * %" PRId64 " + (((%s) floordiv %" PRId64 ") mod %" PRId64 ") floordiv %" PRId64
           " * %" PRId64 " + %s",
           r, a->hq * a->s, a->hkv * a->skv, r, a->s, a->hq, g, a->skv, j);
}

/* In a body over rows r (loop 0) and key positions j (loop 1, or from the flat index): true when masked. */
static KVal masked(KBody *k, const AttnDims *a, KVal row, KVal j) {
  KVal cs = kbIndex(k, a->s);
  KVal i = kbOp(k, "arith.remui %s, %s : index", row.s, cs.s);
  return kbOp(k, "arith.cmpi ugt, %s, %s : index", j.s, i.s);
}

bool kgenAttention(KGen *g, MlirOperation op, const KArgs *a) {
  AttnDims d = attnDims(a->in[0], a->in[1]);
  bool causal = false;
  cubeGetBoolAttr(op, "causal", &causal);
  double scale = d.d > 0 ? pow((double)d.d, -0.5) : 1.0;
  cubeGetF64Attr(op, "scale", &scale);
  if (d.hkv <= 0 || d.hq % d.hkv || d.skv <= 0 || d.d <= 0) {
    snprintf(g->err, sizeof g->err, "attention needs Hq %% Hkv == 0 and non-empty keys");
    return false;
  }
  KFlat q = kgFlat(g, "%in0", a->in[0]), kk = kgFlat(g, "%in1", a->in[1]), v = kgFlat(g, "%in2", a->in[2]);
  KFlat o = kgFlat(g, "%out", a->out);
  bool f32 = !strcmp(o.elt, "f32");
  char m0[256], m1[600], tmp[512];

  /* scores[r, j] = sum_d q[r, d] * k[kv(r, j), d] */
  KFlat sc = kgFill(g, kgFlat(g, "%s0", a->scratch[0]), "0.0");
  int64_t qd[2] = {d.rows, d.d}, kd[2] = {d.b * d.hkv * d.skv, d.d};
  snprintf(m0, sizeof m0, "d0 floordiv %" PRId64 ", d1", d.skv);
  char rexpr[64], jexpr[64];
  snprintf(rexpr, sizeof rexpr, "d0 floordiv %" PRId64, d.skv);
  snprintf(jexpr, sizeof jexpr, "d0 mod %" PRId64, d.skv);
  kvRow(tmp, sizeof tmp, &d, rexpr, jexpr);
  snprintf(m1, sizeof m1, "%s, d1", tmp);
  KOperand sin[2] = {{kgView(g, q, 2, qd), m0}, {kgView(g, kk, 2, kd), m1}}, sout = {sc, "d0"};
  KBody b1 = {.g = g};
  KVal qf = kbToF32(&b1, kbArg("%bi0"), q.elt), kf = kbToF32(&b1, kbArg("%bi1"), kk.elt);
  KVal pr = kbOp(&b1, "arith.mulf %s, %s : f32", qf.s, kf.s);
  KVal acc = kbOp(&b1, "arith.addf %%bo0, %s : f32", pr.s);
  kgGeneric(g, 2, 2, sin, 1, &sout, &b1, &acc, &sc);

  /* m[r] = max_j (scores * scale), masked positions skipped */
  int64_t sd[2] = {d.rows, d.skv};
  KOperand sv = {kgView(g, sc, 2, sd), "d0, d1"};
  KFlat m = kgFill(g, kgFlat(g, "%s1", a->scratch[1]), "0xFF800000");
  KOperand mo = {m, "d0"};
  KBody b2 = {.g = g};
  KVal sca = kbF32(&b2, (float)scale);
  KVal x = kbOp(&b2, "arith.mulf %%bi0, %s : f32", sca.s);
  KVal mx = kbOp(&b2, "arith.maximumf %%bo0, %s : f32", x.s);
  if (causal) {
    KVal r = kbOp(&b2, "linalg.index 0 : index"), j = kbOp(&b2, "linalg.index 1 : index");
    mx = kbOp(&b2, "arith.select %s, %%bo0, %s : f32", masked(&b2, &d, r, j).s, mx.s);
  }
  kgGeneric(g, 2, 1, &sv, 1, &mo, &b2, &mx, &m);

  /* l[r] = sum_j exp(scores * scale - m) */
  KFlat l = kgFill(g, kgFlat(g, "%s2", a->scratch[2]), "0.0");
  KOperand lin[2] = {sv, {m, "d0"}}, lo = {l, "d0"};
  KBody b3 = {.g = g};
  KVal sca3 = kbF32(&b3, (float)scale);
  KVal x3 = kbOp(&b3, "arith.mulf %%bi0, %s : f32", sca3.s);
  KVal e3 = kbOp(&b3, "math.exp %s : f32", kbOp(&b3, "arith.subf %s, %%bi1 : f32", x3.s).s);
  if (causal) {
    KVal r = kbOp(&b3, "linalg.index 0 : index"), j = kbOp(&b3, "linalg.index 1 : index");
    KVal zero = kbF32(&b3, 0.0f);
    e3 = kbOp(&b3, "arith.select %s, %s, %s : f32", masked(&b3, &d, r, j).s, zero.s, e3.s);
  }
  KVal s3 = kbOp(&b3, "arith.addf %%bo0, %s : f32", e3.s);
  kgGeneric(g, 2, 2, lin, 1, &lo, &b3, &s3, &l);

  /* probs = exp(scores * scale - m) / l, in place over the scores */
  KOperand pin[2] = {{m, rexpr}, {l, rexpr}}, pout = {sc, "d0"};
  KBody b4 = {.g = g};
  KVal sca4 = kbF32(&b4, (float)scale);
  KVal x4 = kbOp(&b4, "arith.mulf %%bo0, %s : f32", sca4.s);
  KVal e4 = kbOp(&b4, "math.exp %s : f32", kbOp(&b4, "arith.subf %s, %%bi0 : f32", x4.s).s);
  KVal p4 = kbOp(&b4, "arith.divf %s, %%bi1 : f32", e4.s);
  if (causal) {
    KVal i = kbOp(&b4, "linalg.index 0 : index");
    KVal cskv = kbIndex(&b4, d.skv);
    KVal r = kbOp(&b4, "arith.divui %s, %s : index", i.s, cskv.s);
    KVal j = kbOp(&b4, "arith.remui %s, %s : index", i.s, cskv.s);
    KVal zero = kbF32(&b4, 0.0f);
    p4 = kbOp(&b4, "arith.select %s, %s, %s : f32", masked(&b4, &d, r, j).s, zero.s, p4.s);
  }
  kgGeneric(g, 1, 2, pin, 1, &pout, &b4, &p4, &sc);

  /* out[r, e] = sum_j probs[r, j] * v[kv(r, j), e] */
  KFlat accT = f32 ? o : kgFlat(g, "%s3", a->scratch[3]);
  accT = kgFill(g, accT, "0.0");
  int64_t pd[2] = {d.rows, d.skv}, vd[2] = {d.b * d.hkv * d.skv, d.d};
  char rowOfOut[64];
  snprintf(rowOfOut, sizeof rowOfOut, "d0 floordiv %" PRId64, d.d);
  char pm[128], vm[600];
  snprintf(pm, sizeof pm, "%s, d1", rowOfOut);
  kvRow(tmp, sizeof tmp, &d, rowOfOut, "d1");
  snprintf(vm, sizeof vm, "%s, d0 mod %" PRId64, tmp, d.d);
  KOperand oin[2] = {{kgView(g, sc, 2, pd), pm}, {kgView(g, v, 2, vd), vm}}, oout = {accT, "d0"};
  KBody b5 = {.g = g};
  KVal vf = kbToF32(&b5, kbArg("%bi1"), v.elt);
  KVal pv = kbOp(&b5, "arith.mulf %%bi0, %s : f32", vf.s);
  KVal s5 = kbOp(&b5, "arith.addf %%bo0, %s : f32", pv.s);
  KFlat res;
  kgGeneric(g, 2, 2, oin, 1, &oout, &b5, &s5, &res);

  if (!f32) { /* round the f32 accumulator into the output */
    KOperand cin = {res, "d0"}, cout = {o, "d0"};
    KBody b6 = {.g = g};
    KVal y = kbFromF32(&b6, kbArg("%bi0"), o.elt);
    kgGeneric(g, 1, 1, &cin, 1, &cout, &b6, &y, &res);
  }
  kgReturn(g, res, a->out);
  return true;
}
