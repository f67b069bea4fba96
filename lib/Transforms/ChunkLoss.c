/* cube-chunk-loss{func=train_step chunks=8}: the lm_head and its cross-entropy, forward and backward, in
 * chunks of rows, so that the [N, V] logits never exist whole (docs/passes.md). After cube-autodiff a
 * training step holds
 *   L = linear(h, W) [.., V] (R = its [N, V] reshape), loss = cross_entropy(R, y), dR = cross_entropy_grad(R, y, g),
 *   dh = matmul(dR', W) [N, D] and, when W trains, dW = matmul(dR', h'){transpose_lhs} [V, D]
 * (dR' a reshape of dR, h' of h). It becomes, right before the cross_entropy_grad, for each chunk c of rows:
 *   h_c = slice(h), y_c = slice(y), L_c = linear(h_c, W), loss_c = cross_entropy(L_c, y_c, y),
 *   dL_c = cross_entropy_grad(L_c, y_c, g, y), dh_c = matmul(dL_c, W), dW += matmul(dL_c, h_c){transpose_lhs}
 * then loss = the sum of the loss_c and dh = the concat of the dh_c. Every chunk divides by the whole batch's
 * count of labels (cross_entropy's optional norm_labels operand, y), so each gradient row is the unchunked
 * one and the loss is the same sum in another order. A chunk's logits are dead after its gradient GEMMs, so
 * the memory planner gives the next chunk the same bytes: the step's peak holds [N / chunks, V] logits (and
 * their gradient, in place) instead of [N, V]. The cost is one GEMM launch and one softmax launch pair per
 * chunk instead of per step. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cube/Ops.h"
#include "cube/Passes.h"
#include "cube/Rewrite.h"
#include "mlir-c/BuiltinAttributes.h"
#include "mlir-c/BuiltinTypes.h"
#include "mlir-c/Diagnostics.h"

enum { OPT_FUNC, OPT_CHUNKS };

static const CubePassOption kOptions[] = {
    [OPT_FUNC] = {"func", CUBE_OPT_STRING, "train_step", "the training function: train_step or grad_step", 0, 0},
    [OPT_CHUNKS] = {"chunks", CUBE_OPT_INT, "8", "row chunks of the logits (1: leave the step alone)", 1, 4096},
};

#define MAX_VIEWS 16

typedef struct {
  MlirOperation ce, cg, linear, dhMm, dwMm; /* dwMm null when W is frozen */
  MlirValue h, w, y, g;
  MlirOperation dead[MAX_VIEWS * 2 + 4];    /* reshapes that die with the rewrite */
  int nDead;
  int64_t n, d, v;
} Match;

static MlirLogicalResult fail(MlirOperation at, const char *fmt, const char *a) {
  char msg[1024];
  snprintf(msg, sizeof msg, fmt, a);
  mlirEmitError(mlirOperationGetLocation(at), msg);
  return mlirLogicalResultFailure();
}

static int useCount(MlirValue v) {
  int n = 0;
  for (MlirOpOperand u = mlirValueGetFirstUse(v); !mlirOpOperandIsNull(u); u = mlirOpOperandGetNextUse(u)) ++n;
  return n;
}

static intptr_t rankOf(MlirValue v) {
  MlirType t = mlirValueGetType(v);
  return mlirTypeIsARankedTensor(t) ? mlirShapedTypeGetRank(t) : -1;
}

static MlirValue through(MlirValue v, Match *m) { /* a reshape's input (the reshape noted as dying) */
  while (mlirValueIsAOpResult(v) && cubeIsOp(mlirOpResultGetOwner(v), "reshape") && m->nDead < MAX_VIEWS) {
    m->dead[m->nDead++] = mlirOpResultGetOwner(v);
    v = mlirOperationGetOperand(mlirOpResultGetOwner(v), 0);
  }
  return v;
}

/* The gradient GEMMs of dR: every use, through reshapes, is matmul(view, W) (dh) or
 * matmul(view, h-view){transpose_lhs} (dW). */
