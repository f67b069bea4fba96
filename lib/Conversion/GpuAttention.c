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
#include "cube/GpuText.h"
#include "cube/Ops.h"
#include "mlir-c/BuiltinTypes.h"

typedef struct {
  int64_t b, hq, hkv, g, s, skv, d;
  bool causal;
  double scale;
  char qe[8], ke[8], ve[8], oe[8]; /* element types: q, k, v, out (dout for the gradient) */
} Attn;

enum { BQ = 64 }; /* query rows (threads) per block */

static int64_t keyTile(int64_t d) { return d <= 64 ? 64 : 32; }

/* The per-query-row part shared by the forward and the statistics launch: block = BQ query rows of one
 * (b, h). Loads the row into q[], runs the online softmax over the keys, leaves m, l, acc[] (unnormalised)
 * in *m, *l, acc, and the row's index values in *qrow (flat element offset), *valid. */
typedef struct {
  GV by, bx, tx, i, ic, valid, qrow, b, h, hk, kb;
} RowCtx;

static void rowSetup(GT *g, const Attn *a, RowCtx *c) {
  snprintf(c->bx.s, sizeof c->bx.s, "%%bx");
  snprintf(c->by.s, sizeof c->by.s, "%%by");
  snprintf(c->tx.s, sizeof c->tx.s, "%%tx");
  c->b = gtDivC(g, c->by, a->hq);
  c->h = gtRemC(g, c->by, a->hq);
  c->hk = gtDivC(g, c->h, a->g);
  GV i0 = gtMulC(g, c->bx, BQ);
  c->i = gtAdd(g, i0, c->tx);
  c->valid = gtVal(g, "arith.cmpi ult, %s, %s : index", c->i.s, gtIdx(g, a->s).s);
  c->ic = gtMin(g, c->i, gtIdx(g, a->s - 1));
  c->qrow = gtMulC(g, gtAdd(g, gtMulC(g, c->by, a->s), c->ic), a->d);
  c->kb = gtMulC(g, gtAdd(g, gtMulC(g, c->b, a->hkv), c->hk), a->skv * a->d);
}

/* The loop over the key tiles of one query row, shared by the forward, the statistics and dq: the keys this
 * block needs (all, or up to its last query row when causal) in tiles of keyTile(d) rows of k and v loaded
 * into shared %shk, %shv between barriers, and inside each tile the keys this row may see. keyLoopOpen leaves
 * the text inside the inner loop, with the n iteration values in kl->in (initialised from init) and the key's
 * offset in the tile in kl->base; keyLoopClose yields next from both loops and gives their results in out. */
typedef struct {
  GV tiles, keys; /* the two loops' result names */
  GV in[2 + 128], base;
  int n;
} KeyLoop;

static void keyLoopOpen(GT *g, const Attn *a, const RowCtx *c, const GV *init, int n, KeyLoop *kl) {
  int64_t d = a->d, bk = keyTile(d), nk = a->b * a->hkv * a->skv * d;
  kl->n = n;
  GV kend = gtIdx(g, a->skv);
  if (a->causal) kend = gtMin(g, gtAddC(g, gtMulC(g, c->bx, BQ), BQ), kend);
  GV nt = gtVal(g, "arith.ceildivui %s, %s : index", kend.s, gtIdx(g, bk).s);
  GV jlim = a->causal ? gtAddC(g, c->ic, 1) : gtIdx(g, a->skv);
  int tag = g->n++;
  char pre[16], pin[16];
  GV t = {{0}}, j = {{0}};
  snprintf(pre, sizeof pre, "o%d_", tag);
  snprintf(pin, sizeof pin, "p%d_", tag);
  snprintf(t.s, sizeof t.s, "%%tt%d", tag);
  snprintf(j.s, sizeof j.s, "%%jj%d", tag);
  kl->tiles = gtForOpen(g, t.s, gtIdx(g, 0), nt, pre, 0, init, n);
  GV cur[2 + 128];
  gtIterVals(pre, 0, cur, n);
  gtLine(g, "gpu.barrier");
  GV t0 = gtMulC(g, t, bk);
  GV kbase = gtAdd(g, c->kb, gtMulC(g, t0, d));
  GV klimit = gtVal(g, "arith.subi %s, %s : index", gtIdx(g, a->skv).s, t0.s);
  gtTileLoad(g, "%shk", bk, d, "%a1", nk, a->ke, kbase, klimit, c->tx, BQ);
  gtTileLoad(g, "%shv", bk, d, "%a2", nk, a->ve, kbase, klimit, c->tx, BQ);
  gtLine(g, "gpu.barrier");
  GV cnt = gtMin(g, gtVal(g, "arith.subi %s, %s : index", gtMax(g, jlim, t0).s, t0.s), gtIdx(g, bk));
  kl->keys = gtForOpen(g, j.s, gtIdx(g, 0), cnt, pin, 0, cur, n);
  gtIterVals(pin, 0, kl->in, n);
  kl->base = gtMulC(g, j, d);
}

