/* cube.rope and cube.rope_grad for target=cuda in the gpu dialect: each thread takes one 16-byte vector of a
 * row's low half (columns d .. d+V-1 < D/2) and its partner vector in the high half (d + D/2 ...), which
 * share their angles, so it loads two vectors, computes V angles and stores two vectors. The linalg kernel
 * (lib/Conversion/KernelsNorm.c) does one element per thread, with a 2-byte load of the element and one of
 * its partner, and computes every angle twice. The arithmetic is the linalg kernel's, op for op:
 *   inv = 1 / powf(theta, f32(2i) / f32(D)), angle = inv * f32(s), c = cos(angle), s = sin(angle);
 *   rope:      lo' = lo c + (-hi) s,  hi' = hi c + lo s
 *   rope_grad: lo' = lo c + hi s,     hi' = hi c + (-lo) s
 * for an input [B, heads, S, D] whose D/2 is a multiple of the vector width (8 bf16/f16, 4 f32). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cube/GpuKernels.h"
#include "cube/GpuText.h"
#include "cube/Ops.h"
#include "mlir-c/BuiltinTypes.h"

enum { NT = 256 };

typedef struct {
  int64_t n, s, d, vec;
  double theta;
  bool grad;
  char e[2][8]; /* input, result */
} Rope;

static bool shape(MlirOperation op, Rope *r) {
  r->grad = cubeIsOp(op, "rope_grad");
  if ((!r->grad && !cubeIsOp(op, "rope")) || mlirOperationGetNumOperands(op) != 1 ||
      mlirOperationGetNumResults(op) != 1)
    return false;
  MlirType it = mlirValueGetType(mlirOperationGetOperand(op, 0)), ot = mlirValueGetType(mlirOperationGetResult(op, 0));
  if (kgRank(it) != 4 || !kgEltName(mlirShapedTypeGetElementType(it), r->e[0], 8) ||
      !kgEltName(mlirShapedTypeGetElementType(ot), r->e[1], 8) || kgNumElements(ot) != kgNumElements(it))
    return false;
  for (int i = 0; i < 2; ++i)
    if (strcmp(r->e[i], "f32") && strcmp(r->e[i], "bf16") && strcmp(r->e[i], "f16")) return false;
  r->theta = 10000.0;
  cubeGetF64Attr(op, "theta", &r->theta);
  r->n = kgNumElements(it);
  r->s = kgDim(it, 2);
  r->d = kgDim(it, 3);
  int widest = gtEltBytes(r->e[0]) > gtEltBytes(r->e[1]) ? gtEltBytes(r->e[0]) : gtEltBytes(r->e[1]);
  r->vec = 16 / widest;
  return r->n > 0 && r->d % 2 == 0 && (r->d / 2) % r->vec == 0;
}

bool cubeGpuRopeApplies(MlirOperation op) {
  Rope r;
  return shape(op, &r);
}

bool cubeGpuRopeText(MlirOperation op, const char *name, CubeBuf *out, char *err, size_t errSize) {
  Rope r;
  if (!shape(op, &r)) {
    snprintf(err, errSize, "no vectorised GPU kernel for this rope");
    return false;
  }
  int64_t half = r.d / 2, perRow = half / r.vec, pairs = r.n / r.d * perRow;
  GT g = {out, 0};
  int64_t sizes[2] = {r.n, r.n};
  gtFuncOpen(&g, name, 2, sizes, r.e);
  GV v = gtThreadsOpen(&g, pairs, NT);
  GV row = gtDivC(&g, v, perRow), d0 = gtMulC(&g, gtRemC(&g, v, perRow), r.vec);
  GV lo = gtAdd(&g, gtMulC(&g, row, r.d), d0), hi = gtAddC(&g, lo, half);
  GV pos = gtRemC(&g, row, r.s);
  GV posf = gtVal(&g, "arith.uitofp %s : i64 to f32", gtVal(&g, "arith.index_cast %s : index to i64", pos.s).s);
  char t[40];
  snprintf(t, sizeof t, "%.9e", (double)(float)r.d);
  GV df = gtF32(&g, t);
  snprintf(t, sizeof t, "%.9e", (double)(float)r.theta);
  GV th = gtF32(&g, t), one = gtF32(&g, "1.0");
  GV vl = gtVecLoad(&g, "%a0", r.n, r.e[0], lo, r.vec), vh = gtVecLoad(&g, "%a0", r.n, r.e[0], hi, r.vec);
  GV ol[8], oh[8];
  for (int64_t k = 0; k < r.vec; ++k) {
    GV twoI = gtMulC(&g, gtAddC(&g, d0, k), 2);
    GV twoIf = gtVal(&g, "arith.uitofp %s : i64 to f32", gtVal(&g, "arith.index_cast %s : index to i64", twoI.s).s);
    GV pw = gtVal(&g, "math.powf %s, %s : f32", th.s, gtVal(&g, "arith.divf %s, %s : f32", twoIf.s, df.s).s);
    GV ang = gtMulF(&g, gtVal(&g, "arith.divf %s, %s : f32", one.s, pw.s), posf);
    GV c = gtVal(&g, "math.cos %s : f32", ang.s), s = gtVal(&g, "math.sin %s : f32", ang.s);
    GV xl = gtVecElemF32(&g, vl, k, r.e[0], r.vec), xh = gtVecElemF32(&g, vh, k, r.e[0], r.vec);
    GV nxl = gtVal(&g, "arith.negf %s : f32", xl.s), nxh = gtVal(&g, "arith.negf %s : f32", xh.s);
    /* x c + rot s, with rot = the partner (rope: -hi for lo, lo for hi; rope_grad: hi for lo, -lo for hi) */
    ol[k] = gtVal(&g, "arith.addf %s, %s : f32", gtMulF(&g, xl, c).s, gtMulF(&g, r.grad ? xh : nxh, s).s);
    oh[k] = gtVal(&g, "arith.addf %s, %s : f32", gtMulF(&g, xh, c).s, gtMulF(&g, r.grad ? nxl : xl, s).s);
  }
  gtVecStoreF32(&g, ol, "%a1", r.n, r.e[1], lo, r.vec);
  gtVecStoreF32(&g, oh, "%a1", r.n, r.e[1], hi, r.vec);
  gtThreadsClose(&g);
  return true;
}
