/* cube-prepare-forward: the forward (eval) form of a model, the first step of codegen. Checkpoints
 * (`func.call {cube.checkpoint}`, written by cube-recompute) are inlined: a forward pass recomputes nothing,
 * and kernels are grouped per op of one function. The inlined ops' relative scopes become absolute again
 * (`<checkpoint scope>.<relative scope>`), so the plan's steps name real HF modules. Dropout is the identity
 * in eval and is removed. Outlined functions left without callers are erased.
 *
 * func=train_step|grad_step (default forward) prepares that function instead (docs/codegen.md "Training
 * plans"): the other functions with a body are erased; dropout with p = 0 is removed, dropout with p > 0 is an
 * error (no dropout kernel yet). The recomputed copies cube-autodiff emits for checkpoints are ordinary ops
 * (cube.recomputed) and stay separate steps: nothing here merges them with the forward ones. First of all,
 * the LoRA options are inferred and recorded as the module attribute cube.lora (PlanLora.c) for the plan's
 * `lora` object, while the lora ops (scale, dropout) are still there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cube/Conversion.h"
#include "cube/Ops.h"
#include "cube/Passes.h"
#include "cube/Rewrite.h"
#include "mlir-c/Diagnostics.h"

typedef struct {
  MlirOperation *v;
  size_t n, cap;
} OpList;

static void collect(MlirOperation op, void *u) {
  OpList *l = u;
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 16;
    MlirOperation *v = realloc(l->v, cap * sizeof *v);
    if (!v) return;
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = op;
}

static void collectCheckpoints(MlirOperation op, void *u) {
  if (cubeIsCheckpoint(op)) collect(op, u);
}

/* Inlines one checkpoint; false (with a diagnostic) when its callee cannot be inlined. */
static bool inlineCheckpoint(MlirOperation module, MlirOperation call) {
  MlirStringRef calleeName, scope = mlirStringRefCreate("", 0);
  MlirLocation loc = mlirOperationGetLocation(call);
  if (!cubeCheckpointCallee(call, &calleeName)) {
    mlirEmitError(loc, "cube-prepare-forward: checkpoint without a callee");
    return false;
  }
  MlirOperation callee = cubeLookupFunc(module, calleeName);
  MlirBlock entry;
  if (mlirOperationIsNull(callee) || !cubeFuncEntryBlock(callee, &entry)) {
    mlirEmitError(loc, "cube-prepare-forward: the checkpoint's callee is not a function with a body");
    return false;
  }
  MlirRegion region = mlirOperationGetRegion(callee, 0);
  if (!mlirBlockIsNull(mlirBlockGetNextInRegion(mlirRegionGetFirstBlock(region)))) {
    mlirEmitError(loc, "cube-prepare-forward: cannot inline a checkpoint whose callee has several blocks");
    return false;
  }
  bool relative = cubeIsOutlinedFunc(callee);
  cubeGetScope(call, &scope);
  MlirOperation copy = mlirOperationClone(callee);
  cubeFuncEntryBlock(copy, &entry);
  intptr_t nArgs = mlirBlockGetNumArguments(entry);
  if (nArgs != mlirOperationGetNumOperands(call)) {
    mlirOperationDestroy(copy);
    mlirEmitError(loc, "cube-prepare-forward: the checkpoint's operands do not match its callee");
    return false;
  }
  for (intptr_t i = 0; i < nArgs; ++i)
    mlirValueReplaceAllUsesOfWith(mlirBlockGetArgument(entry, i), mlirOperationGetOperand(call, i));
  CubeBuf path = {0};
  MlirOperation op = mlirBlockGetFirstOperation(entry);
  while (!mlirOperationIsNull(op)) {
    MlirOperation next = mlirOperationGetNextInBlock(op);
    if (cubeOpNameIs(op, "func.return")) {
      intptr_t n = mlirOperationGetNumOperands(op);
      for (intptr_t i = 0; i < n && i < mlirOperationGetNumResults(call); ++i)
        mlirValueReplaceAllUsesOfWith(mlirOperationGetResult(call, i), mlirOperationGetOperand(op, i));
      break;
    }
    MlirStringRef rel;
    if (relative && cubeGetScope(op, &rel)) {
      cubeScopeJoin(scope, rel, &path);
      cubeSetScope(op, cubeBufStr(&path));
    }
    mlirOperationMoveBefore(op, call);
    op = next;
  }
  cubeBufFree(&path);
  mlirOperationDestroy(call);
  mlirOperationDestroy(copy);
  return true;
}

