/* cube-data-parallel{func=train_step bucket-mb=25}: data parallelism in the program itself.
 *
 * Every rank of a data-parallel run executes the same @train_step on its own slice of the global batch; the
 * ranks stay equal because the gradients are averaged over all of them before anything reads them (the
 * gradient norm, clipping, AdamW). This pass writes that average into the IR: each trainable parameter's
 * final gradient (the grad operand of its cube.adamw_update; for @grad_step, the returned gradients) is
 * replaced by `cube.all_reduce(g) {reduction = "avg", bucket = k}`, and the loss by its average too, so that
 * rank 0 reports the loss of the global batch.
 *
 * Buckets (as PyTorch DDP's bucket_cap_mb): gradients are taken in the order they become final in the
 * backward (the block order of their defining ops, i.e. roughly the last layer first), and a bucket is closed
 * once it holds bucket-mb MiB (0: every gradient is its own bucket). A bucket's all_reduce ops stand together
 * right after the op that finishes its last gradient, so the plan can start its collective there, while the
 * rest of the backward still runs, and wait for it only before the first op that reads a reduced value. The
 * loss joins the last bucket. With one rank (or no collective at run time) an all_reduce is the identity. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cube/Conversion.h"
#include "cube/Ops.h"
#include "cube/Passes.h"
#include "cube/Rewrite.h"
#include "mlir-c/BuiltinAttributes.h"
#include "mlir-c/BuiltinTypes.h"
#include "mlir-c/Diagnostics.h"

enum { OPT_FUNC, OPT_BUCKET_MB };

static const CubePassOption kOptions[] = {
    [OPT_FUNC] = {"func", CUBE_OPT_STRING, "train_step", "the training function: train_step (gradients are the "
                  "cube.adamw_update grads) or grad_step (the returned gradients)", 0, 0},
    [OPT_BUCKET_MB] = {"bucket-mb", CUBE_OPT_FLOAT, "25", "close a bucket once it holds this many MiB of gradients "
                       "(0: one gradient per bucket)", 0, 1e6},
};

typedef struct {
  MlirValue v;
  MlirOperation def;
  int64_t bytes;
} Grad;

static int64_t tensorBytes(MlirType t) {
  MlirType e = mlirShapedTypeGetElementType(t);
  int64_t n = 1, w = mlirTypeIsAF32(e) ? 4 : 2;
  for (intptr_t i = 0; i < mlirShapedTypeGetRank(t); ++i) n *= mlirShapedTypeGetDimSize(t, i);
  return n * w;
}

static int cmpDef(const void *a, const void *b) {
  const Grad *x = a, *y = b;
  if (mlirOperationEqual(x->def, y->def)) return 0;
  return mlirOperationIsBeforeInBlock(x->def, y->def) ? -1 : 1;
}

/* Adds v (once) to the list; false with a message when it is not a float tensor defined by an op of `body`. */
static bool addGrad(Grad *gs, size_t *n, MlirValue v, MlirBlock body, MlirOperation at, const char *what) {
  for (size_t i = 0; i < *n; ++i)
    if (mlirValueEqual(gs[i].v, v)) return true;
  MlirType t = mlirValueGetType(v);
  MlirType e = mlirTypeIsARankedTensor(t) ? mlirShapedTypeGetElementType(t) : (MlirType){NULL};
  char msg[256];
  if (mlirTypeIsNull(e) || !(mlirTypeIsAF32(e) || mlirTypeIsABF16(e) || mlirTypeIsAF16(e)) ||
      !mlirShapedTypeHasStaticShape(t)) {
    snprintf(msg, sizeof msg, "cube-data-parallel: %s is not a static f32/bf16/f16 tensor", what);
    mlirEmitError(mlirOperationGetLocation(at), msg);
    return false;
  }
  if (!mlirValueIsAOpResult(v) || !mlirBlockEqual(mlirOperationGetBlock(mlirOpResultGetOwner(v)), body)) {
    snprintf(msg, sizeof msg, "cube-data-parallel: %s is not computed in the function's body (an argument or a "
             "value of a nested region), so there is no point at which it is final", what);
    mlirEmitError(mlirOperationGetLocation(at), msg);
    return false;
  }
  gs[*n] = (Grad){v, mlirOpResultGetOwner(v), tensorBytes(t)};
  (*n)++;
  return true;
}

static MlirOperation buildAllReduce(MlirValue v, int64_t bucket, MlirLocation loc) {
  MlirContext ctx = mlirLocationGetContext(loc);
  MlirType t = mlirValueGetType(v);
  MlirOperationState st = mlirOperationStateGet(CUBE_STR("cube.all_reduce"), loc);
  mlirOperationStateAddOperands(&st, 1, &v);
  mlirOperationStateAddResults(&st, 1, &t);
  MlirNamedAttribute attrs[2] = {
      mlirNamedAttributeGet(mlirIdentifierGet(ctx, CUBE_STR("reduction")), mlirStringAttrGet(ctx, CUBE_STR("avg"))),
      mlirNamedAttributeGet(mlirIdentifierGet(ctx, CUBE_STR("bucket")),
                            mlirIntegerAttrGet(mlirIntegerTypeGet(ctx, 64), bucket)),
  };
  mlirOperationStateAddAttributes(&st, 2, attrs);
  return mlirOperationCreate(&st);
}

/* Replaces the bucket gs[0..n) (sorted by definition) and, when loss is non-null, the loss by all_reduce ops
 * placed after the last definition. */
