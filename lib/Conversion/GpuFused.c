/* The gpu-dialect kernel of a fused kernel function (cube/Fuse.h) on target=cuda: one launch, vectorised
 * like the one-op elementwise kernels (GpuElementwise.c): each thread loads 16 bytes of every external input
 * once (vector<8xbf16> or vector<4xf32>; the width is set by the widest input or output element), computes
 * the whole chain per element in f32 registers with the one-op formulas (cubeGpuElementwiseFormula), rounds
 * every bf16/f16 intermediate to its tensor type and back exactly where the unfused kernels store and reload
 * it, and stores one vector per output. Taken when the element count is a multiple of the width; otherwise
 * the fused linalg kernel (KernelsFused.c) runs instead. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cube/Fuse.h"
#include "cube/GpuText.h"
#include "cube/KernelGen.h"
#include "cube/Ops.h"
#include "mlir-c/BuiltinTypes.h"

enum { NT = 256 };

static bool eltOf(MlirValue v, char *buf) {
  return kgEltName(mlirShapedTypeGetElementType(mlirValueGetType(v)), buf, 8);
}

/* The vector width: 16 bytes of the widest element among inputs and outputs (narrower ones load 8 bytes). */
static int64_t width(const CubeFuseGroup *g) {
  int widest = 2;
  char e[8];
  for (int i = 0; i < g->nIn + g->nOut; ++i)
    if (eltOf(i < g->nIn ? g->in[i] : g->out[i - g->nIn], e) && !strcmp(e, "f32")) widest = 4;
  return 16 / widest;
}

bool cubeGpuFusedApplies(MlirOperation fn) {
  CubeFuseGroup g;
  char err[256];
  return cubeFusedKernelBody(fn, &g, err, sizeof err) && g.n > 0 && g.n % width(&g) == 0;
}


bool cubeGpuFusedText(MlirOperation fn, const char *name, CubeBuf *out, char *err, size_t errSize) {
  CubeFuseGroup g;
  if (!cubeFusedKernelBody(fn, &g, err, errSize)) return false;
  int64_t vec = width(&g), n = g.n;
  if (n <= 0 || n % vec) {
    snprintf(err, errSize, "no vectorised GPU kernel for this fused group");
    return false;
  }
  int nArgs = g.nIn + g.nOut;
  char elts[CUBE_FUSE_MAX_INPUTS + CUBE_FUSE_MAX_OUTPUTS][8], opElt[CUBE_FUSE_MAX_OPS][8];
  int64_t sizes[CUBE_FUSE_MAX_INPUTS + CUBE_FUSE_MAX_OUTPUTS];
  for (int i = 0; i < nArgs; ++i) {
    sizes[i] = n;
    if (!eltOf(i < g.nIn ? g.in[i] : g.out[i - g.nIn], elts[i])) return snprintf(err, errSize, "bad element type"), false;
  }
  for (int j = 0; j < g.nOps; ++j)
    if (!eltOf(mlirOperationGetResult(g.ops[j], 0), opElt[j])) return snprintf(err, errSize, "bad element type"), false;
  GT t = {out, 0};
  gtFuncOpen(&t, name, nArgs, sizes, (const char(*)[8])elts);
  GV at = gtMulC(&t, gtThreadsOpen(&t, n / vec, NT), vec), in[CUBE_FUSE_MAX_INPUTS];
  for (int i = 0; i < g.nIn; ++i) {
    char arg[8];
    snprintf(arg, sizeof arg, "%%a%d", i);
    in[i] = gtVecLoad(&t, arg, n, elts[i], at, vec);
  }
  CubeBuf res[CUBE_FUSE_MAX_OUTPUTS] = {{0}};
  for (int64_t k = 0; k < vec; ++k) {
    GV x[CUBE_FUSE_MAX_INPUTS], valF[CUBE_FUSE_MAX_OPS], valE[CUBE_FUSE_MAX_OPS];
    for (int i = 0; i < g.nIn; ++i) x[i] = gtVecElemF32(&t, in[i], k, elts[i], vec);
    for (int j = 0; j < g.nOps; ++j) {
      GV xy[2] = {{""}, {""}};
      for (intptr_t i = 0; i < mlirOperationGetNumOperands(g.ops[j]) && i < 2; ++i) {
        MlirValue val = mlirOperationGetOperand(g.ops[j], i);
        int a = cubeFuseIndexOf(g.in, g.nIn, val);
        if (a >= 0) xy[i] = x[a];
        for (int p = 0; a < 0 && p < j; ++p)
          if (mlirValueEqual(mlirOperationGetResult(g.ops[p], 0), val)) xy[i] = valF[p];
      }
      if (mlirOperationGetNumOperands(g.ops[j]) == 1) xy[1] = xy[0];
      GV r = cubeGpuElementwiseFormula(&t, g.ops[j], xy[0], xy[1]);
      bool narrow = strcmp(opElt[j], "f32") != 0;
      valE[j] = narrow ? gtVal(&t, "arith.truncf %s : f32 to %s", r.s, opElt[j]) : r;
      valF[j] = narrow && cubeFuseReadLater(&g, j) ? gtVal(&t, "arith.extf %s : %s to f32", valE[j].s, opElt[j]) : r;
    }
    for (int o = 0; o < g.nOut; ++o)
      for (int j = 0; j < g.nOps; ++j)
        if (mlirValueEqual(mlirOperationGetResult(g.ops[j], 0), g.out[o]))
          cubeBufPrintf(&res[o], "%s%s", k ? ", " : "", valE[j].s);
  }
  for (int o = 0; o < g.nOut; ++o) {
    const char *e = elts[g.nIn + o];
    GV r = gtVal(&t, "vector.from_elements %s : vector<%" PRId64 "x%s>", cubeBufStr(&res[o]), vec, e);
    gtLine(&t, "vector.store %s, %%a%d[%s] {alignment = %" PRId64 " : i64} : memref<%" PRId64 "x%s>, vector<%" PRId64 "x%s>",
           r.s, g.nIn + o, at.s, vec * gtEltBytes(e), n, e, vec, e);
    cubeBufFree(&res[o]);
  }
  gtThreadsClose(&t);
  return true;
}
