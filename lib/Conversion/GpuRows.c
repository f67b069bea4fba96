/* Row reductions for target=cuda in the gpu dialect: one block of 256 threads per row, the row read with
 * coalesced strided loops, block-wide sums and maxima by warp shuffles (cube/GpuText.h gtBlockReduce), so a
 * 32k-class cross-entropy row or a 768-wide rmsnorm row is 256 threads' work instead of one's. The
 * numerics are those of the linalg kernels (lib/Conversion/KernelsNorm.c, KernelsLoss.c, KernelsGradRows.c),
 * only the order of the f32 additions differs:
 *   rmsnorm             y = w * cast(x * rsqrt(sum(x^2)/H + eps)), one launch
 *   rmsnorm_grad        1: per row, sums of x^2 and dy w x, r = rsqrt(...) saved, dx; 2: dw partial sums
 *                       over chunks of rows (grid columns x chunks); 3: dw = sum of the chunks (no atomics:
 *                       deterministic). Scratch r [rows], partial [chunks * H]. bf16/f16 results allowed.
 *   cross_entropy       1: per row, max, sum of exp, the row's loss and validity into scratch [N] x2;
 *                       2: one block sums them: loss = sum / count
 *   cross_entropy_grad  1: one block counts the labels != ignore_index (scratch [1]); 2: per row, max and
 *                       sum, then (softmax - onehot) * dloss / count (in place over the logits is safe: each
 *                       element is read, then written, by the same thread after the row's reductions)
 *   sumsq               one block of 1024 threads, strided, then a block sum (above 1M elements: 264 blocks
 *                       into partials, then one block)
 *   softmax             along the last dim: max and sum of exp of x * scale over the row's unmasked columns
 *                       (j <= r mod causal_period), then p (0 where masked)
 *   softmax_grad        along the last dim: dot = sum(y dy), out = y (dy - dot)
 * Where a row is a whole number of 16-byte vectors (at most 4 per thread), rmsnorm, the per-row launch of
 * rmsnorm_grad, softmax, softmax_grad, cross_entropy and the per-row launch of cross_entropy_grad hold it in
 * registers instead: one block of as many threads as the row has vectors (at most 256; 1024 for the
 * cross-entropy's vocab-wide rows), one vector load per input and one vector store per output, so each
 * row is read once instead of two or three times, and a causal softmax row reads no vector past its last
 * unmasked column. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cube/Conversion.h"
#include "cube/GpuKernels.h"
#include "cube/GpuText.h"
#include "cube/Ops.h"
#include "mlir-c/BuiltinAttributes.h"
#include "mlir-c/BuiltinTypes.h"

enum { NT = 256, NT_ONE = 1024, DW_CHUNKS = 128, REG_COLS = 16 /* rows up to 16 * NT stay in registers */,
       SUMSQ_SPLIT = 1 << 20, SUMSQ_BLOCKS = 264, EMB_ROWS = 16 };

static const char *kRed = "%red : memref<32xf32, " GT_WG ">";

static bool elt(MlirValue v, char *buf) { return kgEltName(mlirShapedTypeGetElementType(mlirValueGetType(v)), buf, 8); }

static int64_t lastDim(MlirValue v) {
  MlirType t = mlirValueGetType(v);
  return kgRank(t) ? kgDim(t, kgRank(t) - 1) : 1;
}

static void launchClose(GT *g) {
  gtLine(g, "gpu.terminator");
  gtLine(g, "}");
}

/* sum (or max) over k in [tx, n) step nthreads of f(k), where f is written by `body` between the open and
 * the yield; returns the block-wide result. */
typedef GV (*ElemFn)(GT *g, GV k, const void *ctx);

static GV rowReduce(GT *g, GV n, GV tx, int64_t nthreads, bool isMax, ElemFn f, const void *ctx) {
  char iv[24];
  snprintf(iv, sizeof iv, "%%k%d", g->n++);
  GV init = gtF32(g, isMax ? "0xFF800000" : "0.0");
  char pre[16];
  snprintf(pre, sizeof pre, "acc%d_", g->n++);
  GV res = gtForOpenStep(g, iv, tx, n, gtIdx(g, nthreads), pre, 0, &init, 1);
  GV cur;
  gtIterVals(pre, 0, &cur, 1);
  GV k = {{0}};
  snprintf(k.s, sizeof k.s, "%s", iv);
  GV x = f(g, k, ctx);
  GV next = gtCombine(g, cur, x, isMax);
  gtYield(g, &next, 1);
  gtLine(g, "}");
  GV part;
  gtResults(res, &part, 1);
  return gtBlockReduce(g, part, isMax, "%red", nthreads, (GV){"%tx"});
}

/* `scf.for %k = tx to n step nthreads {` (no values); close with gtLine(g, "}"). Returns %k. */
static GV forEach(GT *g, GV n, GV tx, int64_t nthreads) {
  GV k = {{0}};
  snprintf(k.s, sizeof k.s, "%%j%d", g->n++);
  GV step = gtIdx(g, nthreads);
  gtLine(g, "scf.for %s = %s to %s step %s {", k.s, tx.s, n.s, step.s);
  return k;
}

static GV ifThread0(GT *g) {
  GV c = gtVal(g, "arith.cmpi eq, %%tx, %s : index", gtIdx(g, 0).s);
  gtLine(g, "scf.if %s {", c.s);
  return c;
}

static void eps(MlirOperation op, char *buf) {
  double e = 1e-6;
  cubeGetF64Attr(op, "eps", &e);
  snprintf(buf, 40, "%.9e", (double)(float)e);
}

static GV sel(GT *g, GV c, GV a, GV b) { return gtVal(g, "arith.select %s, %s, %s : f32", c.s, a.s, b.s); }

/* ---- the vectorised register paths: thread tx holds whole 16-byte vectors of its row ----------------- */

enum { VEC_MAX_PER = 4 }; /* vectors per thread: rows up to 4 * 256 * 8 bf16 (or * 4 f32) columns */

typedef struct {
  int64_t vec, nvec, threads, per; /* elements per vector, vectors per row, threads per row, vectors per thread */
} RowVec;

/* The vector layout of a row of `cols` elements whose widest element type is `widest` bytes, or false when the
 * row is not a whole number of 16-byte vectors or too long for the registers. */
static bool rowVec(int64_t cols, int widest, int64_t maxThreads, RowVec *v) {
  v->vec = 16 / widest;
  if (cols % v->vec) return false;
  v->nvec = cols / v->vec;
  v->threads = v->nvec < maxThreads ? (v->nvec + 31) / 32 * 32 : maxThreads;
  v->per = (v->nvec + v->threads - 1) / v->threads;
  return v->per <= VEC_MAX_PER;
}

static int widestOf(const char (*e)[8], int n) {
  int w = 2;
  for (int i = 0; i < n; ++i)
    if (gtEltBytes(e[i]) > w) w = gtEltBytes(e[i]);
  return w;
}

/* Vector c of this thread's share of the row at `base` (vectors tx, tx + threads, ...): whether it exists,
 * its first column, its first element. */
static void rowVecAt(GT *g, const RowVec *rv, GV base, int64_t c, GV *valid, GV *col0, GV *at) {
  GV vi = gtAddC(g, (GV){"%tx"}, c * rv->threads);
  *valid = gtVal(g, "arith.cmpi ult, %s, %s : index", vi.s, gtIdx(g, rv->nvec).s);
  *col0 = gtMulC(g, vi, rv->vec);
  *at = gtAdd(g, base, *col0);
}

/* gtVecLoad when `cond`, else zeros. */
static GV vecLoadIf(GT *g, GV cond, const char *arg, int64_t n, const char *elt, GV at, int64_t vec) {
  GV r = gtVal(g, "scf.if %s -> (vector<%" PRId64 "x%s>) {", cond.s, vec, elt);
  GV l = gtVecLoad(g, arg, n, elt, at, vec);
  gtLine(g, "scf.yield %s : vector<%" PRId64 "x%s>", l.s, vec, elt);
  gtLine(g, "} else {");
  GV z = gtVal(g, "arith.constant dense<0.0> : vector<%" PRId64 "x%s>", vec, elt);
  gtLine(g, "scf.yield %s : vector<%" PRId64 "x%s>", z.s, vec, elt);
  gtLine(g, "}");
  return r;
}

/* gtVecStoreF32 when `cond`. */
static void vecStoreIf(GT *g, GV cond, const GV *x, const char *arg, int64_t n, const char *elt, GV at, int64_t vec) {
  gtLine(g, "scf.if %s {", cond.s);
  gtVecStoreF32(g, x, arg, n, elt, at, vec);
  gtLine(g, "}");
}

/* A row held in registers as 16-byte vectors: thread tx loads vectors tx, tx + threads, ... of the row at
 * `base` (none past column `lim`: a causal row reads only its unmasked vectors), scaled by `scale` when set;
 * then m = the row's max, x[c * vec + k] = exp(x - m) (0 where masked) and l = their sum, block-wide.
 * valid[c] says whether vector c exists, at[c] is its first element, col0[c] its first column. */
typedef struct {
  GV x[VEC_MAX_PER * 8], valid[VEC_MAX_PER], at[VEC_MAX_PER], col0[VEC_MAX_PER], m, l;
} RowRegs;

