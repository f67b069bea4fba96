/* Kernels of the row-wise backward ops, in f32 math (docs/dialect.md "Backward and optimizer ops"):
 *   embedding_grad      out[v, h] = sum_s (ids[s] == v) dout[s, h]: one thread per (row, column) of the
 *                       table looping over all ids (deterministic, no atomics; O(V*H*S), correctness first)
 *   rmsnorm_grad        r = rsqrt(sum(x^2)/H + eps): dx = r w dy - r^3 x / H * sum_h(dy w x),
 *                       dw[h] = sum_rows dy x r (one thread per h)
 *   cross_entropy_grad  (softmax(x) - onehot(label)) * dloss / count(label != ignore), zero ignored rows
 * Results that are sums over rows accumulate in the out tensor, so those need f32 outs for now. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cube/KernelGen.h"
#include "cube/Ops.h"
#include "mlir-c/BuiltinTypes.h"

static bool needF32(KGen *g, const KFlat *f, const char *what) {
  if (!strcmp(f->elt, "f32")) return true;
  snprintf(g->err, sizeof g->err, "%s: only f32 for now (the result accumulates a sum)", what);
  return false;
}

/* ---- embedding_grad ----------------------------------------------------------------------------------- */

bool kgenEmbeddingGrad(KGen *g, MlirOperation op, const KArgs *a) {
  (void)op;
  MlirType ot = a->out;
  int64_t v = kgDim(ot, 0), h = kgRank(ot) == 2 ? kgDim(ot, 1) : 0;
  KFlat ids = kgFlat(g, "%in0", a->in[0]), dy = kgFlat(g, "%in1", a->in[1]);
  KFlat o = kgFill(g, kgFlat(g, "%out", ot), "0.0");
  if (!h || !needF32(g, &o, "embedding_grad")) {
    if (!h) snprintf(g->err, sizeof g->err, "embedding_grad needs a [V, H] result");
    return false;
  }
  char dmap[96];
  snprintf(dmap, sizeof dmap, "d1 * %" PRId64 " + d0 mod %" PRId64, h, h);
  KOperand ins[2] = {{ids, "d1"}, {dy, dmap}}, out = {o, "d0"};
  KBody b = {.g = g};
  KVal i = kbOp(&b, "linalg.index 0 : index");
  KVal ch = kbIndex(&b, h);
  KVal row = kbOp(&b, "arith.divui %s, %s : index", i.s, ch.s);
  KVal id = kbOp(&b, "arith.index_cast %%bi0 : %s to index", ids.elt);
  KVal hit = kbOp(&b, "arith.cmpi eq, %s, %s : index", id.s, row.s);
  (void)v;
  KVal df = kbToF32(&b, kbArg("%bi1"), dy.elt);
  KVal z = kbF32(&b, 0.0f);
  KVal add = kbOp(&b, "arith.select %s, %s, %s : f32", hit.s, df.s, z.s);
  KVal s = kbOp(&b, "arith.addf %%bo0, %s : f32", add.s);
  KFlat res;
  kgGeneric(g, 2, 2, ins, 1, &out, &b, &s, &res);
  kgReturn(g, res, ot);
  return true;
}

/* ---- rmsnorm_grad ------------------------------------------------------------------------------------- */

int kscrRmsnormGrad(MlirOperation op, MlirType *types) {
  MlirType in = mlirValueGetType(mlirOperationGetOperand(op, 0));
  int64_t h = kgRank(in) ? kgDim(in, kgRank(in) - 1) : 0, rows = h ? kgNumElements(in) / h : 0;
  MlirContext ctx = mlirOperationGetContext(op);
  types[0] = kgF32Tensor(ctx, rows); /* sum(x^2) per row */
  types[1] = kgF32Tensor(ctx, rows); /* sum(dy w x) per row */
  return 2;
}

/* In a body: rsqrt(ss / H + eps) of the row sum `ss`. */
static KVal rowRsqrt(KBody *b, const char *ss, int64_t h, double eps) {
  KVal hf = kbF32(b, (float)h), ef = kbF32(b, (float)eps);
  KVal mean = kbOp(b, "arith.divf %s, %s : f32", ss, hf.s);
  return kbOp(b, "math.rsqrt %s : f32", kbOp(b, "arith.addf %s, %s : f32", mean.s, ef.s).s);
}

