/* The attention_grad kernel: the gradients of cube.attention (causal or not, GQA), in f32, with the
 * probabilities recomputed from q and k (nothing is kept from the forward pass):
 *   P = softmax(q k^T * scale + mask)                      scratch P [R*Skv], row max m [R], row sum l [R]
 *   dP = dout v^T; delta = sum_j P dP; dS = P (dP - delta) scale      scratch dP [R*Skv] (holds dS), delta [R]
 *   dq = dS k;  dk[kv head] = sum over its G query heads of dS^T q;  dv[kv head] = sum of P^T dout
 * Rows r = (b, h, i), R = B*Hq*S, G = Hq/Hkv. dk and dv read q, dS, P and dout as [B*Hkv, G*S, *] views
 * (a query head group is contiguous), one thread per element of dk/dv looping over G*S. f32 only for now
 * (the gradients accumulate in their results). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cube/KernelGen.h"
#include "cube/Ops.h"
#include "mlir-c/BuiltinTypes.h"

typedef struct {
  int64_t b, hq, hkv, s, skv, d, rows, g;
} Dims;

static Dims dimsOf(MlirType q, MlirType k) {
  Dims a = {kgDim(q, 0), kgDim(q, 1), kgDim(k, 1), kgDim(q, 2), kgDim(k, 2), kgDim(q, 3), 0, 1};
  a.rows = a.b * a.hq * a.s;
  a.g = a.hkv ? a.hq / a.hkv : 1;
  return a;
}

int kscrAttentionGrad(MlirOperation op, MlirType *types) {
  Dims a = dimsOf(mlirValueGetType(mlirOperationGetOperand(op, 0)), mlirValueGetType(mlirOperationGetOperand(op, 1)));
  MlirContext ctx = mlirOperationGetContext(op);
  types[0] = kgF32Tensor(ctx, a.rows * a.skv); /* P */
  types[1] = kgF32Tensor(ctx, a.rows * a.skv); /* dP, then dS */
  types[2] = kgF32Tensor(ctx, a.rows);         /* row max */
  types[3] = kgF32Tensor(ctx, a.rows);         /* row sum */
  types[4] = kgF32Tensor(ctx, a.rows);         /* delta */
  return 5;
}

/* The flat kv row of query row `r` and key position `j`: (b * Hkv + h / G) * Skv + j. */
static void kvRow(char *buf, size_t n, const Dims *a, const char *r, const char *j) {
  snprintf(buf, n,
           "((%s) floordiv %" PRId64 ") * %" PRId64 " + (((%s) floordiv %" PRId64 ") mod %" PRId64 ") floordiv %" PRId64
           " * %" PRId64 " + %s",
           r, a->hq * a->s, a->hkv * a->skv, r, a->s, a->hq, a->g, a->skv, j);
}

/* In a body over (r*Skv + j) or (r, j): true when (r, j) is masked (j > i). */
static KVal maskedAt(KBody *k, const Dims *a, KVal row, KVal j) {
  KVal cs = kbIndex(k, a->s);
  KVal i = kbOp(k, "arith.remui %s, %s : index", row.s, cs.s);
  return kbOp(k, "arith.cmpi ugt, %s, %s : index", j.s, i.s);
}

/* out[r*Skv + j] = sum_d x[r, d] y[kvrow(r, j), d] (x: q or dout, y: k or v) */
static KFlat rowDot(KGen *g, const Dims *a, KFlat x, KFlat y, KFlat out) {
  int64_t xd[2] = {a->rows, a->d}, yd[2] = {a->b * a->hkv * a->skv, a->d};
  char xm[96], ym[400], kv[300], r[64], j[64];
  snprintf(r, sizeof r, "d0 floordiv %" PRId64, a->skv);
  snprintf(j, sizeof j, "d0 mod %" PRId64, a->skv);
  kvRow(kv, sizeof kv, a, r, j);
  snprintf(xm, sizeof xm, "%s, d1", r);
  snprintf(ym, sizeof ym, "%s, d1", kv);
  KFlat o = kgFill(g, out, "0.0");
  KOperand ins[2] = {{kgView(g, x, 2, xd), xm}, {kgView(g, y, 2, yd), ym}}, oo = {o, "d0"};
  KBody b = {.g = g};
  KVal p = kbOp(&b, "arith.mulf %%bi0, %%bi1 : f32");
  KVal s = kbOp(&b, "arith.addf %%bo0, %s : f32", p.s);
  KFlat res;
  kgGeneric(g, 2, 2, ins, 1, &oo, &b, &s, &res);
  return res;
}