static void rowRegsExp(GT *g, const RowVec *rv, int64_t n, const char *elt, GV base, GV scale, GV lim, RowRegs *r) {
  GV tx = {"%tx"}, ninf = gtF32(g, "0xFF800000"), zero = gtF32(g, "0.0"), ok[VEC_MAX_PER * 8];
  r->m = ninf;
  for (int64_t c = 0; c < rv->per; ++c) {
    rowVecAt(g, rv, base, c, &r->valid[c], &r->col0[c], &r->at[c]);
    GV any = gtVal(g, "arith.andi %s, %s : i1", r->valid[c].s,
                   gtVal(g, "arith.cmpi ult, %s, %s : index", r->col0[c].s, lim.s).s);
    GV v = vecLoadIf(g, any, "%a0", n, elt, r->at[c], rv->vec);
    for (int64_t k = 0; k < rv->vec; ++k) {
      int64_t i = c * rv->vec + k;
      GV xk = gtVecElemF32(g, v, k, elt, rv->vec);
      if (scale.s[0]) xk = gtMulF(g, xk, scale);
      ok[i] = gtVal(g, "arith.cmpi ult, %s, %s : index", gtAddC(g, r->col0[c], k).s, lim.s);
      r->x[i] = sel(g, ok[i], xk, ninf);
      r->m = gtCombine(g, r->m, r->x[i], true);
    }
  }
  r->m = gtBlockReduce(g, r->m, true, "%red", rv->threads, tx);
  r->l = zero;
  for (int64_t i = 0; i < rv->per * rv->vec; ++i) {
    r->x[i] = sel(g, ok[i], gtExp(g, gtSubF(g, r->x[i], r->m)), zero);
    r->l = gtCombine(g, r->l, r->x[i], false);
  }
  r->l = gtBlockReduce(g, r->l, false, "%red", rv->threads, tx);
}

/* ---- rmsnorm ------------------------------------------------------------------------------------------ */

typedef struct {
  const char *arg, *elt;
  int64_t n;
  GV base;
} RowArg;

static GV loadAt(GT *g, GV k, const void *c) {
  const RowArg *r = c;
  return gtLoadF32(g, r->arg, r->n, r->elt, gtAdd(g, r->base, k));
}

static GV sq(GT *g, GV k, const void *c) {
  const RowArg *r = c;
  GV x = gtLoadF32(g, r->arg, r->n, r->elt, gtAdd(g, r->base, k));
  return gtMulF(g, x, x);
}

/* r = rsqrt(sum / H + eps), as the linalg kernel: divf, addf, math.rsqrt. */
static GV rowRsqrt(GT *g, GV sum, int64_t h, const char *epsText) {
  char hs[32];
  snprintf(hs, sizeof hs, "%.9e", (double)(float)h);
  GV mean = gtVal(g, "arith.divf %s, %s : f32", sum.s, gtF32(g, hs).s);
  GV var = gtVal(g, "arith.addf %s, %s : f32", mean.s, gtF32(g, epsText).s);
  return gtVal(g, "math.rsqrt %s : f32", var.s);
}

static GV roundTrip(GT *g, GV x, const char *e) {
  if (!strcmp(e, "f32")) return x;
  return gtVal(g, "arith.extf %s : %s to f32", gtVal(g, "arith.truncf %s : f32 to %s", x.s, e).s, e);
}

static bool genRmsnorm(GT *g, MlirOperation op, const char *name) {
  MlirValue xv = mlirOperationGetOperand(op, 0), wv = mlirOperationGetOperand(op, 1);
  int64_t h = lastDim(xv), n = kgNumElements(mlirValueGetType(xv));
  if (h <= 0 || n <= 0) return false;
  int64_t rows = n / h;
  char e[3][8], es[40];
  if (!elt(xv, e[0]) || !elt(wv, e[1]) || !elt(mlirOperationGetResult(op, 0), e[2])) return false;
  eps(op, es);
  int64_t sizes[3] = {n, h, n};
  gtFuncOpen(g, name, 3, sizes, e);
  RowVec rv;
  bool vec = rowVec(h, widestOf(e, 3), NT, &rv);
  gtLaunchOpen(g, rows, 1, vec ? rv.threads : NT, kRed);
  GV tx = {"%tx"}, H = gtIdx(g, h);
  GV base = gtMulC(g, (GV){"%bx"}, h);
  if (vec) { /* the row read once, into registers */
    GV xs[VEC_MAX_PER * 8], valid[VEC_MAX_PER], at[VEC_MAX_PER], col0[VEC_MAX_PER], sum = gtF32(g, "0.0");
    for (int64_t c = 0; c < rv.per; ++c) {
      rowVecAt(g, &rv, base, c, &valid[c], &col0[c], &at[c]);
      GV v = vecLoadIf(g, valid[c], "%a0", n, e[0], at[c], rv.vec);
      for (int64_t k = 0; k < rv.vec; ++k) {
        GV x = xs[c * rv.vec + k] = gtVecElemF32(g, v, k, e[0], rv.vec);
        sum = gtVal(g, "arith.addf %s, %s : f32", sum.s, gtMulF(g, x, x).s);
      }
    }
    GV r = rowRsqrt(g, gtBlockReduce(g, sum, false, "%red", rv.threads, tx), h, es);
    for (int64_t c = 0; c < rv.per; ++c) {
      GV wv = vecLoadIf(g, valid[c], "%a1", h, e[1], col0[c], rv.vec), o[8];
      for (int64_t k = 0; k < rv.vec; ++k)
        o[k] = gtMulF(g, gtVecElemF32(g, wv, k, e[1], rv.vec), roundTrip(g, gtMulF(g, xs[c * rv.vec + k], r), e[2]));
      vecStoreIf(g, valid[c], o, "%a2", n, e[2], at[c], rv.vec);
    }
    launchClose(g);
    return true;
  }
  RowArg ra = {"%a0", e[0], n, base};
  GV r = rowRsqrt(g, rowReduce(g, H, tx, NT, false, sq, &ra), h, es);
  GV k = forEach(g, H, tx, NT);
  GV at = gtAdd(g, base, k);
  GV x = gtLoadF32(g, "%a0", n, e[0], at);
  GV nrm = roundTrip(g, gtMulF(g, x, r), e[2]);
  GV w = gtLoadF32(g, "%a1", h, e[1], k);
  gtStoreF32(g, gtMulF(g, w, nrm), "%a2", n, e[2], at);
  gtLine(g, "}");
  launchClose(g);
  return true;
}

/* ---- rmsnorm_grad ------------------------------------------------------------------------------------- */
/* %a0 x, %a1 w, %a2 dy, %a3 r [rows], %a4 partial [chunks * H], %a5 dx, %a6 dw */

typedef struct {
  int64_t n, h;
  GV base;
  const char *ex, *ew, *ed;
} DwxArg;

static GV dwx(GT *g, GV k, const void *c) {
  const DwxArg *a = c;
  GV at = gtAdd(g, a->base, k);
  GV x = gtLoadF32(g, "%a0", a->n, a->ex, at), dy = gtLoadF32(g, "%a2", a->n, a->ed, at);
  GV w = gtLoadF32(g, "%a1", a->h, a->ew, k);
  return gtMulF(g, gtMulF(g, dy, w), x);
}

static int64_t dwChunks(int64_t rows) { return rows < DW_CHUNKS ? rows : DW_CHUNKS; }

typedef struct {
  int64_t n, h, rows;
  GV base;                /* the block's row */
  const char (*e)[8], *es; /* element types (x, w, dy, r, partial, dx, dw) and eps */
  bool storeR;            /* r into %a3 for the dw launches */
  const char *dxArg;      /* where dx goes (%a5), or, with addArg, dx + addArg's row */
  const char *addArg, *eAdd, *eOut; /* the rmsnorm_grad + add pattern: the other addend, its and the sum's types */
} RmsGrad;

/* Stores r for the dw launches (thread 0, when they run) and returns r^3 dot / H. */
static GV rmsGradCoef(GT *g, const RmsGrad *a, GV r, GV dot) {
  if (a->storeR) {
    ifThread0(g);
    gtLine(g, "memref.store %s, %%a3[%%bx] : memref<%" PRId64 "xf32>", r.s, a->rows);
    gtLine(g, "}");
  }
  GV r3 = gtMulF(g, gtMulF(g, r, r), r);
  char hs[32];
  snprintf(hs, sizeof hs, "%.9e", (double)(float)a->h);
  return gtVal(g, "arith.divf %s, %s : f32", gtMulF(g, r3, dot).s, gtF32(g, hs).s);
}