bool kgenRmsnormGrad(KGen *g, MlirOperation op, const KArgs *a) {
  double eps = 1e-6;
  cubeGetF64Attr(op, "eps", &eps);
  if (a->nOut != 2) {
    snprintf(g->err, sizeof g->err, "rmsnorm_grad needs two results (dinput, dweight)");
    return false;
  }
  int64_t h = kgDim(a->in[0], kgRank(a->in[0]) - 1);
  KFlat x = kgFlat(g, "%in0", a->in[0]), w = kgFlat(g, "%in1", a->in[1]), dy = kgFlat(g, "%in2", a->in[2]);
  KFlat ss = kgFill(g, kgFlat(g, "%s0", a->scratch[0]), "0.0");
  KFlat dot = kgFill(g, kgFlat(g, "%s1", a->scratch[1]), "0.0");
  KFlat dx = kgFlat(g, "%out", a->outs[0]);
  KFlat dw = kgFill(g, kgFlat(g, "%out1", a->outs[1]), "0.0");
  if (!needF32(g, &dw, "rmsnorm_grad")) return false;
  int64_t rows = ss.n, dims[2] = {rows, h};
  KFlat xv = kgView(g, x, 2, dims), dyv = kgView(g, dy, 2, dims);
  char wm[64], rm[64];
  snprintf(wm, sizeof wm, "d0 mod %" PRId64, h);
  snprintf(rm, sizeof rm, "d0 floordiv %" PRId64, h);

  /* ss[r] = sum x^2; dot[r] = sum dy w x */
  KOperand rin[3] = {{xv, "d0, d1"}, {dyv, "d0, d1"}, {w, "d1"}}, rout[2] = {{ss, "d0"}, {dot, "d0"}};
  KBody k = {.g = g};
  KVal xf = kbToF32(&k, kbArg("%bi0"), x.elt), df = kbToF32(&k, kbArg("%bi1"), dy.elt);
  KVal wf = kbToF32(&k, kbArg("%bi2"), w.elt);
  KVal sq = kbOp(&k, "arith.mulf %s, %s : f32", xf.s, xf.s);
  KVal dw1 = kbOp(&k, "arith.mulf %s, %s : f32", df.s, wf.s);
  KVal dwx = kbOp(&k, "arith.mulf %s, %s : f32", dw1.s, xf.s);
  KVal ys[2] = {kbOp(&k, "arith.addf %%bo0, %s : f32", sq.s), kbOp(&k, "arith.addf %%bo1, %s : f32", dwx.s)};
  KFlat rs[2];
  kgGeneric(g, 2, 3, rin, 2, rout, &k, ys, rs);

  /* dx = r w dy - r^3 x dot / H */
  KOperand ins[5] = {{x, "d0"}, {w, wm}, {dy, "d0"}, {rs[0], rm}, {rs[1], rm}}, out = {dx, "d0"};
  KBody b = {.g = g};
  KVal r = rowRsqrt(&b, "%bi3", h, eps);
  KVal x2 = kbToF32(&b, kbArg("%bi0"), x.elt), w2 = kbToF32(&b, kbArg("%bi1"), w.elt);
  KVal d2 = kbToF32(&b, kbArg("%bi2"), dy.elt);
  KVal t1 = kbOp(&b, "arith.mulf %s, %s : f32", kbOp(&b, "arith.mulf %s, %s : f32", r.s, w2.s).s, d2.s);
  KVal r3 = kbOp(&b, "arith.mulf %s, %s : f32", kbOp(&b, "arith.mulf %s, %s : f32", r.s, r.s).s, r.s);
  KVal hf = kbF32(&b, (float)h);
  KVal c = kbOp(&b, "arith.divf %s, %s : f32", kbOp(&b, "arith.mulf %s, %%bi4 : f32", r3.s).s, hf.s);
  KVal t2 = kbOp(&b, "arith.mulf %s, %s : f32", c.s, x2.s);
  KVal y = kbFromF32(&b, kbOp(&b, "arith.subf %s, %s : f32", t1.s, t2.s), dx.elt);
  KFlat dxr;
  kgGeneric(g, 1, 5, ins, 1, &out, &b, &y, &dxr);

  /* dw[h] = sum_r dy x r (loop 0 over h, loop 1 over rows) */
  KOperand win[3] = {{xv, "d1, d0"}, {dyv, "d1, d0"}, {rs[0], "d1"}}, wout = {dw, "d0"};
  KBody c2 = {.g = g};
  KVal r2 = rowRsqrt(&c2, "%bi2", h, eps);
  KVal x3 = kbToF32(&c2, kbArg("%bi0"), x.elt), d3 = kbToF32(&c2, kbArg("%bi1"), dy.elt);
  KVal p = kbOp(&c2, "arith.mulf %s, %s : f32", kbOp(&c2, "arith.mulf %s, %s : f32", d3.s, x3.s).s, r2.s);
  KVal acc = kbOp(&c2, "arith.addf %%bo0, %s : f32", p.s);
  KFlat dwr;
  kgGeneric(g, 2, 3, win, 1, &wout, &c2, &acc, &dwr);
  KFlat res[2] = {dxr, dwr};
  kgReturnN(g, 2, res, a->outs);
  return true;
}

/* ---- cross_entropy_grad ------------------------------------------------------------------------------- */