static bool emitBucket(Grad *gs, size_t n, MlirValue loss, int64_t bucket, MlirBlock body) {
  MlirOperation after = gs[n - 1].def;
  MlirLocation loc = mlirOperationGetLocation(after);
  for (size_t i = 0; i <= n; ++i) {
    MlirValue v = i < n ? gs[i].v : loss;
    if (mlirValueIsNull(v)) break;
    MlirOperation ar = buildAllReduce(v, bucket, loc);
    mlirBlockInsertOwnedOperationAfter(body, after, ar);
    if (!cubeUsesAfter(v, ar, ar, NULL)) {
      char msg[256];
      snprintf(msg, sizeof msg, "cube-data-parallel: a %s is read before bucket %lld is complete; the pass expects "
               "the gradients to be read only by the gradient norm and the optimizer at the end",
               i < n ? "gradient" : "loss", (long long)bucket);
      mlirEmitError(mlirOperationGetLocation(ar), msg);
      return false;
    }
    MlirValue r = mlirOperationGetResult(ar, 0);
    mlirValueReplaceAllUsesExcept(v, r, 1, &ar);
    after = ar;
  }
  return true;
}

static MlirLogicalResult runDataParallel(MlirOperation module, const CubeOptionValue *options) {
  const char *func = options[OPT_FUNC].s;
  MlirLocation mloc = mlirOperationGetLocation(module);
  if (strcmp(func, "train_step") && strcmp(func, "grad_step")) {
    char msg[300];
    snprintf(msg, sizeof msg, "cube-data-parallel: func must be train_step or grad_step, got '%s'", func);
    mlirEmitError(mloc, msg);
    return mlirLogicalResultFailure();
  }
  char err[512];
  MlirOperation fn = cubeFindProgram(module, func, err, sizeof err);
  MlirBlock body;
  if (mlirOperationIsNull(fn) || !cubeFuncEntryBlock(fn, &body)) {
    char msg[700];
    snprintf(msg, sizeof msg, "cube-data-parallel: %s", err);
    mlirEmitError(mloc, msg);
    return mlirLogicalResultFailure();
  }
  for (MlirOperation op = mlirBlockGetFirstOperation(body); !mlirOperationIsNull(op);
       op = mlirOperationGetNextInBlock(op))
    if (cubeIsOp(op, "all_reduce")) {
      mlirEmitError(mlirOperationGetLocation(op), "cube-data-parallel: the function already has all_reduce ops "
                    "(the pass ran before)");
      return mlirLogicalResultFailure();
    }
  MlirOperation ret = mlirBlockGetTerminator(body);
  if (mlirOperationIsNull(ret) || mlirOperationGetNumOperands(ret) < 1) {
    mlirEmitError(mlirOperationGetLocation(fn), "cube-data-parallel: the function returns nothing; expected the loss "
                  "first");
    return mlirLogicalResultFailure();
  }
  size_t cap = (size_t)mlirOperationGetNumOperands(ret) + 1, n = 0;
  for (MlirOperation op = mlirBlockGetFirstOperation(body); !mlirOperationIsNull(op);
       op = mlirOperationGetNextInBlock(op))
    cap += cubeIsOp(op, "adamw_update");
  Grad *gs = calloc(cap, sizeof *gs);
  bool ok = gs != NULL;
  if (ok && !strcmp(func, "train_step")) {
    for (MlirOperation op = mlirBlockGetFirstOperation(body); ok && !mlirOperationIsNull(op);
         op = mlirOperationGetNextInBlock(op))
      if (cubeIsOp(op, "adamw_update") && mlirOperationGetNumOperands(op) >= 2)
        ok = addGrad(gs, &n, mlirOperationGetOperand(op, 1), body, op, "the gradient of a cube.adamw_update");
  } else {
    for (intptr_t i = 1; ok && i < mlirOperationGetNumOperands(ret); ++i)
      ok = addGrad(gs, &n, mlirOperationGetOperand(ret, i), body, ret, "a returned gradient");
  }
  if (ok && n == 0) {
    mlirEmitError(mlirOperationGetLocation(fn), "cube-data-parallel: the function has no gradients to average (no "
                  "trainable parameters?)");
    ok = false;
  }
  MlirValue loss = mlirOperationGetOperand(ret, 0);
  Grad lossGrad[1];
  size_t nLoss = 0;
  ok = ok && addGrad(lossGrad, &nLoss, loss, body, ret, "the loss");
  if (ok) {
    qsort(gs, n, sizeof *gs, cmpDef);
    int64_t capBytes = (int64_t)(options[OPT_BUCKET_MB].f * 1048576.0), bucket = 0, bytes = 0;
    size_t start = 0;
    for (size_t i = 0; ok && i < n; ++i) {
      bytes += gs[i].bytes;
      bool last = i + 1 == n;
      if (bytes >= capBytes || last) {
        ok = emitBucket(gs + start, i + 1 - start, last ? loss : (MlirValue){NULL}, bucket++, body);
        start = i + 1;
        bytes = 0;
      }
    }
  }
  free(gs);
  return ok ? mlirLogicalResultSuccess() : mlirLogicalResultFailure();
}

const CubePassInfo cubeDataParallelPassInfo = {
    .argument = "cube-data-parallel",
    .description = "data parallelism: average every gradient (and the loss) over the ranks with cube.all_reduce, "
                   "in buckets issued as soon as their gradients are final (run after cube-autodiff)",
    .anchor = "builtin.module",
    .options = kOptions,
    .nOptions = sizeof kOptions / sizeof kOptions[0],
    .run = runDataParallel,
};