/* Launch 1 with the row's x, dy and w read once, as 16-byte vectors, into registers. */
static void rmsGradRowsVec(GT *g, const RmsGrad *a, const RowVec *rv) {
  enum { MAXE = VEC_MAX_PER * 8 };
  const char(*e)[8] = a->e;
  GV tx = {"%tx"}, xs[MAXE], ds[MAXE], ws[MAXE], valid[VEC_MAX_PER], at[VEC_MAX_PER];
  GV sum = gtF32(g, "0.0"), dot = sum;
  for (int64_t c = 0; c < rv->per; ++c) {
    GV col0;
    rowVecAt(g, rv, a->base, c, &valid[c], &col0, &at[c]);
    GV vx = vecLoadIf(g, valid[c], "%a0", a->n, e[0], at[c], rv->vec);
    GV vd = vecLoadIf(g, valid[c], "%a2", a->n, e[2], at[c], rv->vec);
    GV vw = vecLoadIf(g, valid[c], "%a1", a->h, e[1], col0, rv->vec);
    for (int64_t k = 0; k < rv->vec; ++k) {
      int64_t i = c * rv->vec + k;
      xs[i] = gtVecElemF32(g, vx, k, e[0], rv->vec);
      ds[i] = gtVecElemF32(g, vd, k, e[2], rv->vec);
      ws[i] = gtVecElemF32(g, vw, k, e[1], rv->vec);
      sum = gtVal(g, "arith.addf %s, %s : f32", sum.s, gtMulF(g, xs[i], xs[i]).s);
      dot = gtVal(g, "arith.addf %s, %s : f32", dot.s, gtMulF(g, gtMulF(g, ds[i], ws[i]), xs[i]).s);
    }
  }
  GV r = rowRsqrt(g, gtBlockReduce(g, sum, false, "%red", rv->threads, tx), a->h, a->es);
  GV cf = rmsGradCoef(g, a, r, gtBlockReduce(g, dot, false, "%red", rv->threads, tx));
  for (int64_t c = 0; c < rv->per; ++c) {
    GV o[8], va = {""};
    if (a->addArg) va = vecLoadIf(g, valid[c], a->addArg, a->n, a->eAdd, at[c], rv->vec);
    for (int64_t k = 0; k < rv->vec; ++k) {
      int64_t i = c * rv->vec + k;
      o[k] = gtSubF(g, gtMulF(g, gtMulF(g, r, ws[i]), ds[i]), gtMulF(g, cf, xs[i]));
      if (a->addArg) /* dx as the unfused kernel stores it, plus the addend, as the add kernel computes it */
        o[k] = gtVal(g, "arith.addf %s, %s : f32", roundTrip(g, o[k], e[5]).s,
                     gtVecElemF32(g, va, k, a->eAdd, rv->vec).s);
    }
    vecStoreIf(g, valid[c], o, a->dxArg, a->n, a->addArg ? a->eOut : e[5], at[c], rv->vec);
  }
}

/* Launch 1 with strided element loops (rows that are not whole vectors). */
static void rmsGradRowsScalar(GT *g, const RmsGrad *a) {
  const char(*e)[8] = a->e;
  GV tx = {"%tx"}, H = gtIdx(g, a->h);
  RowArg ra = {"%a0", e[0], a->n, a->base};
  GV r = rowRsqrt(g, rowReduce(g, H, tx, NT, false, sq, &ra), a->h, a->es);
  DwxArg da = {a->n, a->h, a->base, e[0], e[1], e[2]};
  GV cf = rmsGradCoef(g, a, r, rowReduce(g, H, tx, NT, false, dwx, &da));
  GV k = forEach(g, H, tx, NT);
  GV at = gtAdd(g, a->base, k);
  GV x = gtLoadF32(g, "%a0", a->n, e[0], at), dy = gtLoadF32(g, "%a2", a->n, e[2], at);
  GV w = gtLoadF32(g, "%a1", a->h, e[1], k);
  GV t1 = gtMulF(g, gtMulF(g, r, w), dy), t2 = gtMulF(g, cf, x);
  gtStoreF32(g, gtSubF(g, t1, t2), "%a5", a->n, e[5], at);
  gtLine(g, "}");
}

static bool genRmsnormGrad(GT *g, MlirOperation op, const char *name) {
  MlirValue xv = mlirOperationGetOperand(op, 0), wv = mlirOperationGetOperand(op, 1), dv = mlirOperationGetOperand(op, 2);
  int64_t h = lastDim(xv), n = kgNumElements(mlirValueGetType(xv));
  if (h <= 0 || n <= 0) return false;
  int64_t rows = n / h;
  int64_t chunks = dwChunks(rows), per = (rows + chunks - 1) / chunks;
  char e[7][8], es[40];
  if (!elt(xv, e[0]) || !elt(wv, e[1]) || !elt(dv, e[2]) || !elt(mlirOperationGetResult(op, 0), e[5]) ||
      !elt(mlirOperationGetResult(op, 1), e[6]))
    return false;
  strcpy(e[3], "f32");
  strcpy(e[4], "f32");
  eps(op, es);
  int64_t sizes[7] = {n, h, n, rows, chunks * h, n, h};
  gtFuncOpen(g, name, 7, sizes, e);

  /* 1: per row: r, dot = sum(dy w x), dx = r w dy - r^3 x dot / H */
  RowVec rv;
  char ev[4][8];
  memcpy(ev, e, 3 * sizeof ev[0]);
  memcpy(ev[3], e[5], sizeof ev[3]);
  bool vec = rowVec(h, widestOf(ev, 4), NT, &rv);
  gtLaunchOpen(g, rows, 1, vec ? rv.threads : NT, kRed);
  GV tx = {"%tx"};
  bool dw = !cubeHasAttr(op, CUBE_ATTR_DWEIGHT_UNUSED);
  RmsGrad rg = {n, h, rows, gtMulC(g, (GV){"%bx"}, h), e, es, dw, "%a5", NULL, NULL, NULL};
  if (vec)
    rmsGradRowsVec(g, &rg, &rv);
  else
    rmsGradRowsScalar(g, &rg);
  launchClose(g);
  if (!dw) return true; /* nothing reads dw (a frozen norm weight): its two launches are left out */

  /* 2: partial[chunk, j] = sum over the chunk's rows of dy x r */
  gtLaunchOpen(g, (h + NT - 1) / NT, chunks, NT, kRed);
  GV j = gtAdd(g, gtMulC(g, (GV){"%bx"}, NT), tx);
  GV ok = gtVal(g, "arith.cmpi ult, %s, %s : index", j.s, gtIdx(g, h).s);
  gtLine(g, "scf.if %s {", ok.s);
  GV r0 = gtMulC(g, (GV){"%by"}, per), r1 = gtMin(g, gtAddC(g, r0, per), gtIdx(g, rows));
  GV init = gtF32(g, "0.0");
  GV res = gtForOpen(g, "%rw", r0, r1, "dw", 0, &init, 1);
  GV cur;
  gtIterVals("dw", 0, &cur, 1);
  GV at2 = gtAdd(g, gtMulC(g, (GV){"%rw"}, h), j);
  GV x2 = gtLoadF32(g, "%a0", n, e[0], at2), d2 = gtLoadF32(g, "%a2", n, e[2], at2);
  GV rr = gtVal(g, "memref.load %%a3[%%rw] : memref<%" PRId64 "xf32>", rows);
  GV nx = gtVal(g, "arith.addf %s, %s : f32", cur.s, gtMulF(g, gtMulF(g, d2, x2), rr).s);
  gtYield(g, &nx, 1);
  gtLine(g, "}");
  GV part;
  gtResults(res, &part, 1);
  gtLine(g, "memref.store %s, %%a4[%s] : memref<%" PRId64 "xf32>", part.s, gtAdd(g, gtMulC(g, (GV){"%by"}, h), j).s,
         chunks * h);
  gtLine(g, "}");
  launchClose(g);

  /* 3: dw[j] = sum over chunks */
  gtLaunchOpen(g, (h + NT - 1) / NT, 1, NT, kRed);
  GV j3 = gtAdd(g, gtMulC(g, (GV){"%bx"}, NT), tx);
  GV ok3 = gtVal(g, "arith.cmpi ult, %s, %s : index", j3.s, gtIdx(g, h).s);
  gtLine(g, "scf.if %s {", ok3.s);
  GV init3 = gtF32(g, "0.0");
  GV res3 = gtForOpen(g, "%cw", gtIdx(g, 0), gtIdx(g, chunks), "cs", 0, &init3, 1);
  GV cur3;
  gtIterVals("cs", 0, &cur3, 1);
  GV p = gtVal(g, "memref.load %%a4[%s] : memref<%" PRId64 "xf32>", gtAdd(g, gtMulC(g, (GV){"%cw"}, h), j3).s,
               chunks * h);
  GV nx3 = gtVal(g, "arith.addf %s, %s : f32", cur3.s, p.s);
  gtYield(g, &nx3, 1);
  gtLine(g, "}");
  GV tot;
  gtResults(res3, &tot, 1);
  gtStoreF32(g, tot, "%a6", h, e[6], j3);
  gtLine(g, "}");
  launchClose(g);
  return true;
}

/* ---- cross_entropy and its gradient ------------------------------------------------------------------- */

typedef struct {
  const char *elt;
  int64_t n;
  GV base, m; /* m: the row max, for the sum of exp */
} LseArg;

static GV loadX(GT *g, GV k, const void *c) {
  const LseArg *a = c;
  return gtLoadF32(g, "%a0", a->n, a->elt, gtAdd(g, a->base, k));
}

static GV expShift(GT *g, GV k, const void *c) {
  const LseArg *a = c;
  return gtExp(g, gtSubF(g, gtLoadF32(g, "%a0", a->n, a->elt, gtAdd(g, a->base, k)), a->m));
}

/* The row's max and sum of exp(x - max) (two passes over the row). */
static void rowLse(GT *g, LseArg *a, GV V, GV *m, GV *l) {
  *m = rowReduce(g, V, (GV){"%tx"}, NT, true, loadX, a);
  a->m = *m;
  *l = rowReduce(g, V, (GV){"%tx"}, NT, false, expShift, a);
}

typedef struct {
  char elt[8];
  int64_t ignore;
  const char *arg; /* the labels' kernel argument (%a1; the norm labels' for the count) */
} Labels;

