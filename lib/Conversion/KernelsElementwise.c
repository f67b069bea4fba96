/* Kernels of the elementwise ops (add, sub, mul, div, minimum, neg, silu, exp, rsqrt, scale, cast): one 1-D
 * linalg.generic over the flat tensors, computed in f32 (bf16/f16 extended on load, rounded on store), with
 * PyTorch's formulas: silu(x) = x / (1 + exp(-x)), rsqrt(x) = 1 / sqrt(x) (math.rsqrt), scale multiplies by
 * the factor rounded to f32 as PyTorch does with a Python scalar; minimum is torch.minimum (NaN propagates,
 * arith.minimumf). fill (no operands: the loss seed and clipping constants of cube-autodiff) is one
 * linalg.fill of the value rounded to f32 (f32 results only). */
#include <stdio.h>
#include <string.h>

#include "cube/KernelGen.h"
#include "cube/Ops.h"

bool kbElementwise(KBody *k, MlirOperation op, KVal x, KVal y, KVal *r) {
  if (cubeIsOp(op, "add") || cubeIsOp(op, "sub") || cubeIsOp(op, "mul") || cubeIsOp(op, "minimum") ||
      cubeIsOp(op, "div")) {
    const char *fn = cubeIsOp(op, "add") ? "addf" : cubeIsOp(op, "sub") ? "subf" : cubeIsOp(op, "mul") ? "mulf"
                     : cubeIsOp(op, "minimum") ? "minimumf" : "divf";
    *r = kbOp(k, "arith.%s %s, %s : f32", fn, x.s, y.s);
  } else if (cubeIsOp(op, "neg")) {
    *r = kbOp(k, "arith.negf %s : f32", x.s);
  } else if (cubeIsOp(op, "exp")) {
    *r = kbOp(k, "math.exp %s : f32", x.s);
  } else if (cubeIsOp(op, "rsqrt")) {
    *r = kbOp(k, "math.rsqrt %s : f32", x.s);
  } else if (cubeIsOp(op, "silu")) {
    KVal n = kbOp(k, "arith.negf %s : f32", x.s);
    KVal e = kbOp(k, "math.exp %s : f32", n.s);
    KVal one = kbF32(k, 1.0f);
    KVal d = kbOp(k, "arith.addf %s, %s : f32", one.s, e.s);
    *r = kbOp(k, "arith.divf %s, %s : f32", x.s, d.s);
  } else if (cubeIsOp(op, "scale")) {
    double f = 1.0;
    cubeGetF64Attr(op, "factor", &f);
    KVal c = kbF32(k, (float)f);
    *r = kbOp(k, "arith.mulf %s, %s : f32", x.s, c.s);
  } else if (cubeIsOp(op, "cast")) {
    *r = x;
  } else if (cubeIsOp(op, "silu_grad")) { /* silu_grad(x, dout) = dout * s * (1 + x (1 - s)), s = sigmoid(x) */
    KVal one = kbF32(k, 1.0f);
    KVal nx = kbOp(k, "arith.negf %s : f32", x.s);
    KVal e = kbOp(k, "math.exp %s : f32", nx.s);
    KVal den = kbOp(k, "arith.addf %s, %s : f32", one.s, e.s);
    KVal sg = kbOp(k, "arith.divf %s, %s : f32", one.s, den.s);
    KVal oms = kbOp(k, "arith.subf %s, %s : f32", one.s, sg.s);
    KVal xo = kbOp(k, "arith.mulf %s, %s : f32", x.s, oms.s);
    KVal t = kbOp(k, "arith.addf %s, %s : f32", one.s, xo.s);
    KVal st = kbOp(k, "arith.mulf %s, %s : f32", sg.s, t.s);
    *r = kbOp(k, "arith.mulf %s, %s : f32", y.s, st.s);
  } else {
    return false;
  }
  return true;
}

bool kgenElementwise(KGen *g, MlirOperation op, const KArgs *a) {
  KOperand ins[2];
  for (int i = 0; i < a->nIn; ++i) {
    char name[16];
    snprintf(name, sizeof name, "%%in%d", i);
    ins[i] = (KOperand){kgFlat(g, name, a->in[i]), "d0"};
  }
  KOperand out = {kgFlat(g, "%out", a->out), "d0"};
  KBody k = {.g = g};
  KVal x = kbToF32(&k, kbArg("%bi0"), ins[0].t.elt), r;
  KVal y = a->nIn == 2 ? kbToF32(&k, kbArg("%bi1"), ins[1].t.elt) : x;
  if (cubeIsOp(op, "silu_grad") || !kbElementwise(&k, op, x, y, &r)) {
    snprintf(g->err, sizeof g->err, "not an elementwise op");
    cubeBufFree(&k.b);
    return false;
  }
  KVal o = kbFromF32(&k, r, out.t.elt);
  KFlat res;
  kgGeneric(g, 1, a->nIn, ins, 1, &out, &k, &o, &res);
  kgReturn(g, res, a->out);
  return true;
}

bool kgenFill(KGen *g, MlirOperation op, const KArgs *a) {
  double v = 0;
  char text[32];
  KFlat out = kgFlat(g, "%out", a->out);
  if (a->nIn != 0 || strcmp(out.elt, "f32") || !cubeGetF64Attr(op, "value", &v)) {
    snprintf(g->err, sizeof g->err, "fill needs no operands, an f32 result and a value");
    return false;
  }
  kgF32Text((float)v, text, sizeof text);
  KFlat r = kgFill(g, out, text);
  kgReturn(g, r, a->out);
  return true;
}
