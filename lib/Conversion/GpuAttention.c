/* Fused causal attention for target=cuda, written directly in the gpu dialect (flash-attention style): the
 * S x S scores and probabilities never exist in memory.
 *
 * cube.attention: one thread per query row, a block of BQ rows of one (batch, head). The query row (times
 * nothing: the scale is applied to the dot product, as HF's eager attention does) sits in registers; the
 * keys and values stream through shared memory in tiles of BK rows (f32, 4-wide vector loads); the softmax
 * is the online one (running max m, running sum l, the accumulator rescaled by exp(m_old - m_new) per key),
 * and the row is divided by l once at the end. Causal blocks stop at their last query row's tile.
 *
 * cube.attention_grad (FlashAttention-2's backward with the statistics recomputed, since the op gets no
 * saved output): four launches of one host function, scratch lse[R] and delta[R] (R = B*Hq*S rows):
 *   1. stats: the forward again per query row: lse = m + log(l), delta = dout . out (out = acc / l)
 *   2. dq:    per query row: p = exp(s - lse), dp = dout . v_j, ds = p (dp - delta), dq += ds k_j
 *   3. dv:    per key row j of one kv head, looping over the query rows of its G query heads (tiles of q,
 *             dout, lse, delta in shared memory): dv += p dout_i
 *   4. dk:    the same loop: dk += p (dout_i . v_j - delta_i) q_i
 * dq and dk are scaled once at the end. dv and dk are separate kernels so that each keeps at most 3 D-wide
 * rows in registers. GQA: query head h reads kv head h / (Hq / Hkv), and a kv head's gradient sums over its
 * G query heads in one thread (no atomics: deterministic).
 *
 * All arithmetic is f32 (bf16/f16 operands extended on load, results rounded once on store); exp is
 * math.exp (ex2.approx on NVPTX). Head dims up to 128 that are a multiple of 4; other shapes keep the linalg
 * kernels (cubeGpuKernelApplies says which). */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cube/GpuKernels.h"
#include "cube/Ops.h"
#include "mlir-c/BuiltinTypes.h"

typedef struct {
  int64_t b, hq, hkv, g, s, skv, d;
  bool causal;
  double scale;
  char qe[8], ke[8], ve[8], oe[8]; /* element types: q, k, v, out (dout for the gradient) */
} Attn;

typedef struct {
  CubeBuf *b;
  int n; /* SSA counter of %t<N> */
} G;