/* (label != ignore, label clamped to [0, V) as an index) of label element `at`. */
static void label(GT *g, const Labels *lb, int64_t n, GV at, int64_t v, GV *valid, GV *col) {
  GV y = gtVal(g, "memref.load %s[%s] : memref<%" PRId64 "x%s>", lb->arg, at.s, n, lb->elt);
  GV ig = gtVal(g, "arith.constant %" PRId64 " : %s", lb->ignore, lb->elt);
  *valid = gtVal(g, "arith.cmpi ne, %s, %s : %s", y.s, ig.s, lb->elt);
  GV z = gtVal(g, "arith.constant 0 : %s", lb->elt), hi = gtVal(g, "arith.constant %" PRId64 " : %s", v - 1, lb->elt);
  GV c = gtVal(g, "arith.minsi %s, %s : %s", gtVal(g, "arith.maxsi %s, %s : %s", y.s, z.s, lb->elt).s, hi.s, lb->elt);
  *col = gtVal(g, "arith.index_cast %s : %s to index", c.s, lb->elt);
}

typedef struct {
  const Labels *lb;
  int64_t n, v;
} CountArg;

static GV countValid(GT *g, GV k, const void *c) {
  const CountArg *a = c;
  GV valid, col;
  label(g, a->lb, a->n, k, a->v, &valid, &col);
  return gtVal(g, "arith.select %s, %s, %s : f32", valid.s, gtF32(g, "1.0").s, gtF32(g, "0.0").s);
}


static bool ceShape(MlirOperation op, int64_t *v, int64_t *n, Labels *lb, char *xe) {
  MlirValue lv = mlirOperationGetOperand(op, 0), yv = mlirOperationGetOperand(op, 1);
  *v = lastDim(lv);
  *n = kgNumElements(mlirValueGetType(yv));
  lb->ignore = -100;
  lb->arg = "%a1";
  cubeGetI64Attr(op, "ignore_index", &lb->ignore);
  return *v > 0 && *n > 0 && elt(lv, xe) && elt(yv, lb->elt) && (!strcmp(lb->elt, "i64") || !strcmp(lb->elt, "i32"));
}

/* The norm labels (operand `i`, when present) as a Labels of kernel argument %a<i>, and their count. */
static bool normLabels(MlirOperation op, intptr_t i, const Labels *lb, Labels *nl, int64_t *nn, char *arg) {
  *nl = *lb;
  if (mlirOperationGetNumOperands(op) <= i) return true;
  MlirValue v = mlirOperationGetOperand(op, i);
  *nn = kgNumElements(mlirValueGetType(v));
  snprintf(arg, 8, "%%a%d", (int)i);
  nl->arg = arg;
  return *nn > 0 && elt(v, nl->elt) && (!strcmp(nl->elt, "i64") || !strcmp(nl->elt, "i32"));
}

/* %a0 logits, %a1 labels, [%a2 norm labels,] then row loss [N], row valid [N], loss [1] */
static bool genCrossEntropy(GT *g, MlirOperation op, const char *name) {
  int64_t v, n, nn = 0;
  Labels lb, nl;
  char e[6][8], narg[8];
  int k = (int)mlirOperationGetNumOperands(op) - 2; /* 1 with norm labels */
  if (!ceShape(op, &v, &n, &lb, e[0]) || !elt(mlirOperationGetResult(op, 0), e[4 + k]) ||
      !normLabels(op, 2, &lb, &nl, &nn, narg))
    return false;
  strcpy(e[1], lb.elt);
  if (k) strcpy(e[2], nl.elt);
  strcpy(e[2 + k], "f32");
  strcpy(e[3 + k], "f32");
  int64_t sizes[6] = {n * v, n, k ? nn : n, n, n, 1};
  if (!k) sizes[2] = n, sizes[3] = n, sizes[4] = 1;
  char rl[16], rvd[16], lo[16];
  snprintf(rl, sizeof rl, "%%a%d", 2 + k);
  snprintf(rvd, sizeof rvd, "%%a%d", 3 + k);
  snprintf(lo, sizeof lo, "%%a%d", 4 + k);
  gtFuncOpen(g, name, 5 + k, sizes, e);
  RowVec rv;
  bool vec = rowVec(v, gtEltBytes(e[0]), NT_ONE, &rv);
  gtLaunchOpen(g, n, 1, vec ? rv.threads : NT, kRed);
  LseArg a = {e[0], n * v, gtMulC(g, (GV){"%bx"}, v), {{0}}};
  GV m, l;
  if (vec) { /* the row read once, into registers */
    RowRegs r;
    rowRegsExp(g, &rv, n * v, e[0], a.base, (GV){{0}}, gtIdx(g, v), &r);
    m = r.m;
    l = r.l;
  } else {
    rowLse(g, &a, gtIdx(g, v), &m, &l);
  }
  ifThread0(g);
  GV valid, col;
  label(g, &lb, n, (GV){"%bx"}, v, &valid, &col);
  GV xl = gtLoadF32(g, "%a0", n * v, e[0], gtAdd(g, a.base, col));
  GV loss = gtSubF(g, gtVal(g, "arith.addf %s, %s : f32", gtVal(g, "math.log %s : f32", l.s).s, m.s), xl);
  GV zero = gtF32(g, "0.0"), one = gtF32(g, "1.0");
  gtLine(g, "memref.store %s, %s[%%bx] : memref<%" PRId64 "xf32>", sel(g, valid, loss, zero).s, rl, n);
  gtLine(g, "memref.store %s, %s[%%bx] : memref<%" PRId64 "xf32>", sel(g, valid, one, zero).s, rvd, n);
  gtLine(g, "}");
  launchClose(g);

  /* 2: loss = sum of row losses / count (of the rows' valid labels, or of the norm labels), one block */
  gtLaunchOpen(g, 1, 1, NT_ONE, kRed);
  GV tx = {"%tx"}, N = gtIdx(g, n), z0 = gtIdx(g, 0);
  RowArg s1 = {rl, "f32", n, z0}, s2 = {rvd, "f32", n, z0};
  CountArg ca = {&nl, nn, v};
  GV sum = rowReduce(g, N, tx, NT_ONE, false, loadAt, &s1);
  GV cnt = k ? rowReduce(g, gtIdx(g, nn), tx, NT_ONE, false, countValid, &ca)
             : rowReduce(g, N, tx, NT_ONE, false, loadAt, &s2);
  ifThread0(g);
  gtStoreF32(g, gtVal(g, "arith.divf %s, %s : f32", sum.s, cnt.s), lo, 1, e[4 + k], z0);
  gtLine(g, "}");
  launchClose(g);
  return true;
}

/* %a0 logits, %a1 labels, %a2 dloss [1], [%a3 norm labels,] then count [1], dlogits */
static bool genCrossEntropyGrad(GT *g, MlirOperation op, const char *name) {
  int64_t v, n, nn = 0;
  Labels lb, nl;
  char e[6][8], narg[8];
  int hn = (int)mlirOperationGetNumOperands(op) - 3; /* 1 with norm labels */
  if (!ceShape(op, &v, &n, &lb, e[0]) || !elt(mlirOperationGetOperand(op, 2), e[2]) ||
      !elt(mlirOperationGetResult(op, 0), e[4 + hn]) || !normLabels(op, 3, &lb, &nl, &nn, narg))
    return false;
  strcpy(e[1], lb.elt);
  if (hn) strcpy(e[3], nl.elt);
  strcpy(e[3 + hn], "f32");
  int64_t sizes[6] = {n * v, n, 1, nn, 1, n * v};
  if (!hn) sizes[3] = 1, sizes[4] = n * v;
  char ca3[16], out4[16];
  snprintf(ca3, sizeof ca3, "%%a%d", 3 + hn);
  snprintf(out4, sizeof out4, "%%a%d", 4 + hn);
  gtFuncOpen(g, name, 5 + hn, sizes, e);

  /* 1: count of labels (or norm labels) != ignore_index */
  gtLaunchOpen(g, 1, 1, NT_ONE, kRed);
  GV tx = {"%tx"}, z0 = gtIdx(g, 0);
  CountArg ca = {hn ? &nl : &lb, hn ? nn : n, v};
  GV cnt = rowReduce(g, gtIdx(g, hn ? nn : n), tx, NT_ONE, false, countValid, &ca);
  ifThread0(g);
  gtLine(g, "memref.store %s, %s[%s] : memref<1xf32>", cnt.s, ca3, z0.s);
  gtLine(g, "}");
  launchClose(g);

  /* 2: per row: (softmax - onehot) * dloss / count, zero for ignored rows */
  RowVec rv;
  int widest = gtEltBytes(e[0]) > gtEltBytes(e[4 + hn]) ? gtEltBytes(e[0]) : gtEltBytes(e[4 + hn]);
  bool vec = rowVec(v, widest, NT_ONE, &rv);
  gtLaunchOpen(g, n, 1, vec ? rv.threads : NT, kRed);
  GV z = gtIdx(g, 0);
  LseArg a = {e[0], n * v, gtMulC(g, (GV){"%bx"}, v), {{0}}};
  GV m, l;
  RowRegs r;
  if (vec) { /* the row read once, into registers: one read and one write instead of three reads */
    rowRegsExp(g, &rv, n * v, e[0], a.base, (GV){{0}}, gtIdx(g, v), &r);
    m = r.m;
    l = r.l;
  } else {
    rowLse(g, &a, gtIdx(g, v), &m, &l);
  }
  GV valid, col;
  label(g, &lb, n, (GV){"%bx"}, v, &valid, &col);
  GV dl = gtLoadF32(g, "%a2", 1, e[2], z);
  GV c = gtVal(g, "memref.load %s[%s] : memref<1xf32>", ca3, z.s);
  GV scale = gtVal(g, "arith.divf %s, %s : f32", dl.s, c.s);
  GV zero = gtF32(g, "0.0"), one = gtF32(g, "1.0");
  if (vec) {
    GV inv = gtVal(g, "arith.divf %s, %s : f32", one.s, l.s);
    for (int64_t cc = 0; cc < rv.per; ++cc) {
      GV o[8];
      for (int64_t k = 0; k < rv.vec; ++k) {
        GV hit = gtVal(g, "arith.cmpi eq, %s, %s : index", col.s, gtAddC(g, r.col0[cc], k).s);
        GV d = gtSubF(g, gtMulF(g, r.x[cc * rv.vec + k], inv), sel(g, hit, one, zero));
        o[k] = sel(g, valid, gtMulF(g, d, scale), zero);
      }
      vecStoreIf(g, r.valid[cc], o, out4, n * v, e[4 + hn], r.at[cc], rv.vec);
    }
    launchClose(g);
    return true;
  }
  GV k = forEach(g, gtIdx(g, v), (GV){"%tx"}, NT);
  GV at = gtAdd(g, a.base, k);
  GV x = gtLoadF32(g, "%a0", n * v, e[0], at);
  GV p = gtVal(g, "arith.divf %s, %s : f32", gtExp(g, gtSubF(g, x, m)).s, l.s);
  GV hit = gtVal(g, "arith.cmpi eq, %s, %s : index", col.s, k.s);
  GV d = gtSubF(g, p, sel(g, hit, one, zero));
  gtStoreF32(g, sel(g, valid, gtMulF(g, d, scale), zero), out4, n * v, e[4 + hn], at);
  gtLine(g, "}");
  launchClose(g);
  return true;
}