/* out[bk, j, d] = sum_t x[bk, t, j] y[bk, t, d] over the G*S rows of a kv head (dk: x = dS, y = q; dv: P, dout) */
static KFlat headSum(KGen *g, const Dims *a, KFlat x, KFlat y, KFlat out) {
  int64_t xd[3] = {a->b * a->hkv, a->g * a->s, a->skv}, yd[3] = {a->b * a->hkv, a->g * a->s, a->d};
  char xm[160], ym[160];
  snprintf(xm, sizeof xm, "d0 floordiv %" PRId64 ", d1, (d0 floordiv %" PRId64 ") mod %" PRId64, a->skv * a->d, a->d,
           a->skv);
  snprintf(ym, sizeof ym, "d0 floordiv %" PRId64 ", d1, d0 mod %" PRId64, a->skv * a->d, a->d);
  KFlat o = kgFill(g, out, "0.0");
  KOperand ins[2] = {{kgView(g, x, 3, xd), xm}, {kgView(g, y, 3, yd), ym}}, oo = {o, "d0"};
  KBody b = {.g = g};
  KVal p = kbOp(&b, "arith.mulf %%bi0, %%bi1 : f32");
  KVal s = kbOp(&b, "arith.addf %%bo0, %s : f32", p.s);
  KFlat res;
  kgGeneric(g, 2, 2, ins, 1, &oo, &b, &s, &res);
  return res;
}

