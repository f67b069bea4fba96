/* cube-autodiff: reverse-mode gradients of @forward(input_ids, labels) -> loss (docs/passes.md).
 *   optimizer=none:  @grad_step(input_ids, labels) -> (loss, grad_0, grad_1, ...)  (trainable params, in the
 *                    order of their cube.param ops)
 *   optimizer=adamw: @train_step(input_ids, labels, lr, step) -> (loss, grad_norm), ending with one
 *                    cube.opt_state pair and one cube.adamw_update per trainable param.
 * The new function starts as a copy of @forward (which is kept as it is; both declare the same params, which
 * the verifier allows across functions); the backward ops are appended before its return.
 *
 * Checkpoints (func.call {cube.checkpoint}) stay calls in the forward part: their callee's activations are
 * local to the call. Their backward re-runs the callee: a copy of the callee's body (ops marked
 * `cube.recomputed`, scopes made absolute) is emitted in the backward part from the call's saved operands,
 * followed by the VJP of that copy. So no value inside a callee is used after the call in the forward part.
 *
 * Everything is checked before the module changes: a failing pass erases the function it was building. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cube/Ops.h"
#include "cube/Passes.h"
#include "cube/Rewrite.h"
#include "mlir-c/BuiltinAttributes.h"
#include "mlir-c/BuiltinTypes.h"
#include "mlir-c/Diagnostics.h"

enum { OPT_OPTIMIZER, OPT_BETA1, OPT_BETA2, OPT_EPS, OPT_WD, OPT_CLIP };

static const CubePassOption kOptions[] = {
    [OPT_OPTIMIZER] = {"optimizer", CUBE_OPT_STRING, "adamw",
                       "adamw: @train_step with AdamW updates; none: @grad_step returning the gradients", 0, 0},
    [OPT_BETA1] = {"beta1", CUBE_OPT_FLOAT, "0.9", "AdamW beta1, in [0, 1)", 0, 0},
    [OPT_BETA2] = {"beta2", CUBE_OPT_FLOAT, "0.999", "AdamW beta2, in [0, 1)", 0, 0},
    [OPT_EPS] = {"eps", CUBE_OPT_FLOAT, "1e-8", "AdamW eps, > 0", 0, 0},
    [OPT_WD] = {"weight-decay", CUBE_OPT_FLOAT, "0.0", "AdamW decoupled weight decay, >= 0", 0, 0},
    [OPT_CLIP] = {"clip-norm", CUBE_OPT_FLOAT, "0.0", "clip the global gradient norm to this (0: no clipping)",
                  0, 0},
};

/* ---- a map from values to values (open addressing on the value pointer) ------------------------------- */

typedef struct {
  const void **k;
  MlirValue *v;
  size_t cap, n;
  bool oom;
} VMap;

static size_t slotOf(const VMap *m, const void *k) {
  size_t h = (size_t)((uintptr_t)k * 0x9E3779B97F4A7C15ULL >> 7) & (m->cap - 1);
  while (m->k[h] && m->k[h] != k) h = (h + 1) & (m->cap - 1);
  return h;
}

static MlirValue vget(const VMap *m, MlirValue key) {
  if (!m->cap) return (MlirValue){NULL};
  size_t h = slotOf(m, key.ptr);
  return m->k[h] ? m->v[h] : (MlirValue){NULL};
}

static void vput(VMap *m, MlirValue key, MlirValue val) {
  if ((m->n + 1) * 2 > m->cap) {
    VMap b = {calloc(m->cap ? m->cap * 2 : 256, sizeof *b.k), calloc(m->cap ? m->cap * 2 : 256, sizeof *b.v),
              m->cap ? m->cap * 2 : 256, 0, false};
    if (!b.k || !b.v) {
      free(b.k);
      free(b.v);
      m->oom = true;
      return;
    }
    for (size_t i = 0; i < m->cap; ++i)
      if (m->k[i]) {
        size_t h = slotOf(&b, m->k[i]);
        b.k[h] = m->k[i];
        b.v[h] = m->v[i];
        b.n++;
      }
    free(m->k);
    free(m->v);
    b.oom = m->oom;
    *m = b;
  }
  size_t h = slotOf(m, key.ptr);
  if (!m->k[h]) m->n++;
  m->k[h] = key.ptr;
  m->v[h] = val;
}

static void vfree(VMap *m) {
  free(m->k);
  free(m->v);
}

/* ---- the pass's state ---------------------------------------------------------------------------------- */

typedef struct {
  MlirOperation module, func;
  MlirContext ctx;
  MlirBlock block;
  MlirOperation ret; /* backward ops go right before it */
  VMap grad;         /* value -> its accumulated gradient */
  VMap needs;        /* value -> itself when it depends on a trainable param */
  const char *scope; /* scope for the ops being emitted (the forward op's), or NULL */
  bool failed;
} AD;