/* ---- sumsq -------------------------------------------------------------------------------------------- */

/* Above SUMSQ_SPLIT elements (the embedding and lm_head tables of a full fine-tune) the sum is two launches:
 * SUMSQ_BLOCKS blocks over contiguous chunks into scratch partials, then one block over the partials (still
 * deterministic); below, one block. */
static bool sumsqSplit(int64_t n) { return n > SUMSQ_SPLIT; }

static bool genSumsq(GT *g, MlirOperation op, const char *name) {
  MlirValue xv = mlirOperationGetOperand(op, 0);
  int64_t n = kgNumElements(mlirValueGetType(xv));
  char e[3][8];
  if (n <= 0 || !elt(xv, e[0]) || !elt(mlirOperationGetResult(op, 0), e[1])) return false;
  if (!sumsqSplit(n)) {
    int64_t sizes[2] = {n, 1};
    gtFuncOpen(g, name, 2, sizes, e);
    gtLaunchOpen(g, 1, 1, NT_ONE, kRed);
    GV z0 = gtIdx(g, 0);
    RowArg ra = {"%a0", e[0], n, z0};
    GV s = rowReduce(g, gtIdx(g, n), (GV){"%tx"}, NT_ONE, false, sq, &ra);
    ifThread0(g);
    gtStoreF32(g, s, "%a1", 1, e[1], z0);
    gtLine(g, "}");
    launchClose(g);
    return true;
  }
  /* %a0 x, %a1 partials [SUMSQ_BLOCKS], %a2 out */
  strcpy(e[2], e[1]);
  strcpy(e[1], "f32");
  int64_t chunk = (n + SUMSQ_BLOCKS - 1) / SUMSQ_BLOCKS;
  int64_t sizes[3] = {n, SUMSQ_BLOCKS, 1};
  gtFuncOpen(g, name, 3, sizes, e);
  gtLaunchOpen(g, SUMSQ_BLOCKS, 1, NT_ONE, kRed);
  GV base = gtMulC(g, (GV){"%bx"}, chunk);
  GV len = gtMin(g, gtIdx(g, chunk), gtVal(g, "arith.subi %s, %s : index", gtIdx(g, n).s, gtMin(g, base, gtIdx(g, n)).s));
  RowArg ra = {"%a0", e[0], n, base};
  GV s = rowReduce(g, len, (GV){"%tx"}, NT_ONE, false, sq, &ra);
  ifThread0(g);
  gtLine(g, "memref.store %s, %%a1[%%bx] : memref<%dxf32>", s.s, SUMSQ_BLOCKS);
  gtLine(g, "}");
  launchClose(g);
  gtLaunchOpen(g, 1, 1, NT_ONE, kRed);
  GV z0 = gtIdx(g, 0);
  RowArg rp = {"%a1", "f32", SUMSQ_BLOCKS, z0};
  GV t = rowReduce(g, gtIdx(g, SUMSQ_BLOCKS), (GV){"%tx"}, NT_ONE, false, loadAt, &rp);
  ifThread0(g);
  gtStoreF32(g, t, "%a2", 1, e[2], z0);
  gtLine(g, "}");
  launchClose(g);
  return true;
}

/* ---- softmax (scale, causal_period) and softmax_grad along the last dim -------------------------------- */

typedef struct {
  int64_t n;
  const char *elt;
  GV base, scale, m;
} SmArg;

static GV smScaled(GT *g, GV k, const void *c) {
  const SmArg *a = c;
  GV x = gtLoadF32(g, "%a0", a->n, a->elt, gtAdd(g, a->base, k));
  return a->scale.s[0] ? gtMulF(g, x, a->scale) : x;
}

static GV smExp(GT *g, GV k, const void *c) {
  const SmArg *a = c;
  return gtExp(g, gtSubF(g, smScaled(g, k, c), a->m));
}

static bool lastDimRows(MlirOperation op, int64_t *rows, int64_t *cols) {
  MlirValue x = mlirOperationGetOperand(op, 0);
  MlirType t = mlirValueGetType(x);
  int64_t r = kgRank(t), dim = -1;
  if (r < 1 || !cubeGetI64Attr(op, "dim", &dim)) return false;
  if (dim < 0) dim += r;
  *cols = kgDim(t, r - 1);
  *rows = *cols > 0 ? kgNumElements(t) / *cols : 0;
  return dim == r - 1 && *cols > 0 && *rows > 0;
}

/* softmax with the row in registers: one read of the unmasked vectors, one write of the row (0 where
 * masked). */
static void softmaxVec(GT *g, const RowVec *rv, int64_t n, int64_t cols, const char (*e)[8], GV scale, GV lim) {
  RowRegs r;
  rowRegsExp(g, rv, n, e[0], gtMulC(g, (GV){"%bx"}, cols), scale, lim, &r);
  GV inv = gtVal(g, "arith.divf %s, %s : f32", gtF32(g, "1.0").s, r.l.s);
  for (int64_t c = 0; c < rv->per; ++c) {
    GV y[8];
    for (int64_t k = 0; k < rv->vec; ++k) y[k] = gtMulF(g, r.x[c * rv->vec + k], inv);
    vecStoreIf(g, r.valid[c], y, "%a1", n, e[1], r.at[c], rv->vec);
  }
}

static bool genSoftmax(GT *g, MlirOperation op, const char *name) {
  int64_t rows, cols, period = 0;
  char e[2][8];
  if (!lastDimRows(op, &rows, &cols) || !elt(mlirOperationGetOperand(op, 0), e[0]) ||
      !elt(mlirOperationGetResult(op, 0), e[1]))
    return false;
  double scale = 1.0;
  bool hasScale = cubeGetF64Attr(op, "scale", &scale);
  cubeGetI64Attr(op, "causal_period", &period);
  int64_t n = rows * cols;
  int64_t sizes[2] = {n, n};
  gtFuncOpen(g, name, 2, sizes, e);
  RowVec rv;
  bool vec = rowVec(cols, widestOf(e, 2), NT, &rv);
  gtLaunchOpen(g, rows, 1, vec ? rv.threads : NT, kRed);
  GV tx = {"%tx"};
  SmArg a = {n, e[0], gtMulC(g, (GV){"%bx"}, cols), {{0}}, {{0}}};
  if (hasScale) {
    char st[40];
    snprintf(st, sizeof st, "%.9e", (double)(float)scale);
    a.scale = gtF32(g, st);
  }
  if (vec) {
    GV lim = period > 0 ? gtMin(g, gtAddC(g, gtRemC(g, (GV){"%bx"}, period), 1), gtIdx(g, cols)) : gtIdx(g, cols);
    softmaxVec(g, &rv, n, cols, e, a.scale, lim);
    launchClose(g);
    return true;
  }
  /* the row's unmasked columns: j <= r mod period (causal), else all */
  GV lim = period > 0 ? gtMin(g, gtAddC(g, gtRemC(g, (GV){"%bx"}, period), 1), gtIdx(g, cols)) : gtIdx(g, cols);
  if (cols <= REG_COLS * NT) {
    /* the row in registers: one read, one write (thread tx holds columns tx + c * NT) */
    int64_t per = (cols + NT - 1) / NT;
    GV x[REG_COLS], ok[REG_COLS], col[REG_COLS];
    GV ninf = gtF32(g, "0xFF800000"), zero = gtF32(g, "0.0");
    GV m = ninf;
    for (int64_t c = 0; c < per; ++c) {
      col[c] = gtAddC(g, tx, c * NT);
      ok[c] = gtVal(g, "arith.cmpi ult, %s, %s : index", col[c].s, lim.s);
      GV at = gtAdd(g, a.base, gtMin(g, col[c], gtIdx(g, cols - 1)));
      GV v = gtLoadF32(g, "%a0", n, e[0], at);
      if (hasScale) v = gtMulF(g, v, a.scale);
      x[c] = sel(g, ok[c], v, ninf);
      m = gtCombine(g, m, x[c], true);
    }
    m = gtBlockReduce(g, m, true, "%red", NT, tx);
    GV l = zero;
    for (int64_t c = 0; c < per; ++c) {
      x[c] = sel(g, ok[c], gtExp(g, gtSubF(g, x[c], m)), zero);
      l = gtCombine(g, l, x[c], false);
    }
    l = gtBlockReduce(g, l, false, "%red", NT, tx);
    GV inv = gtVal(g, "arith.divf %s, %s : f32", gtF32(g, "1.0").s, l.s);
    for (int64_t c = 0; c < per; ++c) {
      GV in = gtVal(g, "arith.cmpi ult, %s, %s : index", col[c].s, gtIdx(g, cols).s);
      gtLine(g, "scf.if %s {", in.s);
      gtStoreF32(g, gtMulF(g, x[c], inv), "%a1", n, e[1], gtAdd(g, a.base, col[c]));
      gtLine(g, "}");
    }
    launchClose(g);
    return true;
  }
  a.m = rowReduce(g, lim, tx, NT, true, smScaled, &a);
  GV l = rowReduce(g, lim, tx, NT, false, smExp, &a);
  GV k = forEach(g, gtIdx(g, cols), tx, NT);
  GV at = gtAdd(g, a.base, k);
  GV p = gtVal(g, "arith.divf %s, %s : f32", smExp(g, k, &a).s, l.s);
  GV keep = gtVal(g, "arith.cmpi ult, %s, %s : index", k.s, lim.s);
  gtStoreF32(g, sel(g, keep, p, gtF32(g, "0.0")), "%a1", n, e[1], at);
  gtLine(g, "}");
  launchClose(g);
  return true;
}