int kscrCrossEntropyGrad(MlirOperation op, MlirType *types) {
  MlirType lt = mlirValueGetType(mlirOperationGetOperand(op, 1));
  MlirContext ctx = mlirOperationGetContext(op);
  int64_t n = kgNumElements(lt);
  types[0] = kgF32Tensor(ctx, n); /* row max */
  types[1] = kgF32Tensor(ctx, n); /* row sum of exp(x - max) */
  types[2] = kgF32Tensor(ctx, 1); /* count of labels != ignore_index */
  return 3;
}

bool kgenCrossEntropyGrad(KGen *g, MlirOperation op, const KArgs *a) {
  int64_t ignore = -100;
  cubeGetI64Attr(op, "ignore_index", &ignore);
  MlirType lt = a->in[0];
  int64_t v = kgDim(lt, kgRank(lt) - 1), n = kgNumElements(a->in[1]);
  if (v <= 0) {
    snprintf(g->err, sizeof g->err, "cross_entropy_grad needs a non-empty class dim");
    return false;
  }
  KFlat x = kgFlat(g, "%in0", lt), lab = kgFlat(g, "%in1", a->in[1]), dl = kgFlat(g, "%in2", a->in[2]);
  KFlat o = kgFlat(g, "%out", a->out);
  int64_t xd[2] = {n, v};
  KOperand xv = {kgView(g, x, 2, xd), "d0, d1"};

  KFlat m, l;
  kgRowMaxSumExp(g, xv, x.elt, kgFlat(g, "%s0", a->scratch[0]), kgFlat(g, "%s1", a->scratch[1]), &m, &l);

  /* count: of labels, or of the optional norm_labels (a chunk normalised by the whole batch's count) */
  KFlat cl = a->nIn == 4 ? kgFlat(g, "%in3", a->in[3]) : lab;
  int64_t cd[2] = {1, kgNumElements(a->nIn == 4 ? a->in[3] : a->in[1])};
  KFlat cnt = kgFill(g, kgFlat(g, "%s2", a->scratch[2]), "0.0");
  KOperand cin = {kgView(g, cl, 2, cd), "d0, d1"}, cout = {cnt, "d0"};
  KBody b3 = {.g = g};
  KVal ig = kbOp(&b3, "arith.constant %" PRId64 " : %s", ignore, cl.elt);
  KVal valid = kbOp(&b3, "arith.cmpi ne, %%bi0, %s : %s", ig.s, cl.elt);
  KVal one = kbF32(&b3, 1.0f), zero = kbF32(&b3, 0.0f);
  KVal inc = kbOp(&b3, "arith.select %s, %s, %s : f32", valid.s, one.s, zero.s);
  KVal c = kbOp(&b3, "arith.addf %%bo0, %s : f32", inc.s);
  kgGeneric(g, 2, 1, &cin, 1, &cout, &b3, &c, &cnt);

  char rm[64];
  snprintf(rm, sizeof rm, "d0 floordiv %" PRId64, v);
  KOperand ins[6] = {{x, "d0"}, {lab, rm}, {m, rm}, {l, rm}, {cnt, "0"}, {dl, "0"}}, out = {o, "d0"};
  KBody b = {.g = g};
  KVal i = kbOp(&b, "linalg.index 0 : index");
  KVal cv = kbIndex(&b, v);
  KVal col = kbOp(&b, "arith.remui %s, %s : index", i.s, cv.s);
  KVal ig2 = kbOp(&b, "arith.constant %" PRId64 " : %s", ignore, lab.elt);
  KVal ok = kbOp(&b, "arith.cmpi ne, %%bi1, %s : %s", ig2.s, lab.elt);
  KVal li = kbOp(&b, "arith.index_cast %%bi1 : %s to index", lab.elt);
  KVal hit = kbOp(&b, "arith.cmpi eq, %s, %s : index", li.s, col.s);
  KVal x2 = kbToF32(&b, kbArg("%bi0"), x.elt);
  KVal p = kbOp(&b, "arith.divf %s, %%bi3 : f32", kbOp(&b, "math.exp %s : f32",
                kbOp(&b, "arith.subf %s, %%bi2 : f32", x2.s).s).s);
  KVal one2 = kbF32(&b, 1.0f), z2 = kbF32(&b, 0.0f);
  KVal oh = kbOp(&b, "arith.select %s, %s, %s : f32", hit.s, one2.s, z2.s);
  KVal d = kbOp(&b, "arith.subf %s, %s : f32", p.s, oh.s);
  KVal sc = kbOp(&b, "arith.divf %%bi5, %%bi4 : f32");
  KVal gr = kbOp(&b, "arith.mulf %s, %s : f32", d.s, sc.s);
  KVal y = kbFromF32(&b, kbOp(&b, "arith.select %s, %s, %s : f32", ok.s, gr.s, z2.s), o.elt);
  KFlat res;
  kgGeneric(g, 1, 6, ins, 1, &out, &b, &y, &res);
  kgReturn(g, res, a->out);
  return true;
}