static const char *gradUses(MlirValue dr, Match *m) {
  MlirValue views[MAX_VIEWS] = {dr};
  int nv = 1;
  for (int i = 0; i < nv; ++i)
    for (MlirOpOperand u = mlirValueGetFirstUse(views[i]); !mlirOpOperandIsNull(u); u = mlirOpOperandGetNextUse(u)) {
      MlirOperation o = mlirOpOperandGetOwner(u);
      bool tl = false, tr = false;
      if (cubeIsOp(o, "reshape") && nv < MAX_VIEWS) {
        views[nv++] = mlirOperationGetResult(o, 0);
        if (m->nDead < MAX_VIEWS * 2) m->dead[m->nDead++] = o;
        continue;
      }
      if (!cubeIsOp(o, "matmul") || mlirOpOperandGetOperandNumber(u) != 0 || rankOf(views[i]) != 2)
        return "the logits' gradient is read by something other than reshapes and the lm_head's gradient GEMMs";
      cubeGetBoolAttr(o, "transpose_lhs", &tl);
      cubeGetBoolAttr(o, "transpose_rhs", &tr);
      MlirValue rhs = mlirOperationGetOperand(o, 1);
      if (!tl && !tr && mlirValueEqual(rhs, m->w) && mlirOperationIsNull(m->dhMm)) {
        m->dhMm = o;
      } else if (tl && !tr && mlirOperationIsNull(m->dwMm)) {
        Match tmp = *m;
        if (!mlirValueEqual(through(rhs, &tmp), m->h)) return "the lm_head weight's gradient GEMM does not read its input";
        m->dwMm = o;
        if (mlirValueIsAOpResult(rhs) && cubeIsOp(mlirOpResultGetOwner(rhs), "reshape") && useCount(rhs) == 1 &&
            m->nDead < MAX_VIEWS * 2)
          m->dead[m->nDead++] = mlirOpResultGetOwner(rhs);
      } else {
        return "the logits' gradient feeds a matmul that is neither the input's nor the weight's gradient";
      }
    }
  return mlirOperationIsNull(m->dhMm) ? "no gradient GEMM of the lm_head's input (matmul(dlogits, W))" : NULL;
}

/* The lm_head + loss of the function body, or a reason why it does not have that form. */
static const char *match(MlirBlock body, Match *m) {
  memset(m, 0, sizeof *m);
  for (MlirOperation op = mlirBlockGetFirstOperation(body); !mlirOperationIsNull(op); op = mlirOperationGetNextInBlock(op))
    if (cubeIsOp(op, "cross_entropy")) {
      if (!mlirOperationIsNull(m->ce)) return "the function has more than one cube.cross_entropy";
      m->ce = op;
    }
  if (mlirOperationIsNull(m->ce)) return "the function has no cube.cross_entropy (no loss to chunk)";
  if (mlirOperationGetNumOperands(m->ce) != 2) return "its cube.cross_entropy is chunked already (it has norm_labels)";
  MlirValue r = mlirOperationGetOperand(m->ce, 0);
  m->y = mlirOperationGetOperand(m->ce, 1);
  MlirValue l = through(r, m);
  if (!mlirValueIsAOpResult(l) || !cubeIsOp(mlirOpResultGetOwner(l), "linear") ||
      mlirOperationGetNumOperands(mlirOpResultGetOwner(l)) != 2)
    return "the logits are not a cube.linear without bias (the lm_head), possibly reshaped";
  m->linear = mlirOpResultGetOwner(l);
  m->h = mlirOperationGetOperand(m->linear, 0);
  m->w = mlirOperationGetOperand(m->linear, 1);
  for (MlirOpOperand u = mlirValueGetFirstUse(r); !mlirOpOperandIsNull(u); u = mlirOpOperandGetNextUse(u)) {
    MlirOperation o = mlirOpOperandGetOwner(u);
    if (cubeIsOp(o, "cross_entropy_grad") && mlirOperationGetNumOperands(o) == 3 &&
        mlirValueEqual(mlirOperationGetOperand(o, 1), m->y) && mlirOpOperandGetOperandNumber(u) == 0)
      m->cg = o;
  }
  if (mlirOperationIsNull(m->cg)) return "the logits have no cube.cross_entropy_grad (run cube-autodiff first)";
  for (int i = 0; i < m->nDead; ++i)
    if (useCount(mlirOperationGetResult(m->dead[i], 0)) != (i == 0 ? 2 : 1)) return "the logits have other readers";
  if (useCount(r) != 2 || (mlirValueEqual(r, l) ? 0 : useCount(l) != 1)) return "the logits have other readers";
  m->g = mlirOperationGetOperand(m->cg, 2);
  MlirType rt = mlirValueGetType(r), ht = mlirValueGetType(m->h), yt = mlirValueGetType(m->y);
  if (rankOf(r) != 2 || rankOf(m->y) != 1 || !mlirShapedTypeHasStaticShape(ht)) return "unexpected logits or labels shapes";
  m->n = mlirShapedTypeGetDimSize(rt, 0);
  m->v = mlirShapedTypeGetDimSize(rt, 1);
  m->d = mlirShapedTypeGetDimSize(ht, mlirShapedTypeGetRank(ht) - 1);
  if (mlirShapedTypeGetDimSize(yt, 0) != m->n || m->d <= 0 || m->n <= 0) return "unexpected logits or labels shapes";
  const char *why = gradUses(mlirOperationGetResult(m->cg, 0), m);
  if (why) return why;
  /* the loss is read after the gradient only (the return, an all-reduce) */
  if (!cubeUsesAfter(mlirOperationGetResult(m->ce, 0), m->cg, (MlirOperation){NULL}, NULL))
    return "the loss is read before its gradient";
  return NULL;
}

