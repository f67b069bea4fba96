/* Elementwise ops for target=cuda in the gpu dialect, vectorised: each thread loads 16 bytes of every
 * operand (8 bf16/f16 or 4 f32 elements; vector<Nx..> loads become ld.global.v4), computes each element in
 * f32 with the formulas of the linalg kernels (lib/Conversion/KernelsElementwise.c, KernelsGrad.c: silu(x) =
 * x / (1 + exp(-x)), silu_grad = dout * s * (1 + x (1 - s)), scale by the factor rounded to f32, cast by
 * extending and rounding once) and stores one vector. The linalg kernel does one element per thread with
 * 2-byte loads, which leaves most of the memory bandwidth of a bf16 tensor unused. Taken when every operand
 * has the result's element count and that count is a multiple of the vector width; otherwise the linalg
 * kernel stays. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cube/GpuKernels.h"
#include "cube/GpuText.h"
#include "cube/Ops.h"
#include "mlir-c/BuiltinTypes.h"

enum { NT = 256 };

static const char *const kUnary[] = {"neg", "exp", "rsqrt", "silu", "scale", "cast"};
static const char *const kBinary[] = {"add", "sub", "mul", "div", "minimum", "silu_grad"};

static bool isOneOf(MlirOperation op, const char *const *names, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (cubeIsOp(op, names[i])) return true;
  return false;
}

static int eltBytes(const char *e) { return !strcmp(e, "f32") ? 4 : 2; }

typedef struct {
  int nIn;
  char e[3][8]; /* operands, then the result */
  int64_t n, vec;
} Ew;

static bool shape(MlirOperation op, Ew *w) {
  bool un = isOneOf(op, kUnary, sizeof kUnary / sizeof kUnary[0]);
  bool bin = isOneOf(op, kBinary, sizeof kBinary / sizeof kBinary[0]);
  if (!un && !bin) return false;
  w->nIn = un ? 1 : 2;
  if (mlirOperationGetNumOperands(op) != w->nIn || mlirOperationGetNumResults(op) != 1) return false;
  MlirValue r = mlirOperationGetResult(op, 0);
  w->n = kgNumElements(mlirValueGetType(r));
  int widest = 0;
  for (int i = 0; i <= w->nIn; ++i) {
    MlirValue v = i < w->nIn ? mlirOperationGetOperand(op, i) : r;
    if (!kgEltName(mlirShapedTypeGetElementType(mlirValueGetType(v)), w->e[i], sizeof w->e[i])) return false;
    if (strcmp(w->e[i], "f32") && strcmp(w->e[i], "bf16") && strcmp(w->e[i], "f16")) return false;
    if (kgNumElements(mlirValueGetType(v)) != w->n) return false;
    if (eltBytes(w->e[i]) > widest) widest = eltBytes(w->e[i]);
  }
  w->vec = 16 / widest;
  return w->n > 0 && w->n % w->vec == 0;
}

/* The op's f32 result from its f32 operands x (and y); shared with the fused kernels (GpuFused.c). */
GV cubeGpuElementwiseFormula(GT *g, MlirOperation op, GV x, GV y) {
  GV one = gtF32(g, "1.0");
  if (cubeIsOp(op, "add")) return gtVal(g, "arith.addf %s, %s : f32", x.s, y.s);
  if (cubeIsOp(op, "sub")) return gtSubF(g, x, y);
  if (cubeIsOp(op, "mul")) return gtMulF(g, x, y);
  if (cubeIsOp(op, "div")) return gtVal(g, "arith.divf %s, %s : f32", x.s, y.s);
  if (cubeIsOp(op, "minimum")) return gtVal(g, "arith.minimumf %s, %s : f32", x.s, y.s);
  if (cubeIsOp(op, "neg")) return gtVal(g, "arith.negf %s : f32", x.s);
  if (cubeIsOp(op, "exp")) return gtExp(g, x);
  if (cubeIsOp(op, "rsqrt")) return gtVal(g, "math.rsqrt %s : f32", x.s);
  if (cubeIsOp(op, "cast")) return x;
  if (cubeIsOp(op, "scale")) {
    double f = 1.0;
    char t[40];
    cubeGetF64Attr(op, "factor", &f);
    snprintf(t, sizeof t, "%.9e", (double)(float)f);
    return gtMulF(g, x, gtF32(g, t));
  }
  GV e = gtExp(g, gtVal(g, "arith.negf %s : f32", x.s));
  GV den = gtVal(g, "arith.addf %s, %s : f32", one.s, e.s);
  if (cubeIsOp(op, "silu")) return gtVal(g, "arith.divf %s, %s : f32", x.s, den.s);
  /* silu_grad(x, dout) */
  GV s = gtVal(g, "arith.divf %s, %s : f32", one.s, den.s);
  GV t = gtVal(g, "arith.addf %s, %s : f32", one.s, gtMulF(g, x, gtSubF(g, one, s)).s);
  return gtMulF(g, y, gtMulF(g, s, t));
}

bool cubeGpuElementwiseApplies(MlirOperation op) {
  Ew w;
  return shape(op, &w);
}

bool cubeGpuElementwiseText(MlirOperation op, const char *name, CubeBuf *out, char *err, size_t errSize) {
  Ew w;
  if (!shape(op, &w)) {
    snprintf(err, errSize, "no vectorised GPU kernel for this elementwise op");
    return false;
  }
  GT g = {out, 0};
  int64_t sizes[3] = {w.n, w.n, w.n};
  gtFuncOpen(&g, name, w.nIn + 1, sizes, w.e);
  GV at = gtMulC(&g, gtThreadsOpen(&g, w.n / w.vec, NT), w.vec);
  GV in[2], r[16];
  for (int i = 0; i < w.nIn; ++i) in[i] = gtVecLoad(&g, i ? "%a1" : "%a0", w.n, w.e[i], at, w.vec);
  for (int64_t k = 0; k < w.vec; ++k) {
    GV x[2];
    for (int i = 0; i < w.nIn; ++i) x[i] = gtVecElemF32(&g, in[i], k, w.e[i], w.vec);
    r[k] = cubeGpuElementwiseFormula(&g, op, x[0], w.nIn == 2 ? x[1] : x[0]);
  }
  gtVecStoreF32(&g, r, w.nIn == 2 ? "%a2" : "%a1", w.n, w.e[w.nIn], at, w.vec);
  gtThreadsClose(&g);
  return true;
}