static void keyLoopClose(GT *g, const KeyLoop *kl, const GV *next, GV *out) {
  GV inner[2 + 128];
  gtYield(g, next, kl->n);
  gtLine(g, "}");
  gtResults(kl->keys, inner, kl->n);
  gtYield(g, inner, kl->n);
  gtLine(g, "}");
  gtResults(kl->tiles, out, kl->n);
}

/* The online-softmax loop of one query row over all its keys (K, GV tiles in shared %shk, %shv); q[] holds
 * the query row. Results: out[0] = m, out[1] = l, out[2..] = acc. */
static void onlineSoftmax(GT *g, const Attn *a, const RowCtx *c, const GV *q, GV *out) {
  int64_t d = a->d, bk = keyTile(d);
  int n = 2 + (int)d;
  GV init[2 + 128];
  init[0] = gtF32(g, "0xFF800000");
  init[1] = gtF32(g, "0.0");
  GV zero = gtF32(g, "0.0");
  for (int k = 0; k < d; ++k) init[2 + k] = zero;
  KeyLoop kl;
  keyLoopOpen(g, a, c, init, n, &kl);
  const GV *in = kl.in;
  char scale[40];
  snprintf(scale, sizeof scale, "%.9e", a->scale);
  GV sc = gtVal(g, "arith.mulf %s, %s : f32", gtDotShared(g, q, "%shk", bk * d, kl.base, d).s, gtF32(g, scale).s);
  GV m2 = gtVal(g, "arith.maximumf %s, %s : f32", in[0].s, sc.s);
  GV corr = gtExp(g, gtSubF(g, in[0], m2));
  GV p = gtExp(g, gtSubF(g, sc, m2));
  GV next[2 + 128];
  next[0] = m2;
  next[1] = gtFma(g, in[1], corr, p);
  GV vrow[128];
  gtRowShared(g, vrow, "%shv", bk * d, kl.base, d);
  for (int k = 0; k < d; ++k) next[2 + k] = gtFma(g, p, vrow[k], gtMulF(g, in[2 + k], corr));
  keyLoopClose(g, &kl, next, out);
}


/* gpu.launch header: grid (gx, gy), block nthreads, the given workgroup buffers ("%name : memref<..>"). */

static void kvWorkgroup(char *buf, size_t n, const char *a, const char *b, int64_t elems) {
  snprintf(buf, n, "%%%s : memref<%" PRId64 "xf32, " GT_WG ">, %%%s : memref<%" PRId64 "xf32, " GT_WG ">", a, elems, b, elems);
}

/* The part the forward and the gradient's statistics launch share: a launch of BQ query rows per block, the
 * row's context, its query loaded, the online softmax over the keys (r[0] = m, r[1] = l, r[2..] = the
 * unnormalised output row) and 1 / l. */
static GV rowAttention(GT *g, const Attn *a, RowCtx *c, GV *r) {
  int64_t d = a->d, nq = a->b * a->hq * a->s * d;
  char wg[256];
  kvWorkgroup(wg, sizeof wg, "shk", "shv", keyTile(d) * d);
  gtLaunchOpen(g, (a->s + BQ - 1) / BQ, a->b * a->hq, BQ, wg);
  rowSetup(g, a, c);
  GV q[128];
  gtLoadRow(g, q, "%a0", nq, a->qe, c->qrow, d);
  onlineSoftmax(g, a, c, q, r);
  return gtVal(g, "arith.divf %s, %s : f32", gtF32(g, "1.0").s, r[1].s);
}

