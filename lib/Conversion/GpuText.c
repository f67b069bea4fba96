/* The MLIR-text writer behind the gpu-dialect kernels (cube/GpuText.h): SSA values, index and f32
 * arithmetic, global and shared-memory loads, scf.for loops with f32 iteration values, gpu.launch, and
 * block-wide reductions. Text only: the caller parses and verifies the function. */
#include "cube/GpuText.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  CubeBuf *b;
  int n; /* SSA counter of %t<N> */
} G;

void gtLine(GT *g, const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  cubeBufAppend(g->b, buf);
  cubeBufAppend(g->b, "\n");
}


GV gtVal(GT *g, const char *fmt, ...) {
  GV v;
  snprintf(v.s, sizeof v.s, "%%t%d", g->n++);
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  gtLine(g, "%s = %s", v.s, buf);
  return v;
}

GV gtIdx(GT *g, int64_t c) { return gtVal(g, "arith.constant %" PRId64 " : index", c); }
GV gtF32(GT *g, const char *text) { return gtVal(g, "arith.constant %s : f32", text); }
GV gtAdd(GT *g, GV a, GV b) { return gtVal(g, "arith.addi %s, %s : index", a.s, b.s); }
GV gtMul(GT *g, GV a, GV b) { return gtVal(g, "arith.muli %s, %s : index", a.s, b.s); }
GV gtAddC(GT *g, GV a, int64_t c) { return c ? gtAdd(g, a, gtIdx(g, c)) : a; }
GV gtMulC(GT *g, GV a, int64_t c) { return c == 1 ? a : gtMul(g, a, gtIdx(g, c)); }
GV gtDivC(GT *g, GV a, int64_t c) { return c == 1 ? a : gtVal(g, "arith.divui %s, %s : index", a.s, gtIdx(g, c).s); }
GV gtRemC(GT *g, GV a, int64_t c) { return gtVal(g, "arith.remui %s, %s : index", a.s, gtIdx(g, c).s); }
GV gtMin(GT *g, GV a, GV b) { return gtVal(g, "arith.minui %s, %s : index", a.s, b.s); }
GV gtMax(GT *g, GV a, GV b) { return gtVal(g, "arith.maxui %s, %s : index", a.s, b.s); }
GV gtFma(GT *g, GV a, GV b, GV c) { return gtVal(g, "math.fma %s, %s, %s : f32", a.s, b.s, c.s); }
GV gtMulF(GT *g, GV a, GV b) { return gtVal(g, "arith.mulf %s, %s : f32", a.s, b.s); }
GV gtSubF(GT *g, GV a, GV b) { return gtVal(g, "arith.subf %s, %s : f32", a.s, b.s); }
GV gtExp(GT *g, GV a) { return gtVal(g, "math.exp %s : f32", a.s); }

/* A global element as f32: memref.load of arg `arg` (element type elt) at flat index i. */
GV gtLoadF32(GT *g, const char *arg, int64_t n, const char *elt, GV i) {
  GV x = gtVal(g, "memref.load %s[%s] : memref<%" PRId64 "x%s>", arg, i.s, n, elt);
  return strcmp(elt, "f32") ? gtVal(g, "arith.extf %s : %s to f32", x.s, elt) : x;
}

void gtStoreF32(GT *g, GV x, const char *arg, int64_t n, const char *elt, GV i) {
  if (strcmp(elt, "f32")) x = gtVal(g, "arith.truncf %s : f32 to %s", x.s, elt);
  gtLine(g, "memref.store %s, %s[%s] : memref<%" PRId64 "x%s>", x.s, arg, i.s, n, elt);
}


/* Cooperative copy of `rows` rows of width w (global rows start at element `base`, consecutive, `limit` of
 * them valid; the rest are zeros) into shared memory `sh` (f32, rows*w), by `nthreads` threads. */
void gtTileLoad(GT *g, const char *sh, int64_t rows, int64_t w, const char *arg, int64_t n, const char *elt,
                     GV base, GV limit, GV tx, int64_t nthreads) {
  GV hi = gtIdx(g, rows * w), step = gtIdx(g, nthreads);
  char e[24];
  snprintf(e, sizeof e, "%%e%d", g->n++);
  gtLine(g, "scf.for %s = %s to %s step %s {", e, tx.s, hi.s, step.s);
  GV ev = {{0}};
  snprintf(ev.s, sizeof ev.s, "%s", e);
  GV r = gtDivC(g, ev, w), col = w == 1 ? gtIdx(g, 0) : gtRemC(g, ev, w);
  GV ok = gtVal(g, "arith.cmpi ult, %s, %s : index", r.s, limit.s);
  GV lim1 = gtVal(g, "arith.subi %s, %s : index", gtMax(g, limit, gtIdx(g, 1)).s, gtIdx(g, 1).s);
  GV rc = gtMin(g, r, lim1);
  GV gi = gtAdd(g, base, gtAdd(g, gtMulC(g, rc, w), col));
  GV x = gtLoadF32(g, arg, n, elt, gi);
  GV z = gtVal(g, "arith.select %s, %s, %s : f32", ok.s, x.s, gtF32(g, "0.0").s);
  gtLine(g, "memref.store %s, %s[%s] : memref<%" PRId64 "xf32, " GT_WG ">", z.s, sh, e, rows * w);
  gtLine(g, "}");
}