bool kgenAttentionGrad(KGen *g, MlirOperation op, const KArgs *a) {
  if (a->nIn != 4 || a->nOut != 3 || kgRank(a->in[0]) != 4 || kgRank(a->in[1]) != 4) {
    snprintf(g->err, sizeof g->err, "attention_grad needs (query, key, value, dout) of rank 4 and three results");
    return false;
  }
  Dims d = dimsOf(a->in[0], a->in[1]);
  bool causal = false;
  cubeGetBoolAttr(op, "causal", &causal);
  double scale = d.d > 0 ? 1.0 / sqrt((double)d.d) : 1.0;
  cubeGetF64Attr(op, "scale", &scale);
  KFlat q = kgFlat(g, "%in0", a->in[0]), k = kgFlat(g, "%in1", a->in[1]), v = kgFlat(g, "%in2", a->in[2]);
  KFlat dout = kgFlat(g, "%in3", a->in[3]);
  const KFlat *all[4] = {&q, &k, &v, &dout};
  for (int i = 0; i < 4; ++i)
    if (strcmp(all[i]->elt, "f32")) {
      snprintf(g->err, sizeof g->err, "attention_grad: only f32 for now");
      return false;
    }
  int64_t pd[2] = {d.rows, d.skv};
  char rm[64];
  snprintf(rm, sizeof rm, "d0 floordiv %" PRId64, d.skv);

  /* P = raw scores, then the row max and sum of the scaled, masked scores, then the probabilities */
  KFlat p = rowDot(g, &d, q, k, kgFlat(g, "%s0", a->scratch[0]));
  KFlat m = kgFill(g, kgFlat(g, "%s2", a->scratch[2]), "0xFF800000");
  KFlat l = kgFill(g, kgFlat(g, "%s3", a->scratch[3]), "0.0");
  KOperand pv = {kgView(g, p, 2, pd), "d0, d1"};
  for (int pass = 0; pass < 2; ++pass) {
    KOperand ins[2] = {pv, {m, "d0"}}, out = {pass ? l : m, "d0"};
    KBody b = {.g = g};
    KVal sc = kbF32(&b, (float)scale);
    KVal s = kbOp(&b, "arith.mulf %%bi0, %s : f32", sc.s);
    KVal val = pass ? kbOp(&b, "math.exp %s : f32", kbOp(&b, "arith.subf %s, %%bi1 : f32", s.s).s) : s;
    KVal y;
    if (causal) {
      KVal msk = maskedAt(&b, &d, kbOp(&b, "linalg.index 0 : index"), kbOp(&b, "linalg.index 1 : index"));
      KVal neutral = pass ? kbF32(&b, 0.0f) : kbOp(&b, "arith.constant 0xFF800000 : f32");
      val = kbOp(&b, "arith.select %s, %s, %s : f32", msk.s, neutral.s, val.s);
    }
    y = pass ? kbOp(&b, "arith.addf %%bo0, %s : f32", val.s) : kbOp(&b, "arith.maximumf %%bo0, %s : f32", val.s);
    kgGeneric(g, 2, 2, ins, 1, &out, &b, &y, pass ? &l : &m);
  }
  {
    KOperand ins[2] = {{m, rm}, {l, rm}}, out = {p, "d0"};
    KBody b = {.g = g};
    KVal sc = kbF32(&b, (float)scale);
    KVal e = kbOp(&b, "math.exp %s : f32",
                  kbOp(&b, "arith.subf %s, %%bi0 : f32", kbOp(&b, "arith.mulf %%bo0, %s : f32", sc.s).s).s);
    KVal y = kbOp(&b, "arith.divf %s, %%bi1 : f32", e.s);
    if (causal) {
      KVal i = kbOp(&b, "linalg.index 0 : index"), cs = kbIndex(&b, d.skv);
      KVal msk = maskedAt(&b, &d, kbOp(&b, "arith.divui %s, %s : index", i.s, cs.s),
                          kbOp(&b, "arith.remui %s, %s : index", i.s, cs.s));
      KVal z = kbF32(&b, 0.0f);
      y = kbOp(&b, "arith.select %s, %s, %s : f32", msk.s, z.s, y.s);
    }
    kgGeneric(g, 1, 2, ins, 1, &out, &b, &y, &p);
  }

  /* dP = dout v^T; delta = sum_j P dP; dS = P (dP - delta) scale (into dP) */
  KFlat dp = rowDot(g, &d, dout, v, kgFlat(g, "%s1", a->scratch[1]));
  KFlat delta = kgFill(g, kgFlat(g, "%s4", a->scratch[4]), "0.0");
  {
    KOperand ins[2] = {{kgView(g, p, 2, pd), "d0, d1"}, {kgView(g, dp, 2, pd), "d0, d1"}}, out = {delta, "d0"};
    KBody b = {.g = g};
    KVal y = kbOp(&b, "arith.addf %%bo0, %s : f32", kbOp(&b, "arith.mulf %%bi0, %%bi1 : f32").s);
    kgGeneric(g, 2, 2, ins, 1, &out, &b, &y, &delta);
  }
  {
    KOperand ins[2] = {{p, "d0"}, {delta, rm}}, out = {dp, "d0"};
    KBody b = {.g = g};
    KVal sc = kbF32(&b, (float)scale);
    KVal t = kbOp(&b, "arith.mulf %%bi0, %s : f32", kbOp(&b, "arith.subf %%bo0, %%bi1 : f32").s);
    KVal y = kbOp(&b, "arith.mulf %s, %s : f32", t.s, sc.s);
    kgGeneric(g, 1, 2, ins, 1, &out, &b, &y, &dp);
  }

  /* dq[r, e] = sum_j dS[r, j] k[kvrow(r, j), e] */
  KFlat dq = kgFill(g, kgFlat(g, "%out", a->outs[0]), "0.0");
  {
    int64_t kd[2] = {d.b * d.hkv * d.skv, d.d};
    char sm[96], km[400], kv[300], r[64];
    snprintf(r, sizeof r, "d0 floordiv %" PRId64, d.d);
    snprintf(sm, sizeof sm, "%s, d1", r);
    kvRow(kv, sizeof kv, &d, r, "d1");
    snprintf(km, sizeof km, "%s, d0 mod %" PRId64, kv, d.d);
    KOperand ins[2] = {{kgView(g, dp, 2, pd), sm}, {kgView(g, k, 2, kd), km}}, out = {dq, "d0"};
    KBody b = {.g = g};
    KVal y = kbOp(&b, "arith.addf %%bo0, %s : f32", kbOp(&b, "arith.mulf %%bi0, %%bi1 : f32").s);
    kgGeneric(g, 2, 2, ins, 1, &out, &b, &y, &dq);
  }
  KFlat dk = headSum(g, &d, dp, q, kgFlat(g, "%out1", a->outs[1]));
  KFlat dv = headSum(g, &d, p, dout, kgFlat(g, "%out2", a->outs[2]));
  KFlat res[3] = {dq, dk, dv};
  kgReturnN(g, 3, res, a->outs);
  return true;
}
