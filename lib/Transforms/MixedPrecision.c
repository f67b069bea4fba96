/* cube-mixed-precision: fp32 master weights for a bf16/f16 model. Every trainable bf16/f16 cube.param becomes
 * an f32 param followed by a cube.cast to its old type, which its uses read; the rest of the model (GEMMs,
 * activations) stays in bf16/f16. Run before cube-autodiff: the cast's VJP casts the gradient back to f32,
 * so the trainable parameters' gradients, AdamW's states and its update are all f32, and a small update is
 * not lost to bf16 rounding (the usual autocast recipe: HF + peft keep fp32 weights and the LoRA adapters
 * in fp32). With all=true frozen parameters become f32 too (more memory, no numerical gain for a forward
 * that casts them anyway): off by default. Parameters keep their names and init specs; the runtime loads and
 * saves them in f32. */
#include <stdlib.h>

#include "cube/Ops.h"
#include "cube/Passes.h"
#include "cube/Rewrite.h"
#include "mlir-c/BuiltinAttributes.h"
#include "mlir-c/BuiltinTypes.h"

enum { OPT_ALL };

static const CubePassOption kOptions[] = {
    [OPT_ALL] = {"all", CUBE_OPT_BOOL, "false", "also frozen parameters (default: trainable ones only)", 0, 0},
};

static bool lowPrecision(MlirType t) {
  if (!mlirTypeIsARankedTensor(t)) return false;
  MlirType e = mlirShapedTypeGetElementType(t);
  return mlirTypeIsABF16(e) || mlirTypeIsAF16(e);
}

/* param (bf16) -> param (f32) + cast (bf16); uses read the cast. */
static void promote(MlirOperation param) {
  MlirContext ctx = mlirOperationGetContext(param);
  MlirLocation loc = mlirOperationGetLocation(param);
  MlirType old = mlirValueGetType(mlirOperationGetResult(param, 0));
  intptr_t rank = mlirShapedTypeGetRank(old);
  int64_t dims[8];
  for (intptr_t i = 0; i < rank && i < 8; ++i) dims[i] = mlirShapedTypeGetDimSize(old, i);
  MlirType f32 = mlirRankedTensorTypeGet(rank, dims, mlirF32TypeGet(ctx), mlirAttributeGetNull());

  MlirOperationState st = mlirOperationStateGet(mlirStringRefCreateFromCString("cube.param"), loc);
  mlirOperationStateAddResults(&st, 1, &f32);
  intptr_t na = mlirOperationGetNumAttributes(param);
  MlirNamedAttribute *attrs = malloc(sizeof *attrs * (size_t)(na ? na : 1));
  for (intptr_t i = 0; i < na; ++i) attrs[i] = mlirOperationGetAttribute(param, i);
  mlirOperationStateAddAttributes(&st, na, attrs);
  free(attrs);
  MlirOperation master = mlirOperationCreate(&st);
  MlirBlock block = mlirOperationGetBlock(param);
  mlirBlockInsertOwnedOperationBefore(block, param, master);

  MlirValue in = mlirOperationGetResult(master, 0);
  MlirOperationState cs = mlirOperationStateGet(mlirStringRefCreateFromCString("cube.cast"), loc);
  mlirOperationStateAddOperands(&cs, 1, &in);
  mlirOperationStateAddResults(&cs, 1, &old);
  MlirOperation cast = mlirOperationCreate(&cs);
  mlirBlockInsertOwnedOperationBefore(block, param, cast);
  MlirStringRef scope;
  if (cubeGetScope(param, &scope)) {
    char *s = cubeStrDupRef(scope);
    if (s) cubeSetScope(cast, s);
    free(s);
  }
  mlirValueReplaceAllUsesOfWith(mlirOperationGetResult(param, 0), mlirOperationGetResult(cast, 0));
  mlirOperationDestroy(param);
}

static MlirLogicalResult runMixedPrecision(MlirOperation module, const CubeOptionValue *options) {
  CubeOpList l = {0};
  cubeCollectOps(module, "cube.param", &l);
  for (size_t i = 0; i < l.n; ++i) {
    bool trainable = false;
    cubeGetBoolAttr(l.v[i], "trainable", &trainable);
    if ((trainable || options[OPT_ALL].b) && lowPrecision(mlirValueGetType(mlirOperationGetResult(l.v[i], 0))))
      promote(l.v[i]);
  }
  free(l.v);
  return mlirLogicalResultSuccess();
}

const CubePassInfo cubeMixedPrecisionPassInfo = {
    .argument = "cube-mixed-precision",
    .description = "fp32 master weights: trainable bf16/f16 params become f32 params cast to bf16/f16 at their "
                   "uses (run before cube-autodiff: f32 gradients, optimizer state and update)",
    .anchor = "builtin.module",
    .options = kOptions,
    .nOptions = sizeof kOptions / sizeof kOptions[0],
    .run = runMixedPrecision,
};
