/* cube.transpose for target=cuda in the gpu dialect, when the permutation keeps the last dim in place (the
 * attention's head transposes [B, S, H, D] <-> [B, H, S, D]): every output row of D elements is one input
 * row, so each thread copies 16 bytes (8 bf16/f16 or 4 f32) with one vector load and one vector store; the
 * input row is found by splitting the output row index into its coordinates and applying the input's
 * strides. The linalg kernel moves one element per thread. Taken when the element types agree (f32, bf16,
 * f16) and a row is a whole number of 16-byte vectors. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cube/GpuKernels.h"
#include "cube/GpuText.h"
#include "cube/Ops.h"
#include "mlir-c/BuiltinTypes.h"

enum { NT = 256, MAX_RANK = 8 };

typedef struct {
  intptr_t rank;
  int64_t perm[MAX_RANK], in[MAX_RANK], out[MAX_RANK], n, vec;
  char e[8];
} Tr;

static bool shape(MlirOperation op, Tr *t) {
  if (!cubeIsOp(op, "transpose") || mlirOperationGetNumOperands(op) != 1 || mlirOperationGetNumResults(op) != 1)
    return false;
  MlirType it = mlirValueGetType(mlirOperationGetOperand(op, 0)), ot = mlirValueGetType(mlirOperationGetResult(op, 0));
  char oe[8];
  if (!kgEltName(mlirShapedTypeGetElementType(it), t->e, sizeof t->e) ||
      !kgEltName(mlirShapedTypeGetElementType(ot), oe, sizeof oe) || strcmp(t->e, oe) ||
      (strcmp(t->e, "f32") && strcmp(t->e, "bf16") && strcmp(t->e, "f16")))
    return false;
  t->rank = kgRank(it);
  intptr_t np = 0;
  if (t->rank < 2 || t->rank > MAX_RANK || kgRank(ot) != t->rank ||
      !cubeGetI64ArrayAttr(op, "permutation", t->perm, MAX_RANK, &np) || np != t->rank ||
      t->perm[t->rank - 1] != t->rank - 1)
    return false;
  for (intptr_t i = 0; i < t->rank; ++i) {
    t->in[i] = kgDim(it, i);
    t->out[i] = kgDim(ot, i);
    if (t->perm[i] < 0 || t->perm[i] >= t->rank || t->out[i] != kgDim(it, t->perm[i])) return false;
  }
  t->vec = 16 / (strcmp(t->e, "f32") ? 2 : 4);
  t->n = kgNumElements(ot);
  return t->n > 0 && t->out[t->rank - 1] % t->vec == 0;
}

bool cubeGpuTransposeApplies(MlirOperation op) {
  Tr t;
  return shape(op, &t);
}

bool cubeGpuTransposeText(MlirOperation op, const char *name, CubeBuf *out, char *err, size_t errSize) {
  Tr t;
  if (!shape(op, &t)) {
    snprintf(err, errSize, "no vectorised GPU kernel for this transpose");
    return false;
  }
  int64_t stride[MAX_RANK], d = t.out[t.rank - 1];
  stride[t.rank - 1] = 1;
  for (intptr_t i = t.rank - 1; i > 0; --i) stride[i - 1] = stride[i] * t.in[i];
  GT g = {out, 0};
  int64_t sizes[2] = {t.n, t.n};
  char elts[2][8];
  snprintf(elts[0], sizeof elts[0], "%s", t.e);
  snprintf(elts[1], sizeof elts[1], "%s", t.e);
  gtFuncOpen(&g, name, 2, sizes, elts);
  GV v = gtThreadsOpen(&g, t.n / t.vec, NT);
  GV at = gtMulC(&g, v, t.vec);
  GV row = gtDivC(&g, at, d), src = gtRemC(&g, at, d);
  /* out dims rank-2 .. 0: coordinate c_i = row % out[i], row /= out[i]; the input offset adds c_i * stride of
   * input dim perm[i]. */
  for (intptr_t i = t.rank - 2; i >= 0; --i) {
    GV c = i ? gtRemC(&g, row, t.out[i]) : row;
    if (i) row = gtDivC(&g, row, t.out[i]);
    src = gtAdd(&g, src, gtMulC(&g, c, stride[t.perm[i]]));
  }
  GV x = gtVecLoad(&g, "%a0", t.n, t.e, src, t.vec);
  gtLine(&g, "vector.store %s, %%a1[%s] {alignment = 16 : i64} : memref<%" PRId64 "x%s>, vector<%" PRId64 "x%s>",
         x.s, at.s, t.n, t.e, t.vec, t.e);
  gtThreadsClose(&g);
  return true;
}