/* dot(row regs r[0..D), shared row `sh`[base .. base + D)) with 4-wide shared loads, f32 fma chain. */
GV gtDotShared(GT *g, const GV *r, const char *sh, int64_t shN, GV base, int64_t d) {
  GV acc = gtF32(g, "0.0");
  for (int64_t c = 0; c < d; c += 4) {
    GV vec = gtVal(g, "vector.load %s[%s] : memref<%" PRId64 "xf32, " GT_WG ">, vector<4xf32>", sh, gtAddC(g, base, c).s, shN);
    for (int k = 0; k < 4; ++k) {
      GV e = gtVal(g, "vector.extract %s[%d] : f32 from vector<4xf32>", vec.s, k);
      acc = gtFma(g, r[c + k], e, acc);
    }
  }
  return acc;
}

/* The D values of shared row `sh`[base ..] (4-wide loads). */
void gtRowShared(GT *g, GV *out, const char *sh, int64_t shN, GV base, int64_t d) {
  for (int64_t c = 0; c < d; c += 4) {
    GV vec = gtVal(g, "vector.load %s[%s] : memref<%" PRId64 "xf32, " GT_WG ">, vector<4xf32>", sh, gtAddC(g, base, c).s, shN);
    for (int k = 0; k < 4; ++k) out[c + k] = gtVal(g, "vector.extract %s[%d] : f32 from vector<4xf32>", vec.s, k);
  }
}

static void gtTypes(char *buf, size_t cap, int n) {
  size_t used = 0;
  buf[0] = 0;
  for (int i = 0; i < n && used < cap; ++i) used += (size_t)snprintf(buf + used, cap - used, "%sf32", i ? ", " : "");
}

static void gtIterInit(char *buf, size_t cap, const char *prefix, int first, const GV *init, int n) {
  size_t used = 0;
  buf[0] = 0;
  for (int i = 0; i < n && used < cap; ++i)
    used += (size_t)snprintf(buf + used, cap - used, "%s%%%s%d = %s", i ? ", " : "", prefix, first + i, init[i].s);
}

void gtYield(GT *g, const GV *v, int n) {
  CubeBuf t = {0};
  cubeBufAppend(&t, "scf.yield ");
  for (int i = 0; i < n; ++i) cubeBufPrintf(&t, "%s%s", i ? ", " : "", v[i].s);
  cubeBufAppend(&t, " : ");
  for (int i = 0; i < n; ++i) cubeBufPrintf(&t, "%sf32", i ? ", " : "");
  gtLine(g, "%s", cubeBufStr(&t));
  cubeBufFree(&t);
}

/* Opens `%res:n = scf.for %iv = lo to hi step 1 iter_args(...) -> (f32...) {`; the loop's iter values are
 * %<prefix><first + i> inside. Returns the result name base. */
GV gtForOpenStep(GT *g, const char *iv, GV lo, GV hi, GV step, const char *prefix, int first, const GV *init, int n) {
  static char a[1 << 16], t[1 << 14];
  GV res = {{0}};
  snprintf(res.s, sizeof res.s, "%%r%d", g->n++);
  gtIterInit(a, sizeof a, prefix, first, init, n);
  gtTypes(t, sizeof t, n);
  gtLine(g, "%s:%d = scf.for %s = %s to %s step %s iter_args(%s) -> (%s) {", res.s, n, iv, lo.s, hi.s, step.s, a, t);
  return res;
}

GV gtForOpen(GT *g, const char *iv, GV lo, GV hi, const char *prefix, int first, const GV *init, int n) {
  return gtForOpenStep(g, iv, lo, hi, gtIdx(g, 1), prefix, first, init, n);
}

void gtResults(GV res, GV *out, int n) {
  for (int i = 0; i < n; ++i) snprintf(out[i].s, sizeof out[i].s, "%.28s#%d", res.s, i);
}

void gtIterVals(const char *prefix, int first, GV *out, int n) {
  for (int i = 0; i < n; ++i) snprintf(out[i].s, sizeof out[i].s, "%%%s%d", prefix, first + i);
}


void gtLoadRow(GT *g, GV *out, const char *arg, int64_t n, const char *elt, GV base, int64_t d) {
  for (int k = 0; k < d; ++k) out[k] = gtLoadF32(g, arg, n, elt, gtAddC(g, base, k));
}

void gtLaunchOpen(GT *g, int64_t gx, int64_t gy, int64_t nthreads, const char *workgroup) {
  GV cgx = gtIdx(g, gx), cgy = gtIdx(g, gy), c1 = gtIdx(g, 1), cnt = gtIdx(g, nthreads);
  gtLine(g, "gpu.launch blocks(%%bx, %%by, %%bz) in (%%gx%d = %s, %%gy%d = %s, %%gz%d = %s) threads(%%tx, %%ty, %%tz) in "
          "(%%sx%d = %s, %%sy%d = %s, %%sz%d = %s) workgroup(%s) {",
       g->n, cgx.s, g->n, cgy.s, g->n, c1.s, g->n, cnt.s, g->n, c1.s, g->n, c1.s, workgroup);
  g->n++;
}

