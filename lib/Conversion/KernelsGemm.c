/* The CPU kernels of linear and matmul (on target=cuda they are GEMM steps run by cuBLASLt, never these):
 * one element of the result per parallel iteration, an f32 accumulation over K (in an f32 scratch for
 * bf16/f16, rounded at the end), and the bias added after the products as addmm does. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cube/KernelGen.h"
#include "cube/Ops.h"
#include "mlir-c/BuiltinTypes.h"

static bool isF32(MlirType t) { return mlirTypeIsAF32(mlirShapedTypeGetElementType(t)); }

int kscrLinear(MlirOperation op, MlirType *types) {
  MlirType out = mlirValueGetType(mlirOperationGetResult(op, 0));
  if (isF32(out)) return 0;
  types[0] = kgF32Tensor(mlirOperationGetContext(op), kgNumElements(out));
  return 1;
}

int kscrMatmul(MlirOperation op, MlirType *types) { return kscrLinear(op, types); }

/* acc (flat [M*N]) = sum over loop d1 of lhs * rhs, then out = cast(acc (+ bias[d0 mod N])). */
static bool gemmBody(KGen *g, const KArgs *a, KOperand lhs, KOperand rhs, int64_t n, bool bias) {
  KFlat o = kgFlat(g, "%out", a->out);
  bool f32 = !strcmp(o.elt, "f32");
  KFlat acc = f32 ? o : kgFlat(g, "%s0", a->scratch[0]);
  acc = kgFill(g, acc, "0.0");
  KOperand ins[2] = {lhs, rhs}, out = {acc, "d0"};
  KBody b = {.g = g};
  KVal x = kbToF32(&b, kbArg("%bi0"), lhs.t.elt), w = kbToF32(&b, kbArg("%bi1"), rhs.t.elt);
  KVal p = kbOp(&b, "arith.mulf %s, %s : f32", x.s, w.s);
  KVal s = kbOp(&b, "arith.addf %%bo0, %s : f32", p.s);
  KFlat res;
  kgGeneric(g, 2, 2, ins, 1, &out, &b, &s, &res);
  if (bias || !f32) {
    /* f32: in place over the result (bias only); otherwise acc (+ bias) rounded into out */
    char bm[64];
    snprintf(bm, sizeof bm, "d0 mod %" PRId64, n);
    KOperand fin[2];
    int nIn = 0;
    if (!f32) fin[nIn++] = (KOperand){res, "d0"};
    if (bias) fin[nIn++] = (KOperand){kgFlat(g, "%in2", a->in[2]), bm};
    KOperand fout = {f32 ? res : o, "d0"};
    KBody e = {.g = g};
    KVal y = kbArg(f32 ? "%bo0" : "%bi0");
    if (bias) {
      char bn[8];
      snprintf(bn, sizeof bn, "%%bi%d", nIn - 1);
      y = kbOp(&e, "arith.addf %s, %s : f32", y.s, kbToF32(&e, kbArg(bn), fin[nIn - 1].t.elt).s);
    }
    y = kbFromF32(&e, y, o.elt);
    kgGeneric(g, 1, nIn, fin, 1, &fout, &e, &y, &res);
  }
  kgReturn(g, res, a->out);
  return true;
}

bool kgenLinear(KGen *g, MlirOperation op, const KArgs *a) {
  (void)op;
  int64_t k = kgDim(a->in[1], 1), n = kgDim(a->in[1], 0), m = k ? kgNumElements(a->in[0]) / k : 0;
  if (n <= 0 || k <= 0) {
    snprintf(g->err, sizeof g->err, "linear needs non-empty in/out features");
    return false;
  }
  int64_t xd[2] = {m, k}, wd[2] = {n, k};
  char xm[64], wm[64];
  snprintf(xm, sizeof xm, "d0 floordiv %" PRId64 ", d1", n);
  snprintf(wm, sizeof wm, "d0 mod %" PRId64 ", d1", n);
  KOperand lhs = {kgView(g, kgFlat(g, "%in0", a->in[0]), 2, xd), xm};
  KOperand rhs = {kgView(g, kgFlat(g, "%in1", a->in[1]), 2, wd), wm};
  return gemmBody(g, a, lhs, rhs, n, a->nIn == 3);
}

bool kgenMatmul(KGen *g, MlirOperation op, const KArgs *a) {
  bool tl = false, tr = false;
  cubeGetBoolAttr(op, "transpose_lhs", &tl);
  cubeGetBoolAttr(op, "transpose_rhs", &tr);
  intptr_t r = kgRank(a->out);
  int64_t m = kgDim(a->out, r - 2), n = kgDim(a->out, r - 1);
  int64_t k = kgDim(a->in[0], tl ? r - 2 : r - 1), bt = 1;
  for (intptr_t i = 0; i < r - 2; ++i) bt *= kgDim(a->out, i);
  if (m <= 0 || n <= 0 || k <= 0) {
    snprintf(g->err, sizeof g->err, "matmul needs non-empty M, N and K");
    return false;
  }
  int64_t ld[3] = {bt, tl ? k : m, tl ? m : k}, rd[3] = {bt, tr ? n : k, tr ? k : n};
  char b[64], mm[64], nn[64], lm[160], rm[160];
  snprintf(b, sizeof b, "d0 floordiv %" PRId64, m * n);
  snprintf(mm, sizeof mm, "(d0 floordiv %" PRId64 ") mod %" PRId64, n, m);
  snprintf(nn, sizeof nn, "d0 mod %" PRId64, n);
  if (tl) snprintf(lm, sizeof lm, "%s, d1, %s", b, mm);
  else snprintf(lm, sizeof lm, "%s, %s, d1", b, mm);
  if (tr) snprintf(rm, sizeof rm, "%s, %s, d1", b, nn);
  else snprintf(rm, sizeof rm, "%s, d1, %s", b, nn);
  KOperand lhs = {kgView(g, kgFlat(g, "%in0", a->in[0]), 3, ld), lm};
  KOperand rhs = {kgView(g, kgFlat(g, "%in1", a->in[1]), 3, rd), rm};
  return gemmBody(g, a, lhs, rhs, n, false);
}