typedef struct {
  int64_t n;
  const char *ey, *ed;
  GV base;
} SgArg;

static GV ydy(GT *g, GV k, const void *c) {
  const SgArg *a = c;
  GV at = gtAdd(g, a->base, k);
  return gtMulF(g, gtLoadF32(g, "%a1", a->n, a->ed, at), gtLoadF32(g, "%a0", a->n, a->ey, at));
}

static bool genSoftmaxGrad(GT *g, MlirOperation op, const char *name) {
  int64_t rows, cols;
  char e[3][8];
  if (!lastDimRows(op, &rows, &cols) || !elt(mlirOperationGetOperand(op, 0), e[0]) ||
      !elt(mlirOperationGetOperand(op, 1), e[1]) || !elt(mlirOperationGetResult(op, 0), e[2]))
    return false;
  int64_t n = rows * cols;
  int64_t sizes[3] = {n, n, n};
  gtFuncOpen(g, name, 3, sizes, e);
  RowVec rv;
  bool vec = rowVec(cols, widestOf(e, 3), NT, &rv);
  gtLaunchOpen(g, rows, 1, vec ? rv.threads : NT, kRed);
  GV tx = {"%tx"};
  SgArg a = {n, e[0], e[1], gtMulC(g, (GV){"%bx"}, cols)};
  if (vec) {
    /* y and dy as 16-byte vectors in registers: dot = sum(y dy), out = y (dy - dot) */
    enum { MAXE = VEC_MAX_PER * 8 };
    GV y[MAXE], dy[MAXE], valid[VEC_MAX_PER], at[VEC_MAX_PER], dot = gtF32(g, "0.0");
    for (int64_t c = 0; c < rv.per; ++c) {
      GV col0;
      rowVecAt(g, &rv, a.base, c, &valid[c], &col0, &at[c]);
      GV vy = vecLoadIf(g, valid[c], "%a0", n, e[0], at[c], rv.vec);
      GV vd = vecLoadIf(g, valid[c], "%a1", n, e[1], at[c], rv.vec);
      for (int64_t k = 0; k < rv.vec; ++k) {
        y[c * rv.vec + k] = gtVecElemF32(g, vy, k, e[0], rv.vec);
        dy[c * rv.vec + k] = gtVecElemF32(g, vd, k, e[1], rv.vec);
        dot = gtFma(g, y[c * rv.vec + k], dy[c * rv.vec + k], dot);
      }
    }
    dot = gtBlockReduce(g, dot, false, "%red", rv.threads, tx);
    for (int64_t c = 0; c < rv.per; ++c) {
      GV o[8];
      for (int64_t k = 0; k < rv.vec; ++k) o[k] = gtMulF(g, y[c * rv.vec + k], gtSubF(g, dy[c * rv.vec + k], dot));
      vecStoreIf(g, valid[c], o, "%a2", n, e[2], at[c], rv.vec);
    }
    launchClose(g);
    return true;
  }
  if (cols <= REG_COLS * NT) {
    int64_t per = (cols + NT - 1) / NT;
    GV y[REG_COLS], dy[REG_COLS], col[REG_COLS], dot = gtF32(g, "0.0");
    for (int64_t c = 0; c < per; ++c) {
      col[c] = gtAddC(g, tx, c * NT);
      GV at = gtAdd(g, a.base, gtMin(g, col[c], gtIdx(g, cols - 1)));
      GV in = gtVal(g, "arith.cmpi ult, %s, %s : index", col[c].s, gtIdx(g, cols).s);
      y[c] = gtLoadF32(g, "%a0", n, e[0], at);
      dy[c] = gtLoadF32(g, "%a1", n, e[1], at);
      dot = gtCombine(g, dot, sel(g, in, gtMulF(g, dy[c], y[c]), gtF32(g, "0.0")), false);
    }
    dot = gtBlockReduce(g, dot, false, "%red", NT, tx);
    for (int64_t c = 0; c < per; ++c) {
      GV in = gtVal(g, "arith.cmpi ult, %s, %s : index", col[c].s, gtIdx(g, cols).s);
      gtLine(g, "scf.if %s {", in.s);
      gtStoreF32(g, gtMulF(g, y[c], gtSubF(g, dy[c], dot)), "%a2", n, e[2], gtAdd(g, a.base, col[c]));
      gtLine(g, "}");
    }
    launchClose(g);
    return true;
  }
  GV dot = rowReduce(g, gtIdx(g, cols), tx, NT, false, ydy, &a);
  GV k = forEach(g, gtIdx(g, cols), tx, NT);
  GV at = gtAdd(g, a.base, k);
  GV y = gtLoadF32(g, "%a0", n, e[0], at), dy = gtLoadF32(g, "%a1", n, e[1], at);
  gtStoreF32(g, gtMulF(g, y, gtSubF(g, dy, dot)), "%a2", n, e[2], at);
  gtLine(g, "}");
  launchClose(g);
  return true;
}

/* ---- embedding_grad ----------------------------------------------------------------------------------- */
/* out[v, :] = sum over tokens s with ids[s] == v of dout[s, :]: one block per EMB_ROWS table rows, its
 * threads over the columns, every block scanning all ids in order (deterministic, no atomics; ids outside
 * [0, V) match no row); a hit adds dout[s, :] to the matching row's accumulators (selects, no dynamic
 * register indexing). f32 accumulation, the result rounded once (bf16/f16 tables allowed). EMB_ROWS rows per
 * block divide the scans of the ids by EMB_ROWS (one row per block scanned 8192 ids 32256 times: 44 ms). */
static bool genEmbeddingGrad(GT *g, MlirOperation op, const char *name) {
  MlirValue idv = mlirOperationGetOperand(op, 0), dv = mlirOperationGetOperand(op, 1);
  MlirType ot = mlirValueGetType(mlirOperationGetResult(op, 0));
  if (kgRank(ot) != 2) return false;
  int64_t v = kgDim(ot, 0), h = kgDim(ot, 1), ns = kgNumElements(mlirValueGetType(idv));
  char e[3][8];
  if (v <= 0 || h <= 0 || ns <= 0 || !elt(idv, e[0]) || !elt(dv, e[1]) || !elt(mlirOperationGetResult(op, 0), e[2]) ||
      (strcmp(e[0], "i64") && strcmp(e[0], "i32")) || kgNumElements(mlirValueGetType(dv)) != ns * h)
    return false;
  int64_t per = (h + NT - 1) / NT;
  if (per > 4) return false;
  int rows = EMB_ROWS, nacc = (int)(rows * per);
  int64_t sizes[3] = {ns, ns * h, v * h};
  gtFuncOpen(g, name, 3, sizes, e);
  gtLaunchOpen(g, (v + rows - 1) / rows, 1, NT, kRed);
  GV tx = {"%tx"};
  GV first = gtVal(g, "arith.index_cast %s : index to %s", gtMulC(g, (GV){"%bx"}, rows).s, e[0]);
  GV nrows = gtVal(g, "arith.constant %d : %s", rows, e[0]);
  GV init[EMB_ROWS * 4], col[4];
  GV zero = gtF32(g, "0.0");
  for (int k = 0; k < nacc; ++k) init[k] = zero;
  for (int64_t c = 0; c < per; ++c) col[c] = gtMin(g, gtAddC(g, tx, c * NT), gtIdx(g, h - 1));
  GV res = gtForOpen(g, "%se", gtIdx(g, 0), gtIdx(g, ns), "eg", 0, init, nacc);
  GV cur[EMB_ROWS * 4], next[EMB_ROWS * 4];
  gtIterVals("eg", 0, cur, nacc);
  GV id = gtVal(g, "memref.load %%a0[%%se] : memref<%" PRId64 "x%s>", ns, e[0]);
  GV rel = gtVal(g, "arith.subi %s, %s : %s", id.s, first.s, e[0]);
  GV hit = gtVal(g, "arith.cmpi ult, %s, %s : %s", rel.s, nrows.s, e[0]);
  CubeBuf types = {0};
  for (int k = 0; k < nacc; ++k) cubeBufAppend(&types, k ? ", f32" : "f32");
  GV ifr = {{0}};
  snprintf(ifr.s, sizeof ifr.s, "%%if%d", g->n++);
  gtLine(g, "%s:%d = scf.if %s -> (%s) {", ifr.s, nacc, hit.s, cubeBufStr(&types));
  cubeBufFree(&types);
  GV base = gtMulC(g, (GV){"%se"}, h);
  GV d[4];
  for (int64_t c = 0; c < per; ++c) d[c] = gtLoadF32(g, "%a1", ns * h, e[1], gtAdd(g, base, col[c]));
  for (int r = 0; r < rows; ++r) {
    GV is = gtVal(g, "arith.cmpi eq, %s, %s : %s", rel.s, gtVal(g, "arith.constant %d : %s", r, e[0]).s, e[0]);
    for (int64_t c = 0; c < per; ++c) {
      int k = (int)(r * per + c);
      GV add = gtVal(g, "arith.addf %s, %s : f32", cur[k].s, d[c].s);
      next[k] = gtVal(g, "arith.select %s, %s, %s : f32", is.s, add.s, cur[k].s);
    }
  }
  gtYield(g, next, nacc);
  gtLine(g, "} else {");
  gtYield(g, cur, nacc);
  gtLine(g, "}");
  GV out[EMB_ROWS * 4];
  gtResults(ifr, out, nacc);
  gtYield(g, out, nacc);
  gtLine(g, "}");
  GV acc[EMB_ROWS * 4];
  gtResults(res, acc, nacc);
  for (int r = 0; r < rows; ++r) {
    GV row = gtAddC(g, gtMulC(g, (GV){"%bx"}, rows), r);
    GV rowOk = gtVal(g, "arith.cmpi ult, %s, %s : index", row.s, gtIdx(g, v).s);
    GV rb = gtMulC(g, row, h);
    for (int64_t c = 0; c < per; ++c) {
      GV cc = gtAddC(g, tx, c * NT);
      GV in = gtVal(g, "arith.andi %s, %s : i1", rowOk.s,
                    gtVal(g, "arith.cmpi ult, %s, %s : index", cc.s, gtIdx(g, h).s).s);
      gtLine(g, "scf.if %s {", in.s);
      gtStoreF32(g, acc[r * per + c], "%a2", v * h, e[2], gtAdd(g, rb, cc));
      gtLine(g, "}");
    }
  }
  launchClose(g);
  return true;
}