static MlirType tensor2(MlirType like, int64_t a, int64_t b) {
  int64_t s[2] = {a, b};
  return mlirRankedTensorTypeGet(2, s, mlirShapedTypeGetElementType(like), mlirAttributeGetNull());
}

static MlirValue build(MlirOperation at, const char *mnemonic, intptr_t n, const MlirValue *ops, MlirType t,
                       intptr_t nAttrs, const MlirNamedAttribute *attrs, const char *scope) {
  MlirOperation op = cubeBuildOp(mlirOperationGetLocation(at), mnemonic, n, ops, t, nAttrs, attrs);
  if (scope) cubeSetScope(op, scope);
  return mlirOperationGetResult(cubeInsertBefore(at, op), 0);
}

static void rewrite(Match *m, int64_t chunks) {
  MlirOperation at = m->cg;
  MlirContext ctx = mlirOperationGetContext(at);
  MlirStringRef sc = {"", 0};
  cubeGetScope(m->linear, &sc);
  char *scope = cubeStrDupRef(sc);
  int64_t ignore = -100;
  cubeGetI64Attr(m->ce, "ignore_index", &ignore);
  MlirNamedAttribute ig = cubeNamedI64(ctx, "ignore_index", ignore);
  MlirType ht = mlirValueGetType(m->h), lt = mlirValueGetType(mlirOperationGetResult(m->linear, 0));
  MlirType lossT = mlirValueGetType(mlirOperationGetResult(m->ce, 0));
  MlirType dhT = mlirValueGetType(mlirOperationGetResult(m->dhMm, 0));
  MlirValue h2 = m->h;
  if (mlirShapedTypeGetRank(ht) != 2) h2 = build(at, "reshape", 1, &m->h, tensor2(ht, m->n, m->d), 0, NULL, scope);
  int64_t rows = (m->n + chunks - 1) / chunks;
  MlirValue loss = {NULL}, dw = {NULL}, dh[4096];
  int k = 0;
  for (int64_t r0 = 0; r0 < m->n; r0 += rows, ++k) {
    int64_t nr = r0 + rows <= m->n ? rows : m->n - r0, off2[2] = {r0, 0}, off1[1] = {r0};
    int64_t ys[1] = {nr};
    MlirNamedAttribute o2 = cubeNamedI64Array(ctx, "offsets", 2, off2), o1 = cubeNamedI64Array(ctx, "offsets", 1, off1);
    MlirValue hc = build(at, "slice", 1, &h2, tensor2(ht, nr, m->d), 1, &o2, scope);
    MlirValue yc = build(at, "slice", 1, &m->y,
                         mlirRankedTensorTypeGet(1, ys, mlirShapedTypeGetElementType(mlirValueGetType(m->y)),
                                                 mlirAttributeGetNull()), 1, &o1, "");
    MlirValue lin[2] = {hc, m->w};
    MlirValue lc = build(at, "linear", 2, lin, tensor2(lt, nr, m->v), 0, NULL, scope);
    MlirValue ceIn[3] = {lc, yc, m->y};
    MlirValue part = build(at, "cross_entropy", 3, ceIn, lossT, 1, &ig, "");
    MlirValue cgIn[4] = {lc, yc, m->g, m->y};
    MlirValue dl = build(at, "cross_entropy_grad", 4, cgIn, mlirValueGetType(lc), 1, &ig, "");
    MlirValue mm[2] = {dl, m->w};
    dh[k] = build(at, "matmul", 2, mm, tensor2(dhT, nr, m->d), 0, NULL, scope);
    if (!mlirOperationIsNull(m->dwMm)) {
      MlirNamedAttribute tl = cubeNamedBool(ctx, "transpose_lhs", true);
      MlirValue wm[2] = {dl, hc};
      MlirValue dwc = build(at, "matmul", 2, wm, mlirValueGetType(mlirOperationGetResult(m->dwMm, 0)), 1, &tl, scope);
      MlirValue acc[2] = {dw, dwc};
      dw = mlirValueIsNull(dw) ? dwc : build(at, "add", 2, acc, mlirValueGetType(dwc), 0, NULL, scope);
    }
    MlirValue sum[2] = {loss, part};
    loss = mlirValueIsNull(loss) ? part : build(at, "add", 2, sum, lossT, 0, NULL, "");
  }
  /* dh: a balanced tree of concats along the rows */
  MlirNamedAttribute dim0 = cubeNamedI64(ctx, "dim", 0);
  for (int width = k; width > 1; width = (width + 1) / 2)
    for (int i = 0; i < width / 2; ++i) {
      MlirValue pair[2] = {dh[2 * i], dh[2 * i + 1]};
      MlirType a = mlirValueGetType(pair[0]), b = mlirValueGetType(pair[1]);
      dh[i] = build(at, "concat", 2, pair,
                    tensor2(dhT, mlirShapedTypeGetDimSize(a, 0) + mlirShapedTypeGetDimSize(b, 0), m->d), 1, &dim0,
                    scope);
      if (width % 2 && i == width / 2 - 1) dh[i + 1] = dh[width - 1];
    }
  mlirValueReplaceAllUsesOfWith(mlirOperationGetResult(m->dhMm, 0), dh[0]);
  if (!mlirOperationIsNull(m->dwMm)) mlirValueReplaceAllUsesOfWith(mlirOperationGetResult(m->dwMm, 0), dw);
  mlirValueReplaceAllUsesOfWith(mlirOperationGetResult(m->ce, 0), loss);
  /* erase the unchunked ops, users before producers */
  mlirOperationDestroy(m->dhMm);
  if (!mlirOperationIsNull(m->dwMm)) mlirOperationDestroy(m->dwMm);
  for (bool again = true; again;) {
    again = false;
    for (int i = 0; i < m->nDead; ++i)
      if (!mlirOperationIsNull(m->dead[i]) && useCount(mlirOperationGetResult(m->dead[i], 0)) == 0) {
        mlirOperationDestroy(m->dead[i]);
        m->dead[i] = (MlirOperation){NULL};
        again = true;
      }
    if (!mlirOperationIsNull(m->cg) && useCount(mlirOperationGetResult(m->cg, 0)) == 0) {
      mlirOperationDestroy(m->cg);
      m->cg = (MlirOperation){NULL};
      again = true;
    }
    if (!mlirOperationIsNull(m->ce) && useCount(mlirOperationGetResult(m->ce, 0)) == 0) {
      mlirOperationDestroy(m->ce);
      m->ce = (MlirOperation){NULL};
      again = true;
    }
  }
  if (useCount(mlirOperationGetResult(m->linear, 0)) == 0) mlirOperationDestroy(m->linear);
  free(scope);
}

