/* The linalg kernel of a fused kernel function (cube/Fuse.h; target=cpu, and target=cuda when the
 * vectorised gpu-dialect kernel does not apply): ONE elementwise linalg.generic over the flat tensors with
 * the group's inputs as ins and its outputs as outs, whose body computes the whole chain in f32 with the
 * per-op formulas of the one-op kernels (kbElementwise). Intermediates live in registers, never in a tensor
 * (so bufferization allocates nothing), but every intermediate whose tensor type is bf16/f16 is rounded to
 * that type and extended back (arith.truncf + arith.extf) before the next op reads it, exactly where the
 * unfused kernels round it when they store it: fused and unfused kernels agree bit for bit. */
#include <stdio.h>
#include <string.h>

#include "cube/Fuse.h"
#include "cube/KernelGen.h"
#include "cube/Ops.h"
#include "mlir-c/BuiltinTypes.h"


static void header(MlirOperation fn, const char *name, const CubeFuseGroup *g, CubeBuf *out) {
  cubeBufPrintf(out, "func.func private @%s(", name);
  for (int i = 0; i < g->nIn + g->nOut; ++i) {
    if (i < g->nIn) cubeBufPrintf(out, "%s%%in%d: ", i ? ", " : "", i);
    else cubeBufPrintf(out, ", %%out%.0d: ", i - g->nIn);
    kgTypeText(mlirValueGetType(i < g->nIn ? g->in[i] : g->out[i - g->nIn]), out);
  }
  cubeBufAppend(out, g->nOut > 1 ? ") -> (" : ") -> ");
  for (int k = 0; k < g->nOut; ++k) {
    if (k) cubeBufAppend(out, ", ");
    kgTypeText(mlirValueGetType(g->out[k]), out);
  }
  cubeBufPrintf(out, "%s attributes {cube.kernel = \"%s\", cube.kernel_inputs = %d : i64, cube.kernel_scratch = 0 : i64",
                g->nOut > 1 ? ")" : "", CUBE_FUSED_KERNEL, g->nIn);
  if (g->nOut != 1) cubeBufPrintf(out, ", cube.kernel_outs = %d : i64", g->nOut);
  MlirStringRef ops;
  if (cubeGetStrAttr(fn, CUBE_ATTR_FUSED_OPS, &ops) && !memchr(ops.data, '"', ops.length) &&
      !memchr(ops.data, '\\', ops.length))
    cubeBufPrintf(out, ", %s = \"%.*s\"", CUBE_ATTR_FUSED_OPS, (int)ops.length, ops.data);
  cubeBufAppend(out, "} {\n");
}

bool cubeFusedKernelText(MlirOperation fn, const char *name, CubeBuf *out, char *err, size_t errSize) {
  CubeFuseGroup g;
  if (!cubeFusedKernelBody(fn, &g, err, errSize)) return false;
  header(fn, name, &g, out);
  KGen kg = {.b = out};
  KOperand ins[CUBE_FUSE_MAX_INPUTS], outs[CUBE_FUSE_MAX_OUTPUTS];
  MlirType outTypes[CUBE_FUSE_MAX_OUTPUTS];
  char arg[16];
  for (int i = 0; i < g.nIn; ++i) {
    snprintf(arg, sizeof arg, "%%in%d", i);
    ins[i] = (KOperand){kgFlat(&kg, arg, mlirValueGetType(g.in[i])), "d0"};
  }
  for (int k = 0; k < g.nOut; ++k) {
    snprintf(arg, sizeof arg, "%%out%.0d", k);
    outTypes[k] = mlirValueGetType(g.out[k]);
    outs[k] = (KOperand){kgFlat(&kg, arg, outTypes[k]), "d0"};
  }
  KBody b = {.g = &kg};
  KVal inF[CUBE_FUSE_MAX_INPUTS], valF[CUBE_FUSE_MAX_OPS], valE[CUBE_FUSE_MAX_OPS], yields[CUBE_FUSE_MAX_OUTPUTS];
  for (int i = 0; i < g.nIn; ++i) {
    snprintf(arg, sizeof arg, "%%bi%d", i);
    inF[i] = kbToF32(&b, kbArg(arg), ins[i].t.elt);
  }
  for (int j = 0; j < g.nOps; ++j) {
    KVal xy[2];
    for (intptr_t i = 0; i < mlirOperationGetNumOperands(g.ops[j]) && i < 2; ++i) {
      MlirValue v = mlirOperationGetOperand(g.ops[j], i);
      int at = cubeFuseIndexOf(g.in, g.nIn, v);
      for (int k = 0; at < 0 && k < j; ++k)
        if (mlirValueEqual(mlirOperationGetResult(g.ops[k], 0), v)) xy[i] = valF[k];
      if (at >= 0) xy[i] = inF[at];
    }
    if (mlirOperationGetNumOperands(g.ops[j]) == 1) xy[1] = xy[0];
    char elt[8];
    KVal r;
    if (!kgEltName(mlirShapedTypeGetElementType(mlirValueGetType(mlirOperationGetResult(g.ops[j], 0))), elt, sizeof elt) ||
        !kbElementwise(&b, g.ops[j], xy[0], xy[1], &r)) {
      snprintf(err, errSize, "a fused kernel holds an op without an elementwise formula");
      cubeBufFree(&b.b);
      return false;
    }
    /* The value as the unfused kernel stores it (rounded to the result type), and as the next op reads it. */
    valE[j] = kbFromF32(&b, r, elt);
    valF[j] = strcmp(elt, "f32") && cubeFuseReadLater(&g, j) ? kbToF32(&b, valE[j], elt) : r;
  }
  for (int k = 0; k < g.nOut; ++k)
    for (int j = 0; j < g.nOps; ++j)
      if (mlirValueEqual(mlirOperationGetResult(g.ops[j], 0), g.out[k])) yields[k] = valE[j];
  KFlat res[CUBE_FUSE_MAX_OUTPUTS];
  kgGeneric(&kg, 1, g.nIn, ins, g.nOut, outs, &b, yields, res);
  kgReturnN(&kg, g.nOut, res, outTypes);
  cubeBufAppend(out, "}\n");
  if (kg.failed || out->oom) {
    snprintf(err, errSize, "%s", kg.failed ? kg.err : "out of memory");
    return false;
  }
  return true;
}