GV gtCombine(GT *g, GV a, GV b, bool isMax) {
  return gtVal(g, "%s %s, %s : f32", isMax ? "arith.maximumf" : "arith.addf", a.s, b.s);
}

GV gtBlockReduce(GT *g, GV x, bool isMax, const char *sh, int64_t nthreads, GV tx) {
  GV width = gtVal(g, "arith.constant 32 : i32");
  for (int off = 16; off >= 1; off /= 2) {
    GV o = gtVal(g, "arith.constant %d : i32", off);
    GV got = {{0}};
    snprintf(got.s, sizeof got.s, "%%shf%d", g->n++);
    gtLine(g, "%s:2 = gpu.shuffle xor %s, %s, %s : f32", got.s, x.s, o.s, width.s);
    strcat(got.s, "#0");
    x = gtCombine(g, x, got, isMax);
  }
  int64_t nw = nthreads / 32;
  GV warp = gtDivC(g, tx, 32), lane = gtRemC(g, tx, 32);
  GV first = gtVal(g, "arith.cmpi eq, %s, %s : index", lane.s, gtIdx(g, 0).s);
  gtLine(g, "scf.if %s {", first.s);
  gtLine(g, "memref.store %s, %s[%s] : memref<32xf32, " GT_WG ">", x.s, sh, warp.s);
  gtLine(g, "}");
  gtLine(g, "gpu.barrier");
  GV acc = gtVal(g, "memref.load %s[%s] : memref<32xf32, " GT_WG ">", sh, gtIdx(g, 0).s);
  for (int64_t w = 1; w < nw; ++w)
    acc = gtCombine(g, acc, gtVal(g, "memref.load %s[%s] : memref<32xf32, " GT_WG ">", sh, gtIdx(g, w).s), isMax);
  gtLine(g, "gpu.barrier");
  return acc;
}

void gtFuncOpen(GT *g, const char *name, int n, const int64_t *sizes, const char (*elts)[8]) {
  CubeBuf t = {0};
  cubeBufPrintf(&t, "func.func @%s(", name);
  for (int i = 0; i < n; ++i) cubeBufPrintf(&t, "%s%%a%d: memref<%" PRId64 "x%s>", i ? ", " : "", i, sizes[i], elts[i]);
  cubeBufAppend(&t, ") {");
  gtLine(g, "%s", cubeBufStr(&t));
  cubeBufFree(&t);
}

GV gtThreadsOpen(GT *g, int64_t count, int64_t nthreads) {
  gtLaunchOpen(g, (count + nthreads - 1) / nthreads, 1, nthreads, "");
  GV v = gtAdd(g, gtMulC(g, (GV){"%bx"}, nthreads), (GV){"%tx"});
  GV ok = gtVal(g, "arith.cmpi ult, %s, %s : index", v.s, gtIdx(g, count).s);
  gtLine(g, "scf.if %s {", ok.s);
  return v;
}

void gtThreadsClose(GT *g) {
  gtLine(g, "}");
  gtLine(g, "gpu.terminator");
  gtLine(g, "}");
  gtLine(g, "return");
  gtLine(g, "}");
}

int gtEltBytes(const char *elt) { return strcmp(elt, "f32") ? 2 : 4; }

GV gtVecLoad(GT *g, const char *arg, int64_t n, const char *elt, GV at, int64_t vec) {
  return gtVal(g, "vector.load %s[%s] {alignment = %" PRId64 " : i64} : memref<%" PRId64 "x%s>, vector<%" PRId64 "x%s>",
               arg, at.s, vec * gtEltBytes(elt), n, elt, vec, elt);
}

GV gtVecElemF32(GT *g, GV v, int64_t k, const char *elt, int64_t vec) {
  GV x = gtVal(g, "vector.extract %s[%" PRId64 "] : %s from vector<%" PRId64 "x%s>", v.s, k, elt, vec, elt);
  return strcmp(elt, "f32") ? gtVal(g, "arith.extf %s : %s to f32", x.s, elt) : x;
}

void gtVecStoreF32(GT *g, const GV *x, const char *arg, int64_t n, const char *elt, GV at, int64_t vec) {
  CubeBuf list = {0};
  for (int64_t k = 0; k < vec; ++k) {
    GV y = strcmp(elt, "f32") ? gtVal(g, "arith.truncf %s : f32 to %s", x[k].s, elt) : x[k];
    cubeBufPrintf(&list, "%s%s", k ? ", " : "", y.s);
  }
  GV v = gtVal(g, "vector.from_elements %s : vector<%" PRId64 "x%s>", cubeBufStr(&list), vec, elt);
  cubeBufFree(&list);
  gtLine(g, "vector.store %s, %s[%s] {alignment = %" PRId64 " : i64} : memref<%" PRId64 "x%s>, vector<%" PRId64 "x%s>",
         v.s, arg, at.s, vec * gtEltBytes(elt), n, elt, vec, elt);
}