static MlirLogicalResult runChunkLoss(MlirOperation module, const CubeOptionValue *options) {
  const char *func = options[OPT_FUNC].s;
  int64_t chunks = options[OPT_CHUNKS].i;
  MlirOperation fn = {NULL};
  MlirBlock mb = cubeModuleBody(module);
  for (MlirOperation f = mlirBlockIsNull(mb) ? (MlirOperation){NULL} : mlirBlockGetFirstOperation(mb);
       !mlirOperationIsNull(f); f = mlirOperationGetNextInBlock(f)) {
    MlirStringRef n;
    if (cubeOpNameIs(f, "func.func") && cubeGetStrAttr(f, "sym_name", &n) && cubeRefEq(n, func)) fn = f;
  }
  MlirBlock body;
  if (mlirOperationIsNull(fn) || !cubeFuncEntryBlock(fn, &body))
    return fail(module, "cube-chunk-loss: the module has no @%s with a body (run cube-autodiff first)", func);
  Match m;
  const char *why = match(body, &m);
  if (why) return fail(fn, "cube-chunk-loss: cannot chunk the loss: %s", why);
  if (chunks == 1 || m.n < 2) return mlirLogicalResultSuccess();
  if (chunks > m.n) chunks = m.n;
  rewrite(&m, chunks);
  return mlirLogicalResultSuccess();
}

const CubePassInfo cubeChunkLossPassInfo = {
    .argument = "cube-chunk-loss",
    .description = "Compute the lm_head, its cross-entropy and their gradients in row chunks (no whole [N, V] "
                   "logits)",
    .anchor = "builtin.module",
    .options = kOptions,
    .nOptions = sizeof kOptions / sizeof kOptions[0],
    .run = runChunkLoss,
};