/* ---- cube.attention ---------------------------------------------------------------------------------- */

static void genForward(GT *g, const Attn *a) {
  int64_t d = a->d, nq = a->b * a->hq * a->s * d;
  RowCtx c;
  GV r[2 + 128];
  GV inv = rowAttention(g, a, &c, r);
  gtLine(g, "scf.if %s {", c.valid.s);
  for (int k = 0; k < d; ++k) gtStoreF32(g, gtMulF(g, r[2 + k], inv), "%a3", nq, a->oe, gtAddC(g, c.qrow, k));
  gtLine(g, "}");
  gtLine(g, "gpu.terminator");
  gtLine(g, "}");
}

/* ---- cube.attention_grad ----------------------------------------------------------------------------- */
/* Arguments: %a0 q, %a1 k, %a2 v, %a3 dout, %a4 lse, %a5 delta (scratch), %a6 dq, %a7 dk, %a8 dv. */

static void genStats(GT *g, const Attn *a) {
  int64_t d = a->d, nq = a->b * a->hq * a->s * d, rows = a->b * a->hq * a->s;
  RowCtx c;
  GV r[2 + 128];
  GV inv = rowAttention(g, a, &c, r);
  GV delta = gtF32(g, "0.0");
  for (int k = 0; k < d; ++k) {
    GV o = gtMulF(g, r[2 + k], inv);
    if (strcmp(a->qe, "f32")) o = gtVal(g, "arith.extf %s : %s to f32", gtVal(g, "arith.truncf %s : f32 to %s", o.s, a->qe).s, a->qe);
    delta = gtFma(g, gtLoadF32(g, "%a3", nq, a->oe, gtAddC(g, c.qrow, k)), o, delta);
  }
  GV lse = gtVal(g, "arith.addf %s, %s : f32", r[0].s, gtVal(g, "math.log %s : f32", r[1].s).s);
  GV row = gtAdd(g, gtMulC(g, c.by, a->s), c.ic);
  gtLine(g, "scf.if %s {", c.valid.s);
  gtLine(g, "memref.store %s, %%a4[%s] : memref<%" PRId64 "xf32>", lse.s, row.s, rows);
  gtLine(g, "memref.store %s, %%a5[%s] : memref<%" PRId64 "xf32>", delta.s, row.s, rows);
  gtLine(g, "}");
  gtLine(g, "gpu.terminator");
  gtLine(g, "}");
}

static void genDq(GT *g, const Attn *a) {
  int64_t d = a->d, nq = a->b * a->hq * a->s * d, rows = a->b * a->hq * a->s;
  int64_t bk = keyTile(d);
  char wg[256], scale[40];
  snprintf(scale, sizeof scale, "%.9e", a->scale);
  kvWorkgroup(wg, sizeof wg, "shk", "shv", bk * d);
  gtLaunchOpen(g, (a->s + BQ - 1) / BQ, a->b * a->hq, BQ, wg);
  RowCtx c;
  rowSetup(g, a, &c);
  GV q[128], dO[128];
  gtLoadRow(g, q, "%a0", nq, a->qe, c.qrow, d);
  gtLoadRow(g, dO, "%a3", nq, a->oe, c.qrow, d);
  GV row = gtAdd(g, gtMulC(g, c.by, a->s), c.ic);
  GV lse = gtVal(g, "memref.load %%a4[%s] : memref<%" PRId64 "xf32>", row.s, rows);
  GV delta = gtVal(g, "memref.load %%a5[%s] : memref<%" PRId64 "xf32>", row.s, rows);
  GV init[128], zero = gtF32(g, "0.0");
  for (int k = 0; k < d; ++k) init[k] = zero;
  KeyLoop kl;
  keyLoopOpen(g, a, &c, init, (int)d, &kl);
  const GV *in = kl.in;
  GV base = kl.base;
  GV s = gtMulF(g, gtDotShared(g, q, "%shk", bk * d, base, d), gtF32(g, scale));
  GV p = gtExp(g, gtSubF(g, s, lse));
  GV dp = gtDotShared(g, dO, "%shv", bk * d, base, d);
  GV ds = gtMulF(g, p, gtSubF(g, dp, delta));
  GV krow[128], next[128];
  gtRowShared(g, krow, "%shk", bk * d, base, d);
  for (int k = 0; k < d; ++k) next[k] = gtFma(g, ds, krow[k], in[k]);
  GV out[128];
  keyLoopClose(g, &kl, next, out);
  GV sc = gtF32(g, scale);
  gtLine(g, "scf.if %s {", c.valid.s);
  for (int k = 0; k < d; ++k) gtStoreF32(g, gtMulF(g, out[k], sc), "%a6", nq, a->qe, gtAddC(g, c.qrow, k));
  gtLine(g, "}");
  gtLine(g, "gpu.terminator");
  gtLine(g, "}");
}