/* ---- entry points ------------------------------------------------------------------------------------- */

typedef bool (*GenFn)(GT *g, MlirOperation op, const char *name);

static GenFn genFor(MlirOperation op) {
  if (cubeIsOp(op, "rmsnorm")) return genRmsnorm;
  if (cubeIsOp(op, "rmsnorm_grad")) return genRmsnormGrad;
  if (cubeIsOp(op, "cross_entropy")) return genCrossEntropy;
  if (cubeIsOp(op, "cross_entropy_grad")) return genCrossEntropyGrad;
  if (cubeIsOp(op, "sumsq")) return genSumsq;
  if (cubeIsOp(op, "softmax")) return genSoftmax;
  if (cubeIsOp(op, "softmax_grad")) return genSoftmaxGrad;
  if (cubeIsOp(op, "embedding_grad")) return genEmbeddingGrad;
  return NULL;
}

/* ---- row patterns: a residual add into an rmsnorm, an rmsnorm_grad into an add ---------------------- */

/* add + rmsnorm: %a0 x, %a1 h, %a2 w, [%a3 s = x + h,] then y = rmsnorm(s) * w. s is rounded to its type before
 * the norm reads it, as the unfused add's store and the rmsnorm's load would: the result is the unfused one.
 * Register path only (the row a whole number of vectors). */
static bool genAddRmsnorm(GT *g, MlirOperation add, MlirOperation rms, bool storeSum, const char *name) {
  MlirValue xv = mlirOperationGetOperand(add, 0), hv = mlirOperationGetOperand(add, 1), wv = mlirOperationGetOperand(rms, 1);
  int64_t h = lastDim(xv), n = kgNumElements(mlirValueGetType(xv));
  if (h <= 0 || n <= 0) return false;
  char e[5][8], es[40];
  if (!elt(xv, e[0]) || !elt(hv, e[1]) || !elt(wv, e[2]) || !elt(mlirOperationGetResult(add, 0), e[3]) ||
      !elt(mlirOperationGetResult(rms, 0), e[4]))
    return false;
  RowVec rv;
  if (!rowVec(h, widestOf(e, 5), NT, &rv)) return false;
  eps(rms, es);
  int64_t sizes[5] = {n, n, h, n, n};
  char ea[5][8];
  memcpy(ea, e, sizeof ea);
  if (!storeSum) memcpy(ea[3], e[4], sizeof ea[3]);
  gtFuncOpen(g, name, storeSum ? 5 : 4, sizes, ea);
  gtLaunchOpen(g, n / h, 1, rv.threads, kRed);
  GV tx = {"%tx"}, base = gtMulC(g, (GV){"%bx"}, h);
  GV xs[VEC_MAX_PER * 8], valid[VEC_MAX_PER], at[VEC_MAX_PER], col0[VEC_MAX_PER], sum = gtF32(g, "0.0");
  for (int64_t c = 0; c < rv.per; ++c) {
    rowVecAt(g, &rv, base, c, &valid[c], &col0[c], &at[c]);
    GV vx = vecLoadIf(g, valid[c], "%a0", n, e[0], at[c], rv.vec), vh = vecLoadIf(g, valid[c], "%a1", n, e[1], at[c], rv.vec);
    for (int64_t k = 0; k < rv.vec; ++k) {
      GV s = gtVal(g, "arith.addf %s, %s : f32", gtVecElemF32(g, vx, k, e[0], rv.vec).s,
                   gtVecElemF32(g, vh, k, e[1], rv.vec).s);
      GV x = xs[c * rv.vec + k] = roundTrip(g, s, e[3]);
      sum = gtVal(g, "arith.addf %s, %s : f32", sum.s, gtMulF(g, x, x).s);
    }
    if (storeSum) vecStoreIf(g, valid[c], &xs[c * rv.vec], "%a3", n, e[3], at[c], rv.vec);
  }
  GV r = rowRsqrt(g, gtBlockReduce(g, sum, false, "%red", rv.threads, tx), h, es);
  for (int64_t c = 0; c < rv.per; ++c) {
    GV wvec = vecLoadIf(g, valid[c], "%a2", h, e[2], col0[c], rv.vec), o[8];
    for (int64_t k = 0; k < rv.vec; ++k)
      o[k] = gtMulF(g, gtVecElemF32(g, wvec, k, e[2], rv.vec), roundTrip(g, gtMulF(g, xs[c * rv.vec + k], r), e[4]));
    vecStoreIf(g, valid[c], o, storeSum ? "%a4" : "%a3", n, e[4], at[c], rv.vec);
  }
  launchClose(g);
  return true;
}

/* rmsnorm_grad + add, dw unused: %a0 x, %a1 w, %a2 dy, %a3 the other addend, %a4 dx + addend (one launch). */
static bool genRmsGradAdd(GT *g, MlirOperation rg, MlirOperation add, const char *name) {
  MlirValue xv = mlirOperationGetOperand(rg, 0), wv = mlirOperationGetOperand(rg, 1), dv = mlirOperationGetOperand(rg, 2);
  MlirValue dx = mlirOperationGetResult(rg, 0);
  MlirValue other = mlirValueEqual(mlirOperationGetOperand(add, 0), dx) ? mlirOperationGetOperand(add, 1)
                                                                       : mlirOperationGetOperand(add, 0);
  int64_t h = lastDim(xv), n = kgNumElements(mlirValueGetType(xv));
  if (h <= 0 || n <= 0) return false;
  char e[7][8], ea[8], eo[8], es[40];
  if (!elt(xv, e[0]) || !elt(wv, e[1]) || !elt(dv, e[2]) || !elt(dx, e[5]) || !elt(other, ea) ||
      !elt(mlirOperationGetResult(add, 0), eo))
    return false;
  char ev[6][8];
  memcpy(ev, e, 3 * sizeof ev[0]);
  memcpy(ev[3], e[5], 8), memcpy(ev[4], ea, 8), memcpy(ev[5], eo, 8);
  RowVec rv;
  if (!rowVec(h, widestOf(ev, 6), NT, &rv)) return false;
  eps(rg, es);
  int64_t sizes[5] = {n, h, n, n, n};
  char fe[5][8];
  memcpy(fe, e, 3 * sizeof fe[0]);
  memcpy(fe[3], ea, 8), memcpy(fe[4], eo, 8);
  gtFuncOpen(g, name, 5, sizes, fe);
  gtLaunchOpen(g, n / h, 1, rv.threads, kRed);
  RmsGrad a = {n, h, n / h, gtMulC(g, (GV){"%bx"}, h), e, es, false, "%a4", "%a3", ea, eo};
  rmsGradRowsVec(g, &a, &rv);
  launchClose(g);
  return true;
}