static void line(G *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(G *g, const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  cubeBufAppend(g->b, buf);
  cubeBufAppend(g->b, "\n");
}

/* `%tN = <text>`: returns N's name in a static ring of buffers (enough for one expression's operands). */
typedef struct {
  char s[40];
} V;

static V val(G *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static V val(G *g, const char *fmt, ...) {
  V v;
  snprintf(v.s, sizeof v.s, "%%t%d", g->n++);
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  line(g, "%s = %s", v.s, buf);
  return v;
}

static V idx(G *g, int64_t c) { return val(g, "arith.constant %" PRId64 " : index", c); }
static V f32c(G *g, const char *text) { return val(g, "arith.constant %s : f32", text); }
static V add(G *g, V a, V b) { return val(g, "arith.addi %s, %s : index", a.s, b.s); }
static V mul(G *g, V a, V b) { return val(g, "arith.muli %s, %s : index", a.s, b.s); }
static V addc(G *g, V a, int64_t c) { return c ? add(g, a, idx(g, c)) : a; }
static V mulc(G *g, V a, int64_t c) { return c == 1 ? a : mul(g, a, idx(g, c)); }
static V divc(G *g, V a, int64_t c) { return c == 1 ? a : val(g, "arith.divui %s, %s : index", a.s, idx(g, c).s); }
static V remc(G *g, V a, int64_t c) { return val(g, "arith.remui %s, %s : index", a.s, idx(g, c).s); }
static V minu(G *g, V a, V b) { return val(g, "arith.minui %s, %s : index", a.s, b.s); }
static V maxu(G *g, V a, V b) { return val(g, "arith.maxui %s, %s : index", a.s, b.s); }
static V fma3(G *g, V a, V b, V c) { return val(g, "math.fma %s, %s, %s : f32", a.s, b.s, c.s); }
static V mulf(G *g, V a, V b) { return val(g, "arith.mulf %s, %s : f32", a.s, b.s); }
static V subf(G *g, V a, V b) { return val(g, "arith.subf %s, %s : f32", a.s, b.s); }
static V expf_(G *g, V a) { return val(g, "math.exp %s : f32", a.s); }

/* A global element as f32: memref.load of arg `arg` (element type elt) at flat index i. */
static V loadF32(G *g, const char *arg, int64_t n, const char *elt, V i) {
  V x = val(g, "memref.load %s[%s] : memref<%" PRId64 "x%s>", arg, i.s, n, elt);
  return strcmp(elt, "f32") ? val(g, "arith.extf %s : %s to f32", x.s, elt) : x;
}

static void storeF32(G *g, V x, const char *arg, int64_t n, const char *elt, V i) {
  if (strcmp(elt, "f32")) x = val(g, "arith.truncf %s : f32 to %s", x.s, elt);
  line(g, "memref.store %s, %s[%s] : memref<%" PRId64 "x%s>", x.s, arg, i.s, n, elt);
}

#define WG "#gpu.address_space<workgroup>"

/* Cooperative copy of `rows` rows of width w (global rows start at element `base`, consecutive, `limit` of
 * them valid; the rest are zeros) into shared memory `sh` (f32, rows*w), by `nthreads` threads. */
static void tileLoad(G *g, const char *sh, int64_t rows, int64_t w, const char *arg, int64_t n, const char *elt,
                     V base, V limit, V tx, int64_t nthreads) {
  V hi = idx(g, rows * w), step = idx(g, nthreads);
  char e[24];
  snprintf(e, sizeof e, "%%e%d", g->n++);
  line(g, "scf.for %s = %s to %s step %s {", e, tx.s, hi.s, step.s);
  V ev = {{0}};
  snprintf(ev.s, sizeof ev.s, "%s", e);
  V r = divc(g, ev, w), col = w == 1 ? idx(g, 0) : remc(g, ev, w);
  V ok = val(g, "arith.cmpi ult, %s, %s : index", r.s, limit.s);
  V lim1 = val(g, "arith.subi %s, %s : index", maxu(g, limit, idx(g, 1)).s, idx(g, 1).s);
  V rc = minu(g, r, lim1);
  V gi = add(g, base, add(g, mulc(g, rc, w), col));
  V x = loadF32(g, arg, n, elt, gi);
  V z = val(g, "arith.select %s, %s, %s : f32", ok.s, x.s, f32c(g, "0.0").s);
  line(g, "memref.store %s, %s[%s] : memref<%" PRId64 "xf32, " WG ">", z.s, sh, e, rows * w);
  line(g, "}");
}

/* dot(row regs r[0..D), shared row `sh`[base .. base + D)) with 4-wide shared loads, f32 fma chain. */
static V dotShared(G *g, const V *r, const char *sh, int64_t shN, V base, int64_t d) {
  V acc = f32c(g, "0.0");
  for (int64_t c = 0; c < d; c += 4) {
    V vec = val(g, "vector.load %s[%s] : memref<%" PRId64 "xf32, " WG ">, vector<4xf32>", sh, addc(g, base, c).s, shN);
    for (int k = 0; k < 4; ++k) {
      V e = val(g, "vector.extract %s[%d] : f32 from vector<4xf32>", vec.s, k);
      acc = fma3(g, r[c + k], e, acc);
    }
  }
  return acc;
}

/* The D values of shared row `sh`[base ..] (4-wide loads). */
static void rowShared(G *g, V *out, const char *sh, int64_t shN, V base, int64_t d) {
  for (int64_t c = 0; c < d; c += 4) {
    V vec = val(g, "vector.load %s[%s] : memref<%" PRId64 "xf32, " WG ">, vector<4xf32>", sh, addc(g, base, c).s, shN);
    for (int k = 0; k < 4; ++k) out[c + k] = val(g, "vector.extract %s[%d] : f32 from vector<4xf32>", vec.s, k);
  }
}

static void types(char *buf, size_t cap, int n) {
  size_t used = 0;
  buf[0] = 0;
  for (int i = 0; i < n && used < cap; ++i) used += (size_t)snprintf(buf + used, cap - used, "%sf32", i ? ", " : "");
}

static void iterInit(char *buf, size_t cap, const char *prefix, int first, const V *init, int n) {
  size_t used = 0;
  buf[0] = 0;
  for (int i = 0; i < n && used < cap; ++i)
    used += (size_t)snprintf(buf + used, cap - used, "%s%%%s%d = %s", i ? ", " : "", prefix, first + i, init[i].s);
}

static void yieldVals(G *g, const V *v, int n) {
  CubeBuf t = {0};
  cubeBufAppend(&t, "scf.yield ");
  for (int i = 0; i < n; ++i) cubeBufPrintf(&t, "%s%s", i ? ", " : "", v[i].s);
  cubeBufAppend(&t, " : ");
  for (int i = 0; i < n; ++i) cubeBufPrintf(&t, "%sf32", i ? ", " : "");
  line(g, "%s", cubeBufStr(&t));
  cubeBufFree(&t);
}

/* Opens `%res:n = scf.for %iv = lo to hi step 1 iter_args(...) -> (f32...) {`; the loop's iter values are
 * %<prefix><first + i> inside. Returns the result name base. */
static V forOpen(G *g, const char *iv, V lo, V hi, const char *prefix, int first, const V *init, int n) {
  static char a[1 << 16], t[1 << 14];
  V res = {{0}};
  snprintf(res.s, sizeof res.s, "%%r%d", g->n++);
  iterInit(a, sizeof a, prefix, first, init, n);
  types(t, sizeof t, n);
  line(g, "%s:%d = scf.for %s = %s to %s step %s iter_args(%s) -> (%s) {", res.s, n, iv, lo.s, hi.s, idx(g, 1).s, a, t);
  return res;
}

static void resultsOf(V res, V *out, int n) {
  for (int i = 0; i < n; ++i) snprintf(out[i].s, sizeof out[i].s, "%.28s#%d", res.s, i);
}

static void iterVals(const char *prefix, int first, V *out, int n) {
  for (int i = 0; i < n; ++i) snprintf(out[i].s, sizeof out[i].s, "%%%s%d", prefix, first + i);
}

enum { BQ = 64 }; /* query rows (threads) per block */

static int64_t keyTile(int64_t d) { return d <= 64 ? 64 : 32; }

/* The per-query-row part shared by the forward and the statistics launch: block = BQ query rows of one
 * (b, h). Loads the row into q[], runs the online softmax over the keys, leaves m, l, acc[] (unnormalised)
 * in *m, *l, acc, and the row's index values in *qrow (flat element offset), *valid. */
typedef struct {
  V by, bx, tx, i, ic, valid, qrow, b, h, hk, kb;
} RowCtx;

static void rowSetup(G *g, const Attn *a, RowCtx *c) {
  snprintf(c->bx.s, sizeof c->bx.s, "%%bx");
  snprintf(c->by.s, sizeof c->by.s, "%%by");
  snprintf(c->tx.s, sizeof c->tx.s, "%%tx");
  c->b = divc(g, c->by, a->hq);
  c->h = remc(g, c->by, a->hq);
  c->hk = divc(g, c->h, a->g);
  V i0 = mulc(g, c->bx, BQ);
  c->i = add(g, i0, c->tx);
  c->valid = val(g, "arith.cmpi ult, %s, %s : index", c->i.s, idx(g, a->s).s);
  c->ic = minu(g, c->i, idx(g, a->s - 1));
  c->qrow = mulc(g, add(g, mulc(g, c->by, a->s), c->ic), a->d);
  c->kb = mulc(g, add(g, mulc(g, c->b, a->hkv), c->hk), a->skv * a->d);
}

/* The online-softmax loop of one query row over all its keys (K, V tiles in shared %shk, %shv); q[] holds
 * the query row. Results: out[0] = m, out[1] = l, out[2..] = acc. */
static void onlineSoftmax(G *g, const Attn *a, const RowCtx *c, const V *q, V *out) {
  int64_t d = a->d, bk = keyTile(d), nk = a->b * a->hkv * a->skv * d;
  int n = 2 + (int)d;
  V init[2 + 128];
  init[0] = f32c(g, "0xFF800000");
  init[1] = f32c(g, "0.0");
  V zero = f32c(g, "0.0");
  for (int k = 0; k < d; ++k) init[2 + k] = zero;
  /* keys this block needs: all, or up to its last query row (causal) */
  V kend = idx(g, a->skv);
  if (a->causal) kend = minu(g, addc(g, mulc(g, c->bx, BQ), BQ), kend);
  V nt = val(g, "arith.ceildivui %s, %s : index", kend.s, idx(g, bk).s);
  V jlim = a->causal ? addc(g, c->ic, 1) : idx(g, a->skv);
  int tag = g->n++;
  char pre[16], pin[16], tv[24], jv[24];
  snprintf(pre, sizeof pre, "o%d_", tag);
  snprintf(pin, sizeof pin, "p%d_", tag);
  snprintf(tv, sizeof tv, "%%tt%d", tag);
  snprintf(jv, sizeof jv, "%%jj%d", tag);
  V res = forOpen(g, tv, idx(g, 0), nt, pre, 0, init, n);
  V cur[2 + 128];
  iterVals(pre, 0, cur, n);
  V t = {{0}};
  snprintf(t.s, sizeof t.s, "%s", tv);
  line(g, "gpu.barrier");
  V t0 = mulc(g, t, bk);
  V kbase = add(g, c->kb, mulc(g, t0, d));
  V klimit = val(g, "arith.subi %s, %s : index", idx(g, a->skv).s, t0.s);
  tileLoad(g, "%shk", bk, d, "%a1", nk, a->ke, kbase, klimit, c->tx, BQ);
  tileLoad(g, "%shv", bk, d, "%a2", nk, a->ve, kbase, klimit, c->tx, BQ);
  line(g, "gpu.barrier");
  V cnt = minu(g, val(g, "arith.subi %s, %s : index", maxu(g, jlim, t0).s, t0.s), idx(g, bk));
  V ires = forOpen(g, jv, idx(g, 0), cnt, pin, 0, cur, n);
  V in[2 + 128];
  iterVals(pin, 0, in, n);
  V j = {{0}};
  snprintf(j.s, sizeof j.s, "%s", jv);
  V base = mulc(g, j, d);
  char scale[40];
  snprintf(scale, sizeof scale, "%.9e", a->scale);
  V sc = val(g, "arith.mulf %s, %s : f32", dotShared(g, q, "%shk", bk * d, base, d).s, f32c(g, scale).s);
  V m2 = val(g, "arith.maximumf %s, %s : f32", in[0].s, sc.s);
  V corr = expf_(g, subf(g, in[0], m2));
  V p = expf_(g, subf(g, sc, m2));
  V next[2 + 128];
  next[0] = m2;
  next[1] = fma3(g, in[1], corr, p);
  V vrow[128];
  rowShared(g, vrow, "%shv", bk * d, base, d);
  for (int k = 0; k < d; ++k) next[2 + k] = fma3(g, p, vrow[k], mulf(g, in[2 + k], corr));
  yieldVals(g, next, n);
  line(g, "}");
  V inner[2 + 128];
  resultsOf(ires, inner, n);
  yieldVals(g, inner, n);
  line(g, "}");
  resultsOf(res, out, n);
}

static void loadRow(G *g, V *out, const char *arg, int64_t n, const char *elt, V base, int64_t d) {
  for (int k = 0; k < d; ++k) out[k] = loadF32(g, arg, n, elt, addc(g, base, k));
}

/* gpu.launch header: grid (gx, gy), block nthreads, the given workgroup buffers ("%name : memref<..>"). */
static void launchOpen(G *g, int64_t gx, int64_t gy, int64_t nthreads, const char *workgroup) {
  V cgx = idx(g, gx), cgy = idx(g, gy), c1 = idx(g, 1), cnt = idx(g, nthreads);
  line(g, "gpu.launch blocks(%%bx, %%by, %%bz) in (%%gx%d = %s, %%gy%d = %s, %%gz%d = %s) threads(%%tx, %%ty, %%tz) in "
          "(%%sx%d = %s, %%sy%d = %s, %%sz%d = %s) workgroup(%s) {",
       g->n, cgx.s, g->n, cgy.s, g->n, c1.s, g->n, cnt.s, g->n, c1.s, g->n, c1.s, workgroup);
  g->n++;
}

static void kvWorkgroup(char *buf, size_t n, const char *a, const char *b, int64_t elems) {
  snprintf(buf, n, "%%%s : memref<%" PRId64 "xf32, " WG ">, %%%s : memref<%" PRId64 "xf32, " WG ">", a, elems, b, elems);
}

/* ---- cube.attention ---------------------------------------------------------------------------------- */

static void genForward(G *g, const Attn *a) {
  int64_t d = a->d, nq = a->b * a->hq * a->s * d, bk = keyTile(d);
  char wg[256];
  kvWorkgroup(wg, sizeof wg, "shk", "shv", bk * d);
  launchOpen(g, (a->s + BQ - 1) / BQ, a->b * a->hq, BQ, wg);
  RowCtx c;
  rowSetup(g, a, &c);
  V q[128], r[2 + 128];
  loadRow(g, q, "%a0", nq, a->qe, c.qrow, d);
  onlineSoftmax(g, a, &c, q, r);
  V inv = val(g, "arith.divf %s, %s : f32", f32c(g, "1.0").s, r[1].s);
  line(g, "scf.if %s {", c.valid.s);
  for (int k = 0; k < d; ++k) storeF32(g, mulf(g, r[2 + k], inv), "%a3", nq, a->oe, addc(g, c.qrow, k));
  line(g, "}");
  line(g, "gpu.terminator");
  line(g, "}");
}

/* ---- cube.attention_grad ----------------------------------------------------------------------------- */
/* Arguments: %a0 q, %a1 k, %a2 v, %a3 dout, %a4 lse, %a5 delta (scratch), %a6 dq, %a7 dk, %a8 dv. */

static void genStats(G *g, const Attn *a) {
  int64_t d = a->d, nq = a->b * a->hq * a->s * d, rows = a->b * a->hq * a->s, bk = keyTile(d);
  char wg[256];
  kvWorkgroup(wg, sizeof wg, "shk", "shv", bk * d);
  launchOpen(g, (a->s + BQ - 1) / BQ, a->b * a->hq, BQ, wg);
  RowCtx c;
  rowSetup(g, a, &c);
  V q[128], r[2 + 128];
  loadRow(g, q, "%a0", nq, a->qe, c.qrow, d);
  onlineSoftmax(g, a, &c, q, r);
  V inv = val(g, "arith.divf %s, %s : f32", f32c(g, "1.0").s, r[1].s);
  V delta = f32c(g, "0.0");
  for (int k = 0; k < d; ++k) {
    V o = mulf(g, r[2 + k], inv);
    if (strcmp(a->qe, "f32")) o = val(g, "arith.extf %s : %s to f32", val(g, "arith.truncf %s : f32 to %s", o.s, a->qe).s, a->qe);
    delta = fma3(g, loadF32(g, "%a3", nq, a->oe, addc(g, c.qrow, k)), o, delta);
  }
  V lse = val(g, "arith.addf %s, %s : f32", r[0].s, val(g, "math.log %s : f32", r[1].s).s);
  V row = add(g, mulc(g, c.by, a->s), c.ic);
  line(g, "scf.if %s {", c.valid.s);
  line(g, "memref.store %s, %%a4[%s] : memref<%" PRId64 "xf32>", lse.s, row.s, rows);
  line(g, "memref.store %s, %%a5[%s] : memref<%" PRId64 "xf32>", delta.s, row.s, rows);
  line(g, "}");
  line(g, "gpu.terminator");
  line(g, "}");
}

static void genDq(G *g, const Attn *a) {
  int64_t d = a->d, nq = a->b * a->hq * a->s * d, nk = a->b * a->hkv * a->skv * d, rows = a->b * a->hq * a->s;
  int64_t bk = keyTile(d);
  char wg[256], scale[40];
  snprintf(scale, sizeof scale, "%.9e", a->scale);
  kvWorkgroup(wg, sizeof wg, "shk", "shv", bk * d);
  launchOpen(g, (a->s + BQ - 1) / BQ, a->b * a->hq, BQ, wg);
  RowCtx c;
  rowSetup(g, a, &c);
  V q[128], dO[128];
  loadRow(g, q, "%a0", nq, a->qe, c.qrow, d);
  loadRow(g, dO, "%a3", nq, a->oe, c.qrow, d);
  V row = add(g, mulc(g, c.by, a->s), c.ic);
  V lse = val(g, "memref.load %%a4[%s] : memref<%" PRId64 "xf32>", row.s, rows);
  V delta = val(g, "memref.load %%a5[%s] : memref<%" PRId64 "xf32>", row.s, rows);
  V kend = idx(g, a->skv);
  if (a->causal) kend = minu(g, addc(g, mulc(g, c.bx, BQ), BQ), kend);
  V nt = val(g, "arith.ceildivui %s, %s : index", kend.s, idx(g, bk).s);
  V jlim = a->causal ? addc(g, c.ic, 1) : idx(g, a->skv);
  V init[128], zero = f32c(g, "0.0");
  for (int k = 0; k < d; ++k) init[k] = zero;
  V res = forOpen(g, "%tq", idx(g, 0), nt, "dq", 0, init, (int)d);
  V cur[128];
  iterVals("dq", 0, cur, (int)d);
  V t = {"%tq"};
  line(g, "gpu.barrier");
  V t0 = mulc(g, t, bk);
  V kbase = add(g, c.kb, mulc(g, t0, d));
  V klimit = val(g, "arith.subi %s, %s : index", idx(g, a->skv).s, t0.s);
  tileLoad(g, "%shk", bk, d, "%a1", nk, a->ke, kbase, klimit, c.tx, BQ);
  tileLoad(g, "%shv", bk, d, "%a2", nk, a->ve, kbase, klimit, c.tx, BQ);
  line(g, "gpu.barrier");
  V cnt = minu(g, val(g, "arith.subi %s, %s : index", maxu(g, jlim, t0).s, t0.s), idx(g, bk));
  V ires = forOpen(g, "%jq", idx(g, 0), cnt, "iq", 0, cur, (int)d);
  V in[128];
  iterVals("iq", 0, in, (int)d);
  V base = mulc(g, (V){"%jq"}, d);
  V s = mulf(g, dotShared(g, q, "%shk", bk * d, base, d), f32c(g, scale));
  V p = expf_(g, subf(g, s, lse));
  V dp = dotShared(g, dO, "%shv", bk * d, base, d);
  V ds = mulf(g, p, subf(g, dp, delta));
  V krow[128], next[128];
  rowShared(g, krow, "%shk", bk * d, base, d);
  for (int k = 0; k < d; ++k) next[k] = fma3(g, ds, krow[k], in[k]);
  yieldVals(g, next, (int)d);
  line(g, "}");
  V inner[128];
  resultsOf(ires, inner, (int)d);
  yieldVals(g, inner, (int)d);
  line(g, "}");
  V out[128];
  resultsOf(res, out, (int)d);
  V sc = f32c(g, scale);
  line(g, "scf.if %s {", c.valid.s);
  for (int k = 0; k < d; ++k) storeF32(g, mulf(g, out[k], sc), "%a6", nq, a->qe, addc(g, c.qrow, k));
  line(g, "}");
  line(g, "gpu.terminator");
  line(g, "}");
}

enum { BKV = 64 }; /* key rows (threads) per block of the dk/dv launches */

static int64_t queryTile(int64_t d) { return d <= 64 ? 64 : 32; }

/* dv (withDk false) or dk (true): one thread per key row j of kv head (b, hk), looping over the G query
 * heads and their query rows i >= j (causal). */
static void genDkv(G *g, const Attn *a, bool withDk) {
  int64_t d = a->d, nq = a->b * a->hq * a->s * d, nk = a->b * a->hkv * a->skv * d, rows = a->b * a->hq * a->s;
  int64_t bq = queryTile(d);
  char wg[512], scale[40];
  snprintf(scale, sizeof scale, "%.9e", a->scale);
  snprintf(wg, sizeof wg,
           "%%shq : memref<%" PRId64 "xf32, " WG ">, %%sho : memref<%" PRId64 "xf32, " WG ">, %%shl : memref<%" PRId64
           "xf32, " WG ">, %%shd : memref<%" PRId64 "xf32, " WG ">",
           bq * d, bq * d, bq, bq);
  launchOpen(g, (a->skv + BKV - 1) / BKV, a->b * a->hkv, BKV, wg);
  V bx = {"%bx"}, by = {"%by"}, tx = {"%tx"};
  V b = divc(g, by, a->hkv), hk = remc(g, by, a->hkv);
  V j = add(g, mulc(g, bx, BKV), tx);
  V valid = val(g, "arith.cmpi ult, %s, %s : index", j.s, idx(g, a->skv).s);
  V jc = minu(g, j, idx(g, a->skv - 1));
  V krow = mulc(g, add(g, mulc(g, by, a->skv), jc), d);
  V k[128], v[128];
  loadRow(g, k, "%a1", nk, a->ke, krow, d);
  if (withDk) loadRow(g, v, "%a2", nk, a->ve, krow, d);
  V init[128], zero = f32c(g, "0.0");
  for (int x = 0; x < d; ++x) init[x] = zero;
  /* query tiles: causal blocks start at the tile of their first key row */
  V tfirst = a->causal ? divc(g, mulc(g, bx, BKV), bq) : idx(g, 0);
  V ntiles = idx(g, (a->s + bq - 1) / bq);
  V gres = forOpen(g, "%hg", idx(g, 0), idx(g, a->g), "ga", 0, init, (int)d);
  V gcur[128];
  iterVals("ga", 0, gcur, (int)d);
  V h = add(g, mulc(g, hk, a->g), (V){"%hg"});
  V qhead = mul(g, add(g, mulc(g, b, a->hq), h), idx(g, a->s)); /* first row of (b, h) */
  V tres = forOpen(g, "%tk", tfirst, ntiles, "ta", 0, gcur, (int)d);
  V tcur[128];
  iterVals("ta", 0, tcur, (int)d);
  V i0 = mulc(g, (V){"%tk"}, bq);
  V qlimit = val(g, "arith.subi %s, %s : index", idx(g, a->s).s, i0.s);
  V rowBase = add(g, qhead, i0);
  line(g, "gpu.barrier");
  tileLoad(g, "%shq", bq, d, "%a0", nq, a->qe, mulc(g, rowBase, d), qlimit, tx, BKV);
  tileLoad(g, "%sho", bq, d, "%a3", nq, a->oe, mulc(g, rowBase, d), qlimit, tx, BKV);
  tileLoad(g, "%shl", bq, 1, "%a4", rows, "f32", rowBase, qlimit, tx, BKV);
  tileLoad(g, "%shd", bq, 1, "%a5", rows, "f32", rowBase, qlimit, tx, BKV);
  line(g, "gpu.barrier");
  V rcnt = minu(g, qlimit, idx(g, bq));
  V rfirst = a->causal ? minu(g, val(g, "arith.subi %s, %s : index", maxu(g, jc, i0).s, i0.s), rcnt) : idx(g, 0);
  V ires = forOpen(g, "%rk", rfirst, rcnt, "ra", 0, tcur, (int)d);
  V in[128];
  iterVals("ra", 0, in, (int)d);
  V r = {"%rk"};
  V base = mulc(g, r, d);
  V s = mulf(g, dotShared(g, k, "%shq", bq * d, base, d), f32c(g, scale));
  V lse = val(g, "memref.load %%shl[%s] : memref<%" PRId64 "xf32, " WG ">", r.s, bq);
  V p = expf_(g, subf(g, s, lse));
  V next[128], other[128];
  if (!withDk) {
    rowShared(g, other, "%sho", bq * d, base, d);
    for (int x = 0; x < d; ++x) next[x] = fma3(g, p, other[x], in[x]);
  } else {
    V dp = dotShared(g, v, "%sho", bq * d, base, d);
    V delta = val(g, "memref.load %%shd[%s] : memref<%" PRId64 "xf32, " WG ">", r.s, bq);
    V ds = mulf(g, p, subf(g, dp, delta));
    rowShared(g, other, "%shq", bq * d, base, d);
    for (int x = 0; x < d; ++x) next[x] = fma3(g, ds, other[x], in[x]);
  }
  yieldVals(g, next, (int)d);
  line(g, "}");
  V ir[128];
  resultsOf(ires, ir, (int)d);
  yieldVals(g, ir, (int)d);
  line(g, "}");
  V tr[128];
  resultsOf(tres, tr, (int)d);
  yieldVals(g, tr, (int)d);
  line(g, "}");
  V out[128];
  resultsOf(gres, out, (int)d);
  V sc = f32c(g, withDk ? scale : "1.0");
  line(g, "scf.if %s {", valid.s);
  for (int x = 0; x < d; ++x)
    storeF32(g, withDk ? mulf(g, out[x], sc) : out[x], withDk ? "%a7" : "%a8", nk, withDk ? a->ke : a->ve,
             addc(g, krow, x));
  line(g, "}");
  line(g, "gpu.terminator");
  line(g, "}");
}

/* ---- entry points ------------------------------------------------------------------------------------ */

static bool readAttn(MlirOperation op, Attn *a) {
  MlirType q = mlirValueGetType(mlirOperationGetOperand(op, 0)), k = mlirValueGetType(mlirOperationGetOperand(op, 1));
  MlirType v = mlirValueGetType(mlirOperationGetOperand(op, 2));
  MlirType o = cubeIsOp(op, "attention") ? mlirValueGetType(mlirOperationGetResult(op, 0))
                                         : mlirValueGetType(mlirOperationGetOperand(op, 3));
  if (kgRank(q) != 4 || kgRank(k) != 4 || kgRank(v) != 4) return false;
  *a = (Attn){kgDim(q, 0), kgDim(q, 1), kgDim(k, 1), 1, kgDim(q, 2), kgDim(k, 2), kgDim(q, 3), false, 1.0, "", "", "", ""};
  if (a->hkv <= 0 || a->hq % a->hkv || a->d <= 0 || a->d > 128 || a->d % 4 || a->s <= 0 || a->skv <= 0) return false;
  a->g = a->hq / a->hkv;
  cubeGetBoolAttr(op, "causal", &a->causal);
  if (a->causal && a->s != a->skv) return false;
  a->scale = pow((double)a->d, -0.5);
  cubeGetF64Attr(op, "scale", &a->scale);
  return kgEltName(mlirShapedTypeGetElementType(q), a->qe, sizeof a->qe) &&
         kgEltName(mlirShapedTypeGetElementType(k), a->ke, sizeof a->ke) &&
         kgEltName(mlirShapedTypeGetElementType(v), a->ve, sizeof a->ve) &&
         kgEltName(mlirShapedTypeGetElementType(o), a->oe, sizeof a->oe) && !strcmp(a->ke, a->ve);
}

bool cubeGpuAttentionApplies(MlirOperation op) {
  Attn a;
  return readAttn(op, &a);
}

int cubeGpuAttentionScratch(MlirOperation op, MlirType *types) {
  if (cubeIsOp(op, "attention")) return 0;
  Attn a;
  readAttn(op, &a);
  MlirContext ctx = mlirOperationGetContext(op);
  types[0] = kgF32Tensor(ctx, a.b * a.hq * a.s); /* lse */
  types[1] = kgF32Tensor(ctx, a.b * a.hq * a.s); /* delta */
  return 2;
}

bool cubeGpuAttentionText(MlirOperation op, const char *name, CubeBuf *out, char *err, size_t errSize) {
  Attn a;
  if (!readAttn(op, &a)) {
    snprintf(err, errSize, "no fused GPU attention for these shapes");
    return false;
  }
  bool grad = cubeIsOp(op, "attention_grad");
  int64_t nq = a.b * a.hq * a.s * a.d, nk = a.b * a.hkv * a.skv * a.d, rows = a.b * a.hq * a.s;
  G g = {out, 0};
  if (!grad)
    line(&g, "func.func @%s(%%a0: memref<%" PRId64 "x%s>, %%a1: memref<%" PRId64 "x%s>, %%a2: memref<%" PRId64
             "x%s>, %%a3: memref<%" PRId64 "x%s>) {",
         name, nq, a.qe, nk, a.ke, nk, a.ve, nq, a.oe);
  else
    line(&g, "func.func @%s(%%a0: memref<%" PRId64 "x%s>, %%a1: memref<%" PRId64 "x%s>, %%a2: memref<%" PRId64
             "x%s>, %%a3: memref<%" PRId64 "x%s>, %%a4: memref<%" PRId64 "xf32>, %%a5: memref<%" PRId64
             "xf32>, %%a6: memref<%" PRId64 "x%s>, %%a7: memref<%" PRId64 "x%s>, %%a8: memref<%" PRId64 "x%s>) {",
         name, nq, a.qe, nk, a.ke, nk, a.ve, nq, a.oe, rows, rows, nq, a.qe, nk, a.ke, nk, a.ve);
  if (!grad) {
    genForward(&g, &a);
  } else {
    genStats(&g, &a);
    genDq(&g, &a);
    genDkv(&g, &a, false);
    genDkv(&g, &a, true);
  }
  line(&g, "return");
  line(&g, "}");
  return true;
}