enum { BKV = 64 }; /* key rows (threads) per block of the dk/dv launches */

static int64_t queryTile(int64_t d) { return d <= 64 ? 64 : 32; }

/* dv (withDk false) or dk (true): one thread per key row j of kv head (b, hk), looping over the G query
 * heads and their query rows i >= j (causal). */
static void genDkv(GT *g, const Attn *a, bool withDk) {
  int64_t d = a->d, nq = a->b * a->hq * a->s * d, nk = a->b * a->hkv * a->skv * d, rows = a->b * a->hq * a->s;
  int64_t bq = queryTile(d);
  char wg[512], scale[40];
  snprintf(scale, sizeof scale, "%.9e", a->scale);
  snprintf(wg, sizeof wg,
           "%%shq : memref<%" PRId64 "xf32, " GT_WG ">, %%sho : memref<%" PRId64 "xf32, " GT_WG ">, %%shl : memref<%" PRId64
           "xf32, " GT_WG ">, %%shd : memref<%" PRId64 "xf32, " GT_WG ">",
           bq * d, bq * d, bq, bq);
  gtLaunchOpen(g, (a->skv + BKV - 1) / BKV, a->b * a->hkv, BKV, wg);
  GV bx = {"%bx"}, by = {"%by"}, tx = {"%tx"};
  GV b = gtDivC(g, by, a->hkv), hk = gtRemC(g, by, a->hkv);
  GV j = gtAdd(g, gtMulC(g, bx, BKV), tx);
  GV valid = gtVal(g, "arith.cmpi ult, %s, %s : index", j.s, gtIdx(g, a->skv).s);
  GV jc = gtMin(g, j, gtIdx(g, a->skv - 1));
  GV krow = gtMulC(g, gtAdd(g, gtMulC(g, by, a->skv), jc), d);
  GV k[128], v[128];
  gtLoadRow(g, k, "%a1", nk, a->ke, krow, d);
  if (withDk) gtLoadRow(g, v, "%a2", nk, a->ve, krow, d);
  GV init[128], zero = gtF32(g, "0.0");
  for (int x = 0; x < d; ++x) init[x] = zero;
  /* query tiles: causal blocks start at the tile of their first key row */
  GV tfirst = a->causal ? gtDivC(g, gtMulC(g, bx, BKV), bq) : gtIdx(g, 0);
  GV ntiles = gtIdx(g, (a->s + bq - 1) / bq);
  GV gres = gtForOpen(g, "%hg", gtIdx(g, 0), gtIdx(g, a->g), "ga", 0, init, (int)d);
  GV gcur[128];
  gtIterVals("ga", 0, gcur, (int)d);
  GV h = gtAdd(g, gtMulC(g, hk, a->g), (GV){"%hg"});
  GV qhead = gtMul(g, gtAdd(g, gtMulC(g, b, a->hq), h), gtIdx(g, a->s)); /* first row of (b, h) */
  GV tres = gtForOpen(g, "%tk", tfirst, ntiles, "ta", 0, gcur, (int)d);
  GV tcur[128];
  gtIterVals("ta", 0, tcur, (int)d);
  GV i0 = gtMulC(g, (GV){"%tk"}, bq);
  GV qlimit = gtVal(g, "arith.subi %s, %s : index", gtIdx(g, a->s).s, i0.s);
  GV rowBase = gtAdd(g, qhead, i0);
  gtLine(g, "gpu.barrier");
  gtTileLoad(g, "%shq", bq, d, "%a0", nq, a->qe, gtMulC(g, rowBase, d), qlimit, tx, BKV);
  gtTileLoad(g, "%sho", bq, d, "%a3", nq, a->oe, gtMulC(g, rowBase, d), qlimit, tx, BKV);
  gtTileLoad(g, "%shl", bq, 1, "%a4", rows, "f32", rowBase, qlimit, tx, BKV);
  gtTileLoad(g, "%shd", bq, 1, "%a5", rows, "f32", rowBase, qlimit, tx, BKV);
  gtLine(g, "gpu.barrier");
  GV rcnt = gtMin(g, qlimit, gtIdx(g, bq));
  GV rfirst = a->causal ? gtMin(g, gtVal(g, "arith.subi %s, %s : index", gtMax(g, jc, i0).s, i0.s), rcnt) : gtIdx(g, 0);
  GV ires = gtForOpen(g, "%rk", rfirst, rcnt, "ra", 0, tcur, (int)d);
  GV in[128];
  gtIterVals("ra", 0, in, (int)d);
  GV r = {"%rk"};
  GV base = gtMulC(g, r, d);
  GV s = gtMulF(g, gtDotShared(g, k, "%shq", bq * d, base, d), gtF32(g, scale));
  GV lse = gtVal(g, "memref.load %%shl[%s] : memref<%" PRId64 "xf32, " GT_WG ">", r.s, bq);
  GV p = gtExp(g, gtSubF(g, s, lse));
  GV next[128], other[128];
  if (!withDk) {
    gtRowShared(g, other, "%sho", bq * d, base, d);
    for (int x = 0; x < d; ++x) next[x] = gtFma(g, p, other[x], in[x]);
  } else {
    GV dp = gtDotShared(g, v, "%sho", bq * d, base, d);
    GV delta = gtVal(g, "memref.load %%shd[%s] : memref<%" PRId64 "xf32, " GT_WG ">", r.s, bq);
    GV ds = gtMulF(g, p, gtSubF(g, dp, delta));
    gtRowShared(g, other, "%shq", bq * d, base, d);
    for (int x = 0; x < d; ++x) next[x] = gtFma(g, ds, other[x], in[x]);
  }
  gtYield(g, next, (int)d);
  gtLine(g, "}");
  GV ir[128];
  gtResults(ires, ir, (int)d);
  gtYield(g, ir, (int)d);
  gtLine(g, "}");
  GV tr[128];
  gtResults(tres, tr, (int)d);
  gtYield(g, tr, (int)d);
  gtLine(g, "}");
  GV out[128];
  gtResults(gres, out, (int)d);
  GV sc = gtF32(g, withDk ? scale : "1.0");
  gtLine(g, "scf.if %s {", valid.s);
  for (int x = 0; x < d; ++x)
    gtStoreF32(g, withDk ? gtMulF(g, out[x], sc) : out[x], withDk ? "%a7" : "%a8", nk, withDk ? a->ke : a->ve,
             gtAddC(g, krow, x));
  gtLine(g, "}");
  gtLine(g, "gpu.terminator");
  gtLine(g, "}");
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
  GT g = {out, 0};
  char e[9][8];
  const char *names[9] = {a.qe, a.ke, a.ve, a.oe, "f32", "f32", a.qe, a.ke, a.ve};
  for (int i = 0; i < 9; ++i) snprintf(e[i], sizeof e[i], "%s", names[i]);
  int64_t sizes[9] = {nq, nk, nk, nq, rows, rows, nq, nk, nk};
  gtFuncOpen(&g, name, grad ? 9 : 4, sizes, e); /* the forward: q, k, v, out; the gradient: q, k, v, dout, lse, delta, dq, dk, dv */
  if (!grad && cubeGpuAttentionMmaApplies(op)) {
    cubeGpuAttentionMmaForward(&g, a.b, a.hq, a.hkv, a.s, a.scale);
  } else if (!grad) {
    genForward(&g, &a);
  } else {
    genStats(&g, &a);
    genDq(&g, &a);
    genDkv(&g, &a, false);
    genDkv(&g, &a, true);
  }
  gtLine(&g, "return");
  gtLine(&g, "}");
  return true;
}