static void collectDropout(MlirOperation op, void *u) {
  if (cubeIsOp(op, "dropout")) collect(op, u);
}

enum { OPT_FUNC };

static const CubePassOption kOptions[] = {
    [OPT_FUNC] = {"func", CUBE_OPT_STRING, "forward", "the function to compile: forward (eval), train_step or "
                  "grad_step (written by cube-autodiff)", 0, 0},
};

static bool inFunc(MlirOperation op, MlirOperation fn) {
  for (MlirOperation p = mlirOperationGetParentOperation(op); !mlirOperationIsNull(p);
       p = mlirOperationGetParentOperation(p))
    if (mlirOperationEqual(p, fn)) return true;
  return false;
}

static MlirLogicalResult runPrepare(MlirOperation module, const CubeOptionValue *options) {
  const char *func = options && options[OPT_FUNC].s ? options[OPT_FUNC].s : "forward";
  bool training = *func && strcmp(func, "forward");
  MlirBlock body = cubeModuleBody(module);
  if (mlirBlockIsNull(body)) return mlirLogicalResultSuccess();
  cubeLoraRecord(module);
  MlirOperation program = {NULL};
  if (training) {
    char err[512], msg[600];
    program = cubeFindProgram(module, func, err, sizeof err);
    if (mlirOperationIsNull(program)) {
      snprintf(msg, sizeof msg, "cube-prepare-forward: %s", err);
      mlirEmitError(mlirOperationGetLocation(module), msg);
      return mlirLogicalResultFailure();
    }
    /* Only the program is compiled: the other functions with a body (the forward it was built from) go,
     * outlined ones after inlining below. */
    for (MlirOperation f = mlirBlockGetFirstOperation(body); !mlirOperationIsNull(f);) {
      MlirOperation next = mlirOperationGetNextInBlock(f);
      MlirBlock fb;
      if (!mlirOperationEqual(f, program) && !cubeIsOutlinedFunc(f) && cubeFuncEntryBlock(f, &fb))
        mlirOperationDestroy(f);
      f = next;
    }
  }
  /* Inline checkpoints in every non-outlined function until none is left (inlined bodies may hold more). */
  for (int round = 0; round < 64; ++round) {
    OpList calls = {0};
    for (MlirOperation f = mlirBlockGetFirstOperation(body); !mlirOperationIsNull(f); f = mlirOperationGetNextInBlock(f))
      if (cubeOpNameIs(f, "func.func") && !cubeIsOutlinedFunc(f)) cubeWalkOps(f, "func.call", collectCheckpoints, &calls);
    bool ok = true;
    for (size_t i = 0; i < calls.n && ok; ++i) ok = inlineCheckpoint(module, calls.v[i]);
    size_t n = calls.n;
    free(calls.v);
    if (!ok) return mlirLogicalResultFailure();
    if (n == 0) break;
  }
  /* Outlined functions are only reached through checkpoints, which are gone from every other function. */
  for (MlirOperation f = mlirBlockGetFirstOperation(body); !mlirOperationIsNull(f);) {
    MlirOperation next = mlirOperationGetNextInBlock(f);
    if (cubeIsOutlinedFunc(f)) mlirOperationDestroy(f);
    f = next;
  }
  OpList drops = {0};
  cubeWalkOps(module, "cube.dropout", collectDropout, &drops);
  for (size_t i = 0; i < drops.n; ++i) {
    MlirOperation d = drops.v[i];
    double p = 0;
    cubeGetF64Attr(d, "p", &p);
    if (training && p > 0 && inFunc(d, program)) {
      char msg[300];
      snprintf(msg, sizeof msg, "cube-prepare-forward: dropout with p=%g in @%s: training with dropout is not "
               "supported by codegen yet (no dropout kernel); use p=0", p, func);
      mlirEmitError(mlirOperationGetLocation(d), msg);
      free(drops.v);
      return mlirLogicalResultFailure();
    }
    if (mlirOperationGetNumOperands(d) == 1 && mlirOperationGetNumResults(d) == 1)
      mlirValueReplaceAllUsesOfWith(mlirOperationGetResult(d, 0), mlirOperationGetOperand(d, 0));
    mlirOperationDestroy(d);
  }
  free(drops.v);
  return mlirLogicalResultSuccess();
}

const CubePassInfo cubePrepareForwardPassInfo = {
    .argument = "cube-prepare-forward",
    .description = "Forward (eval) form for codegen: inline checkpoints with absolute scopes, remove dropout",
    .anchor = "builtin.module",
    .options = kOptions,
    .nOptions = sizeof kOptions / sizeof kOptions[0],
    .run = runPrepare,
};
