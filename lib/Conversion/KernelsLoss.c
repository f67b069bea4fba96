/* The cross_entropy kernel: F.cross_entropy(logits, labels, ignore_index, reduction="mean") in f32 with
 * log-sum-exp: per row, m = max(x), l = sum(exp(x - m)), loss_row = log(l) + m - x[label]; the result is
 * the sum of loss_row over rows whose label is not ignore_index, divided by their count (0/0 = nan, as in
 * PyTorch when every label is ignored) or, with the optional norm_labels operand, by the count of
 * norm_labels' entries that are not ignore_index (a chunk of the rows normalised by the whole batch). Labels are clamped to [0, V) before the gather so that a bad label
 * never reads outside the logits.
 *
 * The row statistics are one row per thread; the final sum over rows is a single parallel iteration
 * (one thread on the GPU, see docs/codegen.md). Scratch: m [N], l [N], count [1]. */
#include <inttypes.h>
#include <stdio.h>

#include "cube/KernelGen.h"
#include "cube/Ops.h"
#include "mlir-c/BuiltinTypes.h"

int kscrCrossEntropy(MlirOperation op, MlirType *types) {
  MlirType lt = mlirValueGetType(mlirOperationGetOperand(op, 1));
  MlirContext ctx = mlirOperationGetContext(op);
  int64_t n = kgNumElements(lt);
  types[0] = kgF32Tensor(ctx, n);
  types[1] = kgF32Tensor(ctx, n);
  types[2] = kgF32Tensor(ctx, 1);
  return 3;
}

bool kgenCrossEntropy(KGen *g, MlirOperation op, const KArgs *a) {
  int64_t ignore = -100;
  cubeGetI64Attr(op, "ignore_index", &ignore);
  MlirType lt = a->in[0];
  int64_t v = kgDim(lt, kgRank(lt) - 1), n = kgNumElements(a->in[1]);
  if (v <= 0) {
    snprintf(g->err, sizeof g->err, "cross_entropy needs a non-empty class dim");
    return false;
  }
  KFlat x = kgFlat(g, "%in0", lt), lab = kgFlat(g, "%in1", a->in[1]);
  KFlat o = kgFlat(g, "%out", a->out);
  int64_t xd[2] = {n, v};
  KOperand xv = {kgView(g, x, 2, xd), "d0, d1"};

  KFlat m, l;
  kgRowMaxSumExp(g, xv, x.elt, kgFlat(g, "%s0", a->scratch[0]), kgFlat(g, "%s1", a->scratch[1]), &m, &l);

  /* out = sum over valid rows of (log(l) + m - x[label]); count = number of valid rows */
  KFlat sum = kgFill(g, o, "0.0");
  KFlat cnt = kgFill(g, kgFlat(g, "%s2", a->scratch[2]), "0.0");
  int64_t ld[2] = {1, n};
  KOperand fin[3] = {{kgView(g, lab, 2, ld), "d0, d1"}, {m, "d1"}, {l, "d1"}};
  KOperand fout[2] = {{sum, "d0"}, {cnt, "d0"}};
  KBody b3 = {.g = g};
  KVal ig = kbOp(&b3, "arith.constant %" PRId64 " : %s", ignore, lab.elt);
  KVal valid = kbOp(&b3, "arith.cmpi ne, %%bi0, %s : %s", ig.s, lab.elt);
  KVal c = kbIndexClamp(&b3, kbArg("%bi0"), lab.elt, v);
  KVal r = kbOp(&b3, "linalg.index 1 : index");
  CubeBuf xt = {0};
  cubeBufPrintf(&xt, "tensor<%" PRId64 "x%" PRId64 "x%s>", n, v, x.elt);
  KVal xl = kbToF32(&b3, kbOp(&b3, "tensor.extract %s[%s, %s] : %s", xv.t.v.s, r.s, c.s, cubeBufStr(&xt)), x.elt);
  cubeBufFree(&xt);
  KVal lg = kbOp(&b3, "math.log %%bi2 : f32");
  KVal lse = kbOp(&b3, "arith.addf %s, %%bi1 : f32", lg.s);
  KVal rl = kbOp(&b3, "arith.subf %s, %s : f32", lse.s, xl.s);
  KVal zero = kbF32(&b3, 0.0f), one = kbF32(&b3, 1.0f);
  KVal add = kbOp(&b3, "arith.select %s, %s, %s : f32", valid.s, rl.s, zero.s);
  KVal inc = kbOp(&b3, "arith.select %s, %s, %s : f32", valid.s, one.s, zero.s);
  KVal ys[2] = {kbOp(&b3, "arith.addf %%bo0, %s : f32", add.s), kbOp(&b3, "arith.addf %%bo1, %s : f32", inc.s)};
  KFlat res[2];
  kgGeneric(g, 2, 3, fin, 2, fout, &b3, ys, res);

  if (a->nIn == 3) { /* count = the norm labels' non-ignored entries instead */
    KFlat nl = kgFlat(g, "%in2", a->in[2]);
    int64_t nd[2] = {1, kgNumElements(a->in[2])};
    KFlat zc = kgFill(g, res[1], "0.0");
    KOperand cin = {kgView(g, nl, 2, nd), "d0, d1"}, cout = {zc, "d0"};
    KBody b5 = {.g = g};
    KVal ig5 = kbOp(&b5, "arith.constant %" PRId64 " : %s", ignore, nl.elt);
    KVal ok5 = kbOp(&b5, "arith.cmpi ne, %%bi0, %s : %s", ig5.s, nl.elt);
    KVal one5 = kbF32(&b5, 1.0f), zero5 = kbF32(&b5, 0.0f);
    KVal c5 = kbOp(&b5, "arith.addf %%bo0, %s : f32",
                   kbOp(&b5, "arith.select %s, %s, %s : f32", ok5.s, one5.s, zero5.s).s);
    kgGeneric(g, 2, 1, &cin, 1, &cout, &b5, &c5, &res[1]);
  }

  /* out = sum / count */
  KOperand din = {res[1], "d0"}, dout = {res[0], "d0"};
  KBody b4 = {.g = g};
  KVal y = kbOp(&b4, "arith.divf %%bo0, %%bi0 : f32");
  KFlat fin2;
  kgGeneric(g, 1, 1, &din, 1, &dout, &b4, &y, &fin2);
  kgReturn(g, fin2, a->out);
  return true;
}
