/* The optimizer kernel: cube.adamw_update, torch.optim.AdamW's step for one parameter, in place (its outs are
 * the param's and both states' own buffers; inputs grad, lr [], step [] i64, grad_scale []), in f32 math:
 *   g = grad * grad_scale; p -= lr * wd * p; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
 *   p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)       (PyTorch's order of operations)
 * One generic, one thread per element; lr, step and grad_scale are read through a constant map. */
#include <stdio.h>

#include "cube/KernelGen.h"
#include "cube/Ops.h"

bool kgenAdamwUpdate(KGen *g, MlirOperation op, const KArgs *a) {
  double b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.0;
  cubeGetF64Attr(op, "beta1", &b1);
  cubeGetF64Attr(op, "beta2", &b2);
  cubeGetF64Attr(op, "eps", &eps);
  cubeGetF64Attr(op, "weight_decay", &wd);
  if (a->nIn != 4 || a->nOut != 3) {
    snprintf(g->err, sizeof g->err, "adamw_update needs (param, grad, exp_avg, exp_avg_sq, lr, step, grad_scale)");
    return false;
  }
  KFlat gr = kgFlat(g, "%in0", a->in[0]), lr = kgFlat(g, "%in1", a->in[1]), st = kgFlat(g, "%in2", a->in[2]);
  KFlat gs = kgFlat(g, "%in3", a->in[3]);
  KFlat p = kgFlat(g, "%out", a->outs[0]), m = kgFlat(g, "%out1", a->outs[1]), v = kgFlat(g, "%out2", a->outs[2]);
  KOperand ins[4] = {{gr, "d0"}, {lr, "0"}, {st, "0"}, {gs, "0"}};
  KOperand outs[3] = {{p, "d0"}, {m, "d0"}, {v, "d0"}};
  KBody b = {.g = g};
  KVal gf = kbOp(&b, "arith.mulf %s, %s : f32", kbToF32(&b, kbArg("%bi0"), gr.elt).s,
                 kbToF32(&b, kbArg("%bi3"), gs.elt).s);
  KVal lrf = kbToF32(&b, kbArg("%bi1"), lr.elt);
  KVal t = kbOp(&b, "arith.sitofp %%bi2 : %s to f32", st.elt);
  KVal pf = kbToF32(&b, kbArg("%bo0"), p.elt), mf = kbToF32(&b, kbArg("%bo1"), m.elt);
  KVal vf = kbToF32(&b, kbArg("%bo2"), v.elt);
  KVal one = kbF32(&b, 1.0f), cb1 = kbF32(&b, (float)b1), cb2 = kbF32(&b, (float)b2);
  KVal cwd = kbF32(&b, (float)wd), ceps = kbF32(&b, (float)eps);
  KVal decay = kbOp(&b, "arith.mulf %s, %s : f32", lrf.s, cwd.s);
  KVal p1 = kbOp(&b, "arith.subf %s, %s : f32", pf.s, kbOp(&b, "arith.mulf %s, %s : f32", pf.s, decay.s).s);
  KVal omb1 = kbOp(&b, "arith.subf %s, %s : f32", one.s, cb1.s), omb2 = kbOp(&b, "arith.subf %s, %s : f32", one.s, cb2.s);
  KVal m1 = kbOp(&b, "arith.addf %s, %s : f32", kbOp(&b, "arith.mulf %s, %s : f32", cb1.s, mf.s).s,
                 kbOp(&b, "arith.mulf %s, %s : f32", omb1.s, gf.s).s);
  KVal g2 = kbOp(&b, "arith.mulf %s, %s : f32", gf.s, gf.s);
  KVal v1 = kbOp(&b, "arith.addf %s, %s : f32", kbOp(&b, "arith.mulf %s, %s : f32", cb2.s, vf.s).s,
                 kbOp(&b, "arith.mulf %s, %s : f32", omb2.s, g2.s).s);
  KVal bc1 = kbOp(&b, "arith.subf %s, %s : f32", one.s, kbOp(&b, "math.powf %s, %s : f32", cb1.s, t.s).s);
  KVal bc2 = kbOp(&b, "arith.subf %s, %s : f32", one.s, kbOp(&b, "math.powf %s, %s : f32", cb2.s, t.s).s);
  KVal stepSize = kbOp(&b, "arith.divf %s, %s : f32", lrf.s, bc1.s);
  KVal den = kbOp(&b, "arith.addf %s, %s : f32",
                  kbOp(&b, "arith.divf %s, %s : f32", kbOp(&b, "math.sqrt %s : f32", v1.s).s,
                       kbOp(&b, "math.sqrt %s : f32", bc2.s).s).s, ceps.s);
  KVal upd = kbOp(&b, "arith.mulf %s, %s : f32", stepSize.s, kbOp(&b, "arith.divf %s, %s : f32", m1.s, den.s).s);
  KVal p2 = kbOp(&b, "arith.subf %s, %s : f32", p1.s, upd.s);
  KVal ys[3] = {kbFromF32(&b, p2, p.elt), kbFromF32(&b, m1, m.elt), kbFromF32(&b, v1, v.elt)};
  KFlat res[3];
  kgGeneric(g, 1, 4, ins, 3, outs, &b, ys, res);
  kgReturnN(g, 3, res, a->outs);
  return true;
}
