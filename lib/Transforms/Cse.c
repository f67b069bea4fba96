/* cube-cse: common subexpressions of cube ops, for what recompute leaves twice in the backward.
 *
 * With a recomputed decoder layer, the backward re-runs the layer's forward (ops marked cube.recomputed) and
 * then its gradient, and after cube-attention-to-matmul both contain the same q k^T and softmax. Two cube
 * ops are the same when they have the same name, operands, result types and attributes other than the
 * discardable cube.* ones (cube.scope, cube.recomputed); the later one's results are replaced by the
 * earlier one's. Only pure ops take part (not param, opt_state, adamw_update, dropout, fill-free ops are
 * fine). By default (recomputed-only=true) the earlier op must be a recomputed one, so that a value is only
 * reused inside one layer's backward: reusing the forward pass's attention probabilities in the backward
 * would keep every layer's S x S buffer alive across the whole step. Upstream `cse` does not apply: the
 * IRDL-defined cube ops carry no side-effect traits. */
#include <stdlib.h>
#include <string.h>

#include "cube/Ops.h"
#include "cube/Passes.h"
#include "cube/Rewrite.h"
#include "mlir-c/BuiltinAttributes.h"

enum { OPT_RECOMPUTED_ONLY };

static const CubePassOption kOptions[] = {
    [OPT_RECOMPUTED_ONLY] = {"recomputed-only", CUBE_OPT_BOOL, "true",
                             "reuse only values of ops marked cube.recomputed (the backward's own recomputation)",
                             0, 0},
};

static bool pure(MlirOperation op) {
  return cubeIsCubeOp(op) && mlirOperationGetNumResults(op) > 0 && mlirOperationGetNumRegions(op) == 0 &&
         !cubeIsOp(op, "param") && !cubeIsOp(op, "opt_state") && !cubeIsOp(op, "dropout") &&
         !cubeIsOp(op, "adamw_update") && !cubeIsOp(op, "all_reduce");
}

/* The attributes that define the op's meaning: every one except the discardable cube.* ones. */
static bool sameAttrs(MlirOperation a, MlirOperation b) {
  intptr_t na = mlirOperationGetNumAttributes(a), nb = mlirOperationGetNumAttributes(b), ka = 0, kb = 0;
  for (intptr_t i = 0; i < na; ++i) {
    MlirNamedAttribute x = mlirOperationGetAttribute(a, i);
    MlirStringRef n = mlirIdentifierStr(x.name);
    if (n.length > 5 && !strncmp(n.data, "cube.", 5)) continue;
    ka++;
    MlirAttribute y = mlirOperationGetAttributeByName(b, n);
    if (mlirAttributeIsNull(y) || !mlirAttributeEqual(x.attribute, y)) return false;
  }
  for (intptr_t i = 0; i < nb; ++i) {
    MlirStringRef n = mlirIdentifierStr(mlirOperationGetAttribute(b, i).name);
    if (!(n.length > 5 && !strncmp(n.data, "cube.", 5))) kb++;
  }
  return ka == kb;
}

static bool same(MlirOperation a, MlirOperation b) {
  if (!mlirIdentifierEqual(mlirOperationGetName(a), mlirOperationGetName(b))) return false;
  intptr_t n = mlirOperationGetNumOperands(a), r = mlirOperationGetNumResults(a);
  if (n != mlirOperationGetNumOperands(b) || r != mlirOperationGetNumResults(b)) return false;
  for (intptr_t i = 0; i < n; ++i)
    if (!mlirValueEqual(mlirOperationGetOperand(a, i), mlirOperationGetOperand(b, i))) return false;
  for (intptr_t i = 0; i < r; ++i)
    if (!mlirTypeEqual(mlirValueGetType(mlirOperationGetResult(a, i)), mlirValueGetType(mlirOperationGetResult(b, i))))
      return false;
  return sameAttrs(a, b);
}

/* An earlier op of the same block equal to op (a user of op's first operand), or a null op. */
static MlirOperation earlierTwin(MlirOperation op, bool recomputedOnly) {
  if (mlirOperationGetNumOperands(op) == 0) return (MlirOperation){NULL};
  MlirBlock block = mlirOperationGetBlock(op);
  MlirValue first = mlirOperationGetOperand(op, 0);
  for (MlirOpOperand u = mlirValueGetFirstUse(first); !mlirOpOperandIsNull(u); u = mlirOpOperandGetNextUse(u)) {
    MlirOperation other = mlirOpOperandGetOwner(u);
    if (mlirOperationEqual(other, op) || !mlirBlockEqual(mlirOperationGetBlock(other), block) ||
        !mlirOperationIsBeforeInBlock(other, op) || !pure(other))
      continue;
    if (recomputedOnly && !cubeHasAttr(other, "cube.recomputed")) continue;
    if (same(other, op)) return other;
  }
  return (MlirOperation){NULL};
}

static size_t cseBlock(MlirBlock block, bool recomputedOnly) {
  size_t removed = 0;
  for (MlirOperation op = mlirBlockGetFirstOperation(block); !mlirOperationIsNull(op);) {
    MlirOperation next = mlirOperationGetNextInBlock(op);
    for (intptr_t r = 0; r < mlirOperationGetNumRegions(op); ++r)
      for (MlirBlock b = mlirRegionGetFirstBlock(mlirOperationGetRegion(op, r)); !mlirBlockIsNull(b);
           b = mlirBlockGetNextInRegion(b))
        removed += cseBlock(b, recomputedOnly);
    if (pure(op)) {
      MlirOperation twin = earlierTwin(op, recomputedOnly);
      if (!mlirOperationIsNull(twin)) {
        for (intptr_t i = 0; i < mlirOperationGetNumResults(op); ++i)
          mlirValueReplaceAllUsesOfWith(mlirOperationGetResult(op, i), mlirOperationGetResult(twin, i));
        mlirOperationDestroy(op);
        removed++;
      }
    }
    op = next;
  }
  return removed;
}

static MlirLogicalResult runCse(MlirOperation module, const CubeOptionValue *options) {
  cseBlock(cubeModuleBody(module), options[OPT_RECOMPUTED_ONLY].b);
  return mlirLogicalResultSuccess();
}

const CubePassInfo cubeCsePassInfo = {
    .argument = "cube-cse",
    .description = "Replace a pure cube op by an earlier identical one (by default only an earlier recomputed one: "
                   "the backward's duplicate of a recomputed layer's attention)",
    .anchor = "builtin.module",
    .options = kOptions,
    .nOptions = sizeof kOptions / sizeof kOptions[0],
    .run = runCse,
};