/* The two cube ops of a row-pattern kernel function and whether it is one; *nOut its out arguments. */
static bool rowPatternOps(MlirOperation fn, MlirOperation *a, MlirOperation *b, intptr_t *nOut) {
  MlirStringRef k;
  MlirBlock entry;
  if (!cubeGetStrAttr(fn, CUBE_ATTR_KERNEL, &k) || (!cubeRefEq(k, CUBE_ROW_PATTERN_ADD_RMSNORM) &&
      !cubeRefEq(k, CUBE_ROW_PATTERN_RMSNORM_GRAD_ADD) && !cubeRefEq(k, CUBE_ROW_PATTERN_ATTENTION_DS) &&
      !cubeRefEq(k, CUBE_ROW_PATTERN_ATTENTION_PROBS)) ||
      !cubeFuncEntryBlock(fn, &entry))
    return false;
  *a = mlirBlockGetFirstOperation(entry);
  *b = mlirOperationIsNull(*a) ? *a : mlirOperationGetNextInBlock(*a);
  MlirAttribute ft = mlirOperationGetAttributeByName(fn, mlirStringRefCreateFromCString("function_type"));
  *nOut = mlirFunctionTypeGetNumResults(mlirTypeAttrGetValue(ft));
  return !mlirOperationIsNull(*b) && cubeIsCubeOp(*a) && cubeIsCubeOp(*b);
}

static bool bf16Shape(MlirValue v, int64_t d0, int64_t d1, int64_t d2) {
  MlirType t = mlirValueGetType(v);
  char e[8];
  return mlirTypeIsARankedTensor(t) && mlirShapedTypeGetRank(t) == 3 && mlirShapedTypeHasStaticShape(t) &&
         kgEltName(mlirShapedTypeGetElementType(t), e, sizeof e) && !strcmp(e, "bf16") &&
         mlirShapedTypeGetDimSize(t, 0) == d0 && mlirShapedTypeGetDimSize(t, 1) == d1 && mlirShapedTypeGetDimSize(t, 2) == d2;
}

/* dO [BH, R, 64], V [BH, S, 64], P and dS [BH, R, S], R a multiple of S (GQA's stacked heads), S of 64. */
static bool dsShape(MlirOperation a, MlirOperation b, int64_t *bh, int64_t *r, int64_t *s) {
  MlirType t = mlirValueGetType(mlirOperationGetOperand(a, 0)), v = mlirValueGetType(mlirOperationGetOperand(a, 1));
  if (!mlirTypeIsARankedTensor(t) || mlirShapedTypeGetRank(t) != 3 || !mlirShapedTypeHasStaticShape(t) ||
      !mlirTypeIsARankedTensor(v) || mlirShapedTypeGetRank(v) != 3 || !mlirShapedTypeHasStaticShape(v))
    return false;
  *bh = mlirShapedTypeGetDimSize(t, 0), *r = mlirShapedTypeGetDimSize(t, 1), *s = mlirShapedTypeGetDimSize(v, 1);
  return *s % 64 == 0 && *s > 0 && *bh > 0 && *r % *s == 0 && bf16Shape(mlirOperationGetOperand(a, 0), *bh, *r, 64) &&
         bf16Shape(mlirOperationGetOperand(a, 1), *bh, *s, 64) && bf16Shape(mlirOperationGetOperand(b, 0), *bh, *r, *s) &&
         bf16Shape(mlirOperationGetResult(b, 0), *bh, *r, *s);
}

bool cubeGpuAttentionDsApplies(MlirOperation a, MlirOperation b) {
  int64_t bh, r, s;
  return dsShape(a, b, &bh, &r, &s);
}

/* dS kernel: %a0 dO, %a1 V, %a2 P, %a3 O, %a4 dS. */
static bool genAttentionDs(GT *g, MlirOperation a, MlirOperation b, const char *name) {
  int64_t bh, r, s;
  if (!dsShape(a, b, &bh, &r, &s)) return false;
  int64_t nq = bh * r * 64, nv = bh * s * 64, np = bh * r * s;
  int64_t sizes[5] = {nq, nv, np, nq, np};
  char e[5][8] = {"bf16", "bf16", "bf16", "bf16", "bf16"};
  gtFuncOpen(g, name, 5, sizes, e);
  cubeGpuAttentionDsMma(g, bh, r, s);
  return true;
}

bool cubeGpuAttentionProbsApplies(MlirOperation a, MlirOperation b) {
  int64_t bh, r, s;
  /* q k^T has the shapes of the dS kernel's dO V^T, and P those of softmax_grad's output */
  MlirType t = mlirValueGetType(mlirOperationGetOperand(a, 0)), v = mlirValueGetType(mlirOperationGetOperand(a, 1));
  if (!mlirTypeIsARankedTensor(t) || mlirShapedTypeGetRank(t) != 3 || !mlirShapedTypeHasStaticShape(t) ||
      !mlirTypeIsARankedTensor(v) || mlirShapedTypeGetRank(v) != 3 || !mlirShapedTypeHasStaticShape(v))
    return false;
  bh = mlirShapedTypeGetDimSize(t, 0), r = mlirShapedTypeGetDimSize(t, 1), s = mlirShapedTypeGetDimSize(v, 1);
  return s % 64 == 0 && s > 0 && bh > 0 && r % s == 0 && bf16Shape(mlirOperationGetOperand(a, 0), bh, r, 64) &&
         bf16Shape(mlirOperationGetOperand(a, 1), bh, s, 64) && bf16Shape(mlirOperationGetOperand(b, 0), bh, r, s) &&
         bf16Shape(mlirOperationGetResult(b, 0), bh, r, s);
}

/* probabilities kernel: %a0 q, %a1 k, %a2 v, %a3 P, %a4 O. */
static bool genAttentionProbs(GT *g, MlirOperation a, MlirOperation b, const char *name) {
  if (!cubeGpuAttentionProbsApplies(a, b)) return false;
  MlirType t = mlirValueGetType(mlirOperationGetOperand(a, 0)), v = mlirValueGetType(mlirOperationGetOperand(a, 1));
  int64_t bh = mlirShapedTypeGetDimSize(t, 0), r = mlirShapedTypeGetDimSize(t, 1), s = mlirShapedTypeGetDimSize(v, 1);
  double scale = 1.0;
  cubeGetF64Attr(b, "scale", &scale);
  int64_t nq = bh * r * 64, nk = bh * s * 64, np = bh * r * s;
  int64_t sizes[5] = {nq, nk, nk, np, nq};
  char e[5][8] = {"bf16", "bf16", "bf16", "bf16", "bf16"};
  gtFuncOpen(g, name, 5, sizes, e);
  cubeGpuAttentionProbsMma(g, bh, r, s, scale);
  return true;
}

bool cubeGpuRowPatternIs(MlirOperation fn) {
  MlirOperation a, b;
  intptr_t nOut;
  return rowPatternOps(fn, &a, &b, &nOut);
}

bool cubeGpuRowPatternApplies(MlirOperation a, MlirOperation b, bool storeSum) {
  CubeBuf probe = {0};
  GT g = {&probe, 0};
  bool ok = cubeIsOp(a, "add") ? genAddRmsnorm(&g, a, b, storeSum, "probe") : genRmsGradAdd(&g, a, b, "probe");
  cubeBufFree(&probe);
  return ok;
}

bool cubeGpuRowPatternText(MlirOperation fn, const char *name, CubeBuf *out, char *err, size_t errSize) {
  MlirOperation a, b;
  intptr_t nOut;
  GT g = {out, 0};
  bool ok = rowPatternOps(fn, &a, &b, &nOut) &&
            (cubeIsOp(a, "add")                                 ? genAddRmsnorm(&g, a, b, nOut == 2, name)
             : cubeIsOp(a, "matmul") && cubeIsOp(b, "softmax") ? genAttentionProbs(&g, a, b, name)
             : cubeIsOp(a, "matmul")                           ? genAttentionDs(&g, a, b, name)
                                                               : genRmsGradAdd(&g, a, b, name));
  if (!ok) return snprintf(err, errSize, "no GPU kernel for this row pattern's shapes and types"), false;
  gtLine(&g, "return");
  gtLine(&g, "}");
  return true;
}

bool cubeGpuRowsApplies(MlirOperation op) {
  GenFn f = genFor(op);
  if (!f) return false;
  CubeBuf scratch = {0};
  GT g = {&scratch, 0};
  bool ok = f(&g, op, "probe");
  cubeBufFree(&scratch);
  return ok;
}

int cubeGpuRowsScratch(MlirOperation op, MlirType *types) {
  MlirContext ctx = mlirOperationGetContext(op);
  MlirValue x = mlirOperationGetOperand(op, 0);
  if (cubeIsOp(op, "rmsnorm_grad")) {
    int64_t h = lastDim(x), rows = kgNumElements(mlirValueGetType(x)) / h;
    types[0] = kgF32Tensor(ctx, rows);
    types[1] = kgF32Tensor(ctx, dwChunks(rows) * h);
    return 2;
  }
  if (cubeIsOp(op, "cross_entropy")) {
    int64_t n = kgNumElements(mlirValueGetType(mlirOperationGetOperand(op, 1)));
    types[0] = kgF32Tensor(ctx, n);
    types[1] = kgF32Tensor(ctx, n);
    return 2;
  }
  if (cubeIsOp(op, "cross_entropy_grad")) {
    types[0] = kgF32Tensor(ctx, 1);
    return 1;
  }
  if (cubeIsOp(op, "sumsq") && sumsqSplit(kgNumElements(mlirValueGetType(x)))) {
    types[0] = kgF32Tensor(ctx, SUMSQ_BLOCKS);
    return 1;
  }
  return 0;
}

bool cubeGpuRowsText(MlirOperation op, const char *name, CubeBuf *out, char *err, size_t errSize) {
  GenFn f = genFor(op);
  GT g = {out, 0};
  if (!f || !f(&g, op, name)) {
    snprintf(err, errSize, "no GPU row kernel for these shapes and types");
    return false;
  }
  gtLine(&g, "return");
  gtLine(&g, "}");
  return true;
}