static void fail(AD *ad, MlirOperation at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(AD *ad, MlirOperation at, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  mlirEmitError(mlirOperationGetLocation(at), msg);
  ad->failed = true;
}

static MlirType typeOf(MlirValue v) { return mlirValueGetType(v); }
static intptr_t rankOf(MlirType t) { return mlirShapedTypeGetRank(t); }
static int64_t dimOf(MlirType t, intptr_t i) { return mlirShapedTypeGetDimSize(t, i); }
static MlirType elemOf(MlirType t) { return mlirShapedTypeGetElementType(t); }
static MlirType tensorOf(intptr_t n, const int64_t *d, MlirType elem) {
  return mlirRankedTensorTypeGet(n, d, elem, mlirAttributeGetNull());
}
static bool isFloatTensor(MlirType t) {
  if (!cubeIsStaticTensor(t)) return false;
  MlirType e = elemOf(t);
  return mlirTypeIsAF32(e) || mlirTypeIsABF16(e) || mlirTypeIsAF16(e);
}

/* Creates "cube.<mnemonic>" before the return; returns the op. */
static MlirOperation emitN(AD *ad, const char *mnemonic, intptr_t nOpnd, const MlirValue *opnds, intptr_t nRes,
                           const MlirType *resTypes, intptr_t nAttrs, const MlirNamedAttribute *attrs) {
  char name[128];
  snprintf(name, sizeof name, "cube.%s", mnemonic);
  MlirOperationState st = mlirOperationStateGet(CUBE_STR(name), mlirOperationGetLocation(ad->ret));
  if (nOpnd) mlirOperationStateAddOperands(&st, nOpnd, opnds);
  if (nRes) mlirOperationStateAddResults(&st, nRes, resTypes);
  if (nAttrs) mlirOperationStateAddAttributes(&st, nAttrs, attrs);
  MlirOperation op = mlirOperationCreate(&st);
  mlirBlockInsertOwnedOperationBefore(ad->block, ad->ret, op);
  if (ad->scope) cubeSetScope(op, ad->scope);
  return op;
}

static MlirValue emit1(AD *ad, const char *mnemonic, intptr_t nOpnd, const MlirValue *opnds, MlirType t,
                       intptr_t nAttrs, const MlirNamedAttribute *attrs) {
  return mlirOperationGetResult(emitN(ad, mnemonic, nOpnd, opnds, 1, &t, nAttrs, attrs), 0);
}

static MlirValue un(AD *ad, const char *m, MlirValue x, MlirType t) { return emit1(ad, m, 1, &x, t, 0, NULL); }
static MlirValue bin(AD *ad, const char *m, MlirValue a, MlirValue b) {
  MlirValue o[2] = {a, b};
  return emit1(ad, m, 2, o, typeOf(a), 0, NULL);
}
static MlirValue scaleBy(AD *ad, MlirValue x, double f) {
  MlirNamedAttribute a = cubeNamedF64(ad->ctx, "factor", f);
  return emit1(ad, "scale", 1, &x, typeOf(x), 1, &a);
}
static MlirValue fill(AD *ad, MlirType t, double v) {
  MlirNamedAttribute a = cubeNamedF64(ad->ctx, "value", v);
  return emit1(ad, "fill", 0, NULL, t, 1, &a);
}
static MlirValue reshapeTo(AD *ad, MlirValue x, MlirType t) {
  return mlirTypeEqual(typeOf(x), t) ? x : un(ad, "reshape", x, t);
}

static MlirNamedAttribute copyAttr(AD *ad, MlirOperation op, const char *name) {
  return mlirNamedAttributeGet(mlirIdentifierGet(ad->ctx, CUBE_STR(name)), mlirOperationGetAttributeByName(op, CUBE_STR(name)));
}

static bool needs(AD *ad, MlirValue v) { return !mlirValueIsNull(vget(&ad->needs, v)); }

static void accumulate(AD *ad, MlirValue v, MlirValue g) {
  if (!needs(ad, v)) return;
  MlirValue old = vget(&ad->grad, v);
  vput(&ad->grad, v, mlirValueIsNull(old) ? g : bin(ad, "add", old, g));
}

/* Forward dependence: a float result needs a gradient when an operand does (or it is a trainable param). */
static void markNeeds(AD *ad, MlirOperation op) {
  bool any = false;
  bool trainable = false;
  if (cubeIsOp(op, "param")) any = cubeGetBoolAttr(op, "trainable", &trainable) && trainable;
  for (intptr_t i = 0; !any && i < mlirOperationGetNumOperands(op); ++i)
    any = needs(ad, mlirOperationGetOperand(op, i));
  if (!any) return;
  for (intptr_t i = 0; i < mlirOperationGetNumResults(op); ++i) {
    MlirValue r = mlirOperationGetResult(op, i);
    if (isFloatTensor(typeOf(r))) vput(&ad->needs, r, r);
  }
}

/* ---- VJP rules ----------------------------------------------------------------------------------------- */

static void backprop(AD *ad, MlirOperation *ops, size_t n);

static bool countsAre(MlirOperation op, intptr_t nOpnd, intptr_t nRes) {
  return mlirOperationGetNumOperands(op) == nOpnd && mlirOperationGetNumResults(op) == nRes;
}

/* linear: y = x W^T + b over x [*, in], W [out, in]. */
static void vjpLinear(AD *ad, MlirOperation op, MlirValue g) {
  MlirValue x = mlirOperationGetOperand(op, 0), w = mlirOperationGetOperand(op, 1);
  MlirType xt = typeOf(x), wt = typeOf(w), e = elemOf(xt);
  int64_t out = dimOf(wt, 0), in = dimOf(wt, 1), n = 1;
  for (intptr_t i = 0; i + 1 < rankOf(xt); ++i) n *= dimOf(xt, i);
  int64_t dg[2] = {n, out}, dx[2] = {n, in};
  MlirValue g2 = reshapeTo(ad, g, tensorOf(2, dg, e));
  if (needs(ad, x)) {
    MlirValue o[2] = {g2, w};
    accumulate(ad, x, reshapeTo(ad, emit1(ad, "matmul", 2, o, tensorOf(2, dx, e), 0, NULL), xt));
  }
  if (needs(ad, w)) {
    MlirValue x2 = reshapeTo(ad, x, tensorOf(2, dx, e));
    MlirValue o[2] = {g2, x2};
    MlirNamedAttribute a = cubeNamedBool(ad->ctx, "transpose_lhs", true);
    accumulate(ad, w, emit1(ad, "matmul", 2, o, wt, 1, &a));
  }
  if (mlirOperationGetNumOperands(op) == 3 && needs(ad, mlirOperationGetOperand(op, 2))) {
    int64_t z = 0;
    MlirNamedAttribute a = cubeNamedI64Array(ad->ctx, "dims", 1, &z);
    MlirValue b = mlirOperationGetOperand(op, 2);
    accumulate(ad, b, emit1(ad, "reduce_sum", 1, &g2, typeOf(b), 1, &a));
  }
}

/* matmul: Y = A' B' with A' = transpose_lhs ? A^T : A, B' likewise. */
static void vjpMatmul(AD *ad, MlirOperation op, MlirValue g) {
  MlirValue a = mlirOperationGetOperand(op, 0), b = mlirOperationGetOperand(op, 1);
  bool ta = false, tb = false;
  cubeGetBoolAttr(op, "transpose_lhs", &ta);
  cubeGetBoolAttr(op, "transpose_rhs", &tb);
  if (needs(ad, a)) {
    MlirValue o[2] = {ta ? b : g, ta ? g : b};
    MlirNamedAttribute at[2] = {cubeNamedBool(ad->ctx, "transpose_lhs", ta ? tb : false),
                                cubeNamedBool(ad->ctx, "transpose_rhs", ta ? true : !tb)};
    accumulate(ad, a, emit1(ad, "matmul", 2, o, typeOf(a), 2, at));
  }
  if (needs(ad, b)) {
    MlirValue o[2] = {tb ? g : a, tb ? a : g};
    MlirNamedAttribute at[2] = {cubeNamedBool(ad->ctx, "transpose_lhs", tb ? true : !ta),
                                cubeNamedBool(ad->ctx, "transpose_rhs", tb ? ta : false)};
    accumulate(ad, b, emit1(ad, "matmul", 2, o, typeOf(b), 2, at));
  }
}

/* A checkpoint: re-run the callee from the call's operands, then backpropagate through the copy. */
static void vjpCheckpoint(AD *ad, MlirOperation call, const MlirValue *grads) {
  MlirStringRef name, callScope = {NULL, 0};
  MlirOperation callee = {NULL};
  MlirBlock entry;
  if (cubeCheckpointCallee(call, &name)) callee = cubeLookupFunc(ad->module, name);
  if (mlirOperationIsNull(callee) || !cubeFuncEntryBlock(callee, &entry) ||
      mlirBlockGetNumArguments(entry) != mlirOperationGetNumOperands(call)) {
    fail(ad, call, "cube-autodiff: the checkpoint's callee is not a function of the module with a matching body");
    return;
  }
  bool relative = cubeIsOutlinedFunc(callee);
  if (relative && !cubeGetScope(call, &callScope)) {
    fail(ad, call, "cube-autodiff: a checkpoint of an outlined function needs its instance path as cube.scope");
    return;
  }
  VMap map = {0};
  for (intptr_t i = 0; i < mlirBlockGetNumArguments(entry); ++i)
    vput(&map, mlirBlockGetArgument(entry, i), mlirOperationGetOperand(call, i));
  MlirOperation *ops = NULL;
  size_t n = 0, cap = 0;
  MlirOperation term = {NULL};
  CubeBuf buf = {0};
  for (MlirOperation o = mlirBlockGetFirstOperation(entry); !mlirOperationIsNull(o); o = mlirOperationGetNextInBlock(o)) {
    if (cubeOpNameIs(o, "func.return")) {
      term = o;
      break;
    }
    MlirOperation c = mlirOperationClone(o);
    for (intptr_t i = 0; i < mlirOperationGetNumOperands(c); ++i) {
      MlirValue m = vget(&map, mlirOperationGetOperand(c, i));
      if (!mlirValueIsNull(m)) mlirOperationSetOperand(c, i, m);
    }
    for (intptr_t i = 0; i < mlirOperationGetNumResults(c); ++i)
      vput(&map, mlirOperationGetResult(o, i), mlirOperationGetResult(c, i));
    MlirStringRef rel;
    if (relative && cubeGetScope(c, &rel)) {
      cubeBufClear(&buf);
      cubeScopeJoin(callScope, rel, &buf);
      cubeSetScope(c, cubeBufStr(&buf));
    }
    mlirOperationSetAttributeByName(c, CUBE_STR("cube.recomputed"), mlirUnitAttrGet(ad->ctx));
    mlirBlockInsertOwnedOperationBefore(ad->block, ad->ret, c);
    markNeeds(ad, c);
    if (!cubeGrow((void **)&ops, &cap, n + 1, sizeof *ops)) {
      map.oom = true;
      break;
    }
    ops[n++] = c;
  }
  cubeBufFree(&buf);
  if (mlirOperationIsNull(term) || mlirOperationGetNumOperands(term) != mlirOperationGetNumResults(call) || map.oom) {
    fail(ad, call, "cube-autodiff: cannot recompute the checkpoint's callee (no matching func.return)");
  } else {
    for (intptr_t i = 0; i < mlirOperationGetNumOperands(term); ++i) {
      if (mlirValueIsNull(grads[i])) continue;
      MlirValue r = vget(&map, mlirOperationGetOperand(term, i));
      if (!mlirValueIsNull(r)) accumulate(ad, r, grads[i]);
    }
    backprop(ad, ops, n);
  }
  free(ops);
  vfree(&map);
}

static void vjpOp(AD *ad, MlirOperation op) {
  intptr_t nRes = mlirOperationGetNumResults(op);
  MlirValue g[8] = {{NULL}};
  bool any = false;
  for (intptr_t i = 0; i < nRes && i < 8; ++i) {
    g[i] = vget(&ad->grad, mlirOperationGetResult(op, i));
    any = any || !mlirValueIsNull(g[i]);
  }
  if (!any) return;
  if (cubeIsCheckpoint(op)) {
    if (nRes > 8) return fail(ad, op, "cube-autodiff: a checkpoint with more than 8 results is not supported");
    vjpCheckpoint(ad, op, g);
    return;
  }
  MlirStringRef sc;
  char *scope = cubeGetScope(op, &sc) ? cubeStrDupRef(sc) : NULL;
  ad->scope = scope;
  intptr_t nOp = mlirOperationGetNumOperands(op);
  MlirValue x = nOp > 0 ? mlirOperationGetOperand(op, 0) : (MlirValue){NULL};
  MlirValue y = mlirOperationGetResult(op, 0), d = g[0];
  MlirValue b = nOp > 1 ? mlirOperationGetOperand(op, 1) : (MlirValue){NULL};
  MlirStringRef full = mlirIdentifierStr(mlirOperationGetName(op));
  if (!cubeIsCubeOp(op) || nRes != 1) {
    fail(ad, op, "cube-autodiff: no VJP rule for '%.*s' (it lies on the path from a trainable param to the loss)",
         (int)full.length, full.data);
  } else if (cubeIsOp(op, "param")) {
    /* a leaf: its gradient is read at the end */
  } else if (cubeIsOp(op, "embedding") && countsAre(op, 2, 1)) {
    MlirType wt = typeOf(b);
    MlirNamedAttribute a = cubeNamedI64(ad->ctx, "num_embeddings", dimOf(wt, 0));
    MlirValue o[2] = {x, d};
    if (needs(ad, b)) accumulate(ad, b, emit1(ad, "embedding_grad", 2, o, wt, 1, &a));
  } else if (cubeIsOp(op, "linear") && nOp >= 2) {
    vjpLinear(ad, op, d);
  } else if (cubeIsOp(op, "matmul") && countsAre(op, 2, 1)) {
    vjpMatmul(ad, op, d);
  } else if ((cubeIsOp(op, "add") || cubeIsOp(op, "sub")) && countsAre(op, 2, 1)) {
    accumulate(ad, x, d);
    if (needs(ad, b)) accumulate(ad, b, cubeIsOp(op, "sub") ? un(ad, "neg", d, typeOf(d)) : d);
  } else if (cubeIsOp(op, "mul") && countsAre(op, 2, 1)) {
    if (needs(ad, x)) accumulate(ad, x, bin(ad, "mul", d, b));
    if (needs(ad, b)) accumulate(ad, b, bin(ad, "mul", d, x));
  } else if (cubeIsOp(op, "div") && countsAre(op, 2, 1)) {
    MlirValue t = bin(ad, "div", d, b); /* dx = g / b, db = -(g / b) * y */
    accumulate(ad, x, t);
    if (needs(ad, b)) accumulate(ad, b, un(ad, "neg", bin(ad, "mul", t, y), typeOf(t)));
  } else if (cubeIsOp(op, "neg") && nOp == 1) {
    accumulate(ad, x, un(ad, "neg", d, typeOf(d)));
  } else if (cubeIsOp(op, "silu") && nOp == 1) {
    MlirValue o[2] = {x, d};
    accumulate(ad, x, emit1(ad, "silu_grad", 2, o, typeOf(x), 0, NULL));
  } else if (cubeIsOp(op, "exp") && nOp == 1) {
    accumulate(ad, x, bin(ad, "mul", d, y));
  } else if (cubeIsOp(op, "rsqrt") && nOp == 1) { /* d/dx x^-1/2 = -1/2 y^3 */
    accumulate(ad, x, scaleBy(ad, bin(ad, "mul", d, bin(ad, "mul", y, bin(ad, "mul", y, y))), -0.5));
  } else if (cubeIsOp(op, "scale") && nOp == 1) {
    double f = 1;
    cubeGetF64Attr(op, "factor", &f);
    accumulate(ad, x, scaleBy(ad, d, f));
  } else if (cubeIsOp(op, "cast") && nOp == 1) {
    accumulate(ad, x, un(ad, "cast", d, typeOf(x)));
  } else if (cubeIsOp(op, "dropout") && nOp == 1) { /* the same mask (seed, step, index): g * mask / (1 - p) */
    MlirNamedAttribute a[2] = {copyAttr(ad, op, "p"), copyAttr(ad, op, "seed")};
    accumulate(ad, x, emit1(ad, "dropout", 1, &d, typeOf(x), 2, a));
  } else if (cubeIsOp(op, "rmsnorm") && countsAre(op, 2, 1)) {
    MlirValue o[3] = {x, b, d};
    MlirType t[2] = {typeOf(x), typeOf(b)};
    MlirNamedAttribute a = copyAttr(ad, op, "eps");
    MlirOperation r = emitN(ad, "rmsnorm_grad", 3, o, 2, t, 1, &a);
    accumulate(ad, x, mlirOperationGetResult(r, 0));
    accumulate(ad, b, mlirOperationGetResult(r, 1));
  } else if (cubeIsOp(op, "rope") && nOp == 1) {
    MlirNamedAttribute a = copyAttr(ad, op, "theta");
    accumulate(ad, x, emit1(ad, "rope_grad", 1, &d, typeOf(x), 1, &a));
  } else if (cubeIsOp(op, "softmax") && nOp == 1) {
    MlirValue o[2] = {y, d};
    MlirNamedAttribute a = copyAttr(ad, op, "dim");
    accumulate(ad, x, emit1(ad, "softmax_grad", 2, o, typeOf(x), 1, &a));
  } else if (cubeIsOp(op, "attention") && countsAre(op, 3, 1)) {
    MlirValue o[4] = {x, b, mlirOperationGetOperand(op, 2), d};
    MlirType t[3] = {typeOf(o[0]), typeOf(o[1]), typeOf(o[2])};
    MlirNamedAttribute a[2] = {copyAttr(ad, op, "causal"), copyAttr(ad, op, "scale")};
    MlirOperation r = emitN(ad, "attention_grad", 4, o, 3, t, cubeHasAttr(op, "scale") ? 2 : 1, a);
    for (int i = 0; i < 3; ++i) accumulate(ad, o[i], mlirOperationGetResult(r, i));
  } else if (cubeIsOp(op, "cross_entropy") && (countsAre(op, 2, 1) || countsAre(op, 3, 1))) {
    MlirValue o[4] = {x, b, d, nOp == 3 ? mlirOperationGetOperand(op, 2) : x}; /* norm_labels passed on */
    MlirNamedAttribute a = copyAttr(ad, op, "ignore_index");
    accumulate(ad, x, emit1(ad, "cross_entropy_grad", nOp == 3 ? 4 : 3, o, typeOf(x), 1, &a));
  } else if (cubeIsOp(op, "reshape") && nOp == 1) {
    accumulate(ad, x, un(ad, "reshape", d, typeOf(x)));
  } else if (cubeIsOp(op, "transpose") && nOp == 1) {
    int64_t p[16], inv[16];
    intptr_t n = 0;
    if (!cubeGetI64ArrayAttr(op, "permutation", p, 16, &n) || n > 16) {
      fail(ad, op, "cube-autodiff: transpose needs a permutation of rank <= 16");
    } else {
      for (intptr_t i = 0; i < n; ++i) inv[p[i] >= 0 && p[i] < n ? p[i] : 0] = i;
      MlirNamedAttribute a = cubeNamedI64Array(ad->ctx, "permutation", n, inv);
      accumulate(ad, x, emit1(ad, "transpose", 1, &d, typeOf(x), 1, &a));
    }
  } else if (cubeIsOp(op, "slice") && nOp == 1) {
    MlirNamedAttribute a = copyAttr(ad, op, "offsets");
    accumulate(ad, x, emit1(ad, "pad", 1, &d, typeOf(x), 1, &a));
  } else if (cubeIsOp(op, "pad") && nOp == 1) {
    /* the padding `value` is a constant: only the input's window of the gradient flows back */
    MlirNamedAttribute a = copyAttr(ad, op, "offsets");
    accumulate(ad, x, emit1(ad, "slice", 1, &d, typeOf(x), 1, &a));
  } else if (cubeIsOp(op, "concat") && countsAre(op, 2, 1)) {
    int64_t dim = 0, off[16] = {0};
    intptr_t r = rankOf(typeOf(x));
    cubeGetI64Attr(op, "dim", &dim);
    if (dim < 0) dim += r;
    if (r > 16 || dim < 0 || dim >= r) {
      fail(ad, op, "cube-autodiff: concat needs rank <= 16 and dim in range");
    } else {
      MlirNamedAttribute a = cubeNamedI64Array(ad->ctx, "offsets", r, off);
      if (needs(ad, x)) accumulate(ad, x, emit1(ad, "slice", 1, &d, typeOf(x), 1, &a));
      off[dim] = dimOf(typeOf(x), dim);
      a = cubeNamedI64Array(ad->ctx, "offsets", r, off);
      if (needs(ad, b)) accumulate(ad, b, emit1(ad, "slice", 1, &d, typeOf(b), 1, &a));
    }
  } else {
    fail(ad, op, "cube-autodiff: no VJP rule for '%.*s' (it lies on the path from a trainable param to the loss)",
         (int)full.length, full.data);
  }
  ad->scope = NULL;
  free(scope);
}

static void backprop(AD *ad, MlirOperation *ops, size_t n) {
  for (size_t i = n; i-- > 0 && !ad->failed;) vjpOp(ad, ops[i]);
}

/* ---- the pass ------------------------------------------------------------------------------------------ */

static bool checkOptions(MlirOperation module, const CubeOptionValue *o) {
  char msg[256] = "";
  const char *opt = o[OPT_OPTIMIZER].s ? o[OPT_OPTIMIZER].s : "";
  if (strcmp(opt, "adamw") && strcmp(opt, "none"))
    snprintf(msg, sizeof msg, "cube-autodiff: optimizer must be adamw or none, got '%s'", opt);
  else if (!(o[OPT_BETA1].f >= 0 && o[OPT_BETA1].f < 1))
    snprintf(msg, sizeof msg, "cube-autodiff: beta1 must be in [0, 1), got %g", o[OPT_BETA1].f);
  else if (!(o[OPT_BETA2].f >= 0 && o[OPT_BETA2].f < 1))
    snprintf(msg, sizeof msg, "cube-autodiff: beta2 must be in [0, 1), got %g", o[OPT_BETA2].f);
  else if (!(o[OPT_EPS].f > 0))
    snprintf(msg, sizeof msg, "cube-autodiff: eps must be > 0, got %g", o[OPT_EPS].f);
  else if (!(o[OPT_WD].f >= 0))
    snprintf(msg, sizeof msg, "cube-autodiff: weight-decay must be >= 0, got %g", o[OPT_WD].f);
  else if (!(o[OPT_CLIP].f >= 0))
    snprintf(msg, sizeof msg, "cube-autodiff: clip-norm must be >= 0 (0: no clipping), got %g", o[OPT_CLIP].f);
  if (!*msg) return true;
  mlirEmitError(mlirOperationGetLocation(module), msg);
  return false;
}

static MlirLogicalResult runAutodiff(MlirOperation module, const CubeOptionValue *o) {
  if (!checkOptions(module, o)) return mlirLogicalResultFailure();
  bool adamw = strcmp(o[OPT_OPTIMIZER].s, "adamw") == 0;
  const char *fname = adamw ? "train_step" : "grad_step";
  MlirLocation mloc = mlirOperationGetLocation(module);
  MlirOperation fwd = cubeLookupFunc(module, CUBE_STR("forward"));
  MlirBlock entry;
  if (mlirOperationIsNull(fwd) || !cubeFuncEntryBlock(fwd, &entry)) {
    mlirEmitError(mloc, "cube-autodiff: the module has no @forward function with a body (the traced model's "
                        "forward(input_ids, labels) -> loss)");
    return mlirLogicalResultFailure();
  }
  MlirBlock body = cubeModuleBody(module);
  for (MlirOperation f = mlirBlockGetFirstOperation(body); !mlirOperationIsNull(f); f = mlirOperationGetNextInBlock(f)) {
    MlirAttribute n = mlirOperationGetAttributeByName(f, CUBE_STR("sym_name"));
    if (!mlirAttributeIsNull(n) && mlirAttributeIsAString(n) && cubeRefEq(mlirStringAttrGetValue(n), fname)) {
      char msg[128];
      snprintf(msg, sizeof msg, "cube-autodiff: the module already has a @%s", fname);
      mlirEmitError(mlirOperationGetLocation(f), msg);
      return mlirLogicalResultFailure();
    }
  }
  MlirOperation fret = {NULL};
  for (MlirOperation op = mlirBlockGetFirstOperation(entry); !mlirOperationIsNull(op); op = mlirOperationGetNextInBlock(op))
    fret = op;
  if (mlirOperationIsNull(fret) || !cubeOpNameIs(fret, "func.return") || mlirOperationGetNumOperands(fret) != 1 ||
      !mlirTypeEqual(typeOf(mlirOperationGetOperand(fret, 0)),
                     mlirRankedTensorTypeGet(0, NULL, mlirF32TypeGet(mlirOperationGetContext(module)),
                                             mlirAttributeGetNull()))) {
    mlirEmitError(mlirOperationGetLocation(mlirOperationIsNull(fret) ? fwd : fret),
                  "cube-autodiff: @forward must return exactly one value, the rank-0 f32 loss (tensor<f32>)");
    return mlirLogicalResultFailure();
  }

  AD ad = {0};
  ad.module = module;
  ad.ctx = mlirOperationGetContext(module);
  ad.func = mlirOperationClone(fwd);
  mlirOperationSetAttributeByName(ad.func, CUBE_STR("sym_name"), mlirStringAttrGet(ad.ctx, CUBE_STR(fname)));
  mlirBlockInsertOwnedOperationAfter(body, fwd, ad.func);
  cubeFuncEntryBlock(ad.func, &ad.block);
  MlirOperation *ops = NULL, *params = NULL;
  size_t n = 0, cap = 0, np = 0, capP = 0;
  for (MlirOperation op = mlirBlockGetFirstOperation(ad.block); !mlirOperationIsNull(op);
       op = mlirOperationGetNextInBlock(op)) {
    if (cubeOpNameIs(op, "func.return")) {
      ad.ret = op;
      break;
    }
    markNeeds(&ad, op);
    bool tr = false;
    if (cubeIsOp(op, "param") && cubeGetBoolAttr(op, "trainable", &tr) && tr &&
        cubeGrow((void **)&params, &capP, np + 1, sizeof *params))
      params[np++] = op;
    if (cubeGrow((void **)&ops, &cap, n + 1, sizeof *ops)) ops[n++] = op;
  }
  MlirValue loss = mlirOperationGetOperand(ad.ret, 0);
  MlirType f32s = typeOf(loss);
  MlirValue one = fill(&ad, f32s, 1.0);
  vput(&ad.needs, loss, loss);
  accumulate(&ad, loss, one);
  backprop(&ad, ops, n);
  MlirValue *grads = calloc(np + 1, sizeof *grads);
  if (!grads || ad.grad.oom || ad.needs.oom) {
    if (!ad.failed) fail(&ad, fwd, "cube-autodiff: out of memory");
  }
  for (size_t i = 0; !ad.failed && i < np; ++i) {
    MlirValue p = mlirOperationGetResult(params[i], 0);
    MlirValue g = vget(&ad.grad, p);
    grads[i] = mlirValueIsNull(g) ? fill(&ad, typeOf(p), 0.0) : g; /* a param the loss does not use */
  }
  if (ad.failed) {
    mlirOperationDestroy(ad.func);
  } else {
    MlirValue *outs = calloc(np + 2, sizeof *outs);
    MlirType *outT = calloc(np + 2, sizeof *outT);
    size_t nOut = 0;
    outs[nOut++] = loss;
    if (!adamw) {
      for (size_t i = 0; i < np; ++i) outs[nOut++] = grads[i];
    } else {
      MlirType ts[2] = {f32s, mlirRankedTensorTypeGet(0, NULL, mlirIntegerTypeGet(ad.ctx, 64), mlirAttributeGetNull())};
      MlirValue args[2];
      cubeFuncAppendArgs(ad.func, 2, ts, mlirOperationGetLocation(fwd), args);
      MlirValue total = {NULL};
      for (size_t i = 0; i < np; ++i) {
        MlirValue s = un(&ad, "sumsq", grads[i], f32s);
        total = mlirValueIsNull(total) ? s : bin(&ad, "add", total, s);
      }
      if (mlirValueIsNull(total)) total = fill(&ad, f32s, 0.0);
      MlirValue norm = bin(&ad, "div", one, un(&ad, "rsqrt", total, f32s)); /* sqrt, and 0 for 0 */
      MlirValue gs = one;
      if (o[OPT_CLIP].f > 0) {
        MlirValue q = bin(&ad, "div", fill(&ad, f32s, o[OPT_CLIP].f), bin(&ad, "add", norm, fill(&ad, f32s, 1e-6)));
        gs = bin(&ad, "minimum", one, q);
      }
      for (size_t i = 0; i < np; ++i) {
        MlirStringRef pn;
        char *name = cubeGetStrAttr(params[i], "name", &pn) ? cubeStrDupRef(pn) : NULL;
        CubeBuf b1 = {0}, b2 = {0};
        cubeBufPrintf(&b1, "%s.exp_avg", name ? name : "");
        cubeBufPrintf(&b2, "%s.exp_avg_sq", name ? name : "");
        MlirValue p = mlirOperationGetResult(params[i], 0);
        MlirStringRef sc;
        char *scope = cubeGetScope(params[i], &sc) ? cubeStrDupRef(sc) : NULL;
        ad.scope = scope;
        MlirNamedAttribute sa[3] = {cubeNamedStr(ad.ctx, "name", cubeBufStr(&b1)), cubeNamedStr(ad.ctx, "init", "zeros"),
                                    cubeNamedStr(ad.ctx, "param", name ? name : "")};
        MlirValue m = emit1(&ad, "opt_state", 0, NULL, typeOf(p), 3, sa);
        sa[0] = cubeNamedStr(ad.ctx, "name", cubeBufStr(&b2));
        MlirValue v = emit1(&ad, "opt_state", 0, NULL, typeOf(p), 3, sa);
        MlirValue uo[7] = {p, grads[i], m, v, args[0], args[1], gs};
        MlirNamedAttribute ua[4] = {cubeNamedF64(ad.ctx, "beta1", o[OPT_BETA1].f), cubeNamedF64(ad.ctx, "beta2", o[OPT_BETA2].f),
                                    cubeNamedF64(ad.ctx, "eps", o[OPT_EPS].f), cubeNamedF64(ad.ctx, "weight_decay", o[OPT_WD].f)};
        emitN(&ad, "adamw_update", 7, uo, 0, NULL, 4, ua);
        ad.scope = NULL;
        free(scope);
        free(name);
        cubeBufFree(&b1);
        cubeBufFree(&b2);
      }
      outs[nOut++] = norm;
    }
    for (size_t i = 0; i < nOut; ++i) outT[i] = typeOf(outs[i]);
    MlirOperationState st = mlirOperationStateGet(CUBE_STR("func.return"), mlirOperationGetLocation(ad.ret));
    mlirOperationStateAddOperands(&st, (intptr_t)nOut, outs);
    MlirOperation nret = mlirOperationCreate(&st);
    mlirBlockInsertOwnedOperationBefore(ad.block, ad.ret, nret);
    mlirOperationDestroy(ad.ret);
    MlirType fty = mlirTypeAttrGetValue(mlirOperationGetAttributeByName(ad.func, CUBE_STR("function_type")));
    intptr_t nIn = mlirFunctionTypeGetNumInputs(fty);
    MlirType *ins = calloc((size_t)nIn + 1, sizeof *ins);
    for (intptr_t i = 0; i < nIn; ++i) ins[i] = mlirFunctionTypeGetInput(fty, i);
    mlirOperationSetAttributeByName(ad.func, CUBE_STR("function_type"),
                                    mlirTypeAttrGet(mlirFunctionTypeGet(ad.ctx, nIn, ins, (intptr_t)nOut, outT)));
    mlirOperationRemoveAttributeByName(ad.func, CUBE_STR("res_attrs"));
    free(ins);
    free(outs);
    free(outT);
  }
  bool ok = !ad.failed;
  free(grads);
  free(ops);
  free(params);
  vfree(&ad.grad);
  vfree(&ad.needs);
  return ok ? mlirLogicalResultSuccess() : mlirLogicalResultFailure();
}

const CubePassInfo cubeAutodiffPassInfo = {
    .argument = "cube-autodiff",
    .description = "Reverse-mode gradients of @forward: @grad_step (optimizer=none) or @train_step with AdamW",
    .anchor = "builtin.module",
    .options = kOptions,
    .nOptions = sizeof kOptions / sizeof kOptions[0],
    .run = runAutodiff,
};
