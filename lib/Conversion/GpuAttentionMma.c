/* The causal attention forward on tensor cores (target=cuda, bf16, head dim 64): FlashAttention-2's forward
 * with `mma.sync.m16n8k16` (bf16 inputs, f32 accumulators), so that the S x S scores never reach memory.
 * MLIR 22's gpu.subgroup_mma_* and nvgpu.mma.sync take no bf16, so the mma is inline PTX; everything else
 * is the gpu dialect of cube/GpuText.h.
 *
 * Grid (S / 64, B * Hq), 128 threads: warp w owns query rows r0 = 64 qt + 16 w .. r0 + 15 of one (b, h),
 * with qt = S / 64 - 1 - bx: the blocks with the most key tiles (causal) start first. (Blocks of 128 rows and
 * 8 warps measured the same at batch 8 x 1024 and slower at 2 x 1024.)
 * In the mma fragment layouts (PTX ISA, "mma.m16n8k16"), lane = 4 g + c holds rows g and g + 8 and columns
 * 2c, 2c + 1 (+ 8) of each 16 x 16 A tile and 16 x 8 C tile. Each warp keeps its Q as A fragments (4 k-steps
 * over D = 64) and its output as 8 C tiles (D = 64 columns); for each 64-key tile up to the diagonal:
 *   K (as 32-bit pairs along D) and V transposed (pairs along the keys) are copied to shared memory;
 *   S = Q K^T: 8 C tiles of 8 keys; scaled, masked causally (key > query: -inf);
 *   online softmax per row: m' = max(m, rowmax S) across the 4 lanes of a row (xor shuffles 1, 2),
 *   alpha = exp(m - m'), P = exp(S - m'), l = alpha l + rowsum P (lane partials), O *= alpha;
 *   O += P V, P's C tiles repacked as bf16 A fragments in registers (two C tiles per 16-key k-step).
 * At the end l is summed over the row's 4 lanes and O / l is stored as bf16. The numerics: f32 scores and
 * statistics, P rounded to bf16 for the P V product (as the matmul path's bf16 softmax output). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cube/GpuKernels.h"
#include "cube/GpuText.h"
#include "cube/Ops.h"
#include "mlir-c/BuiltinTypes.h"

enum { D = 64, BQ = 64, BK = 64, NTHREADS = 2 * BQ, NT8 = D / 8, KSTEPS = D / 16, ROW = 36 /* words per smem row */ };

static const char *kSmem = "%ksh : memref<2304xi32, " GT_WG ">, %vsh : memref<2304xi32, " GT_WG ">";

bool cubeGpuAttentionMmaApplies(MlirOperation op) {
  if (!cubeIsOp(op, "attention") || mlirOperationGetNumOperands(op) != 3) return false;
  MlirType t[4] = {mlirValueGetType(mlirOperationGetOperand(op, 0)), mlirValueGetType(mlirOperationGetOperand(op, 1)),
                   mlirValueGetType(mlirOperationGetOperand(op, 2)), mlirValueGetType(mlirOperationGetResult(op, 0))};
  for (int i = 0; i < 4; ++i) {
    char e[8];
    if (kgRank(t[i]) != 4 || !kgEltName(mlirShapedTypeGetElementType(t[i]), e, sizeof e) || strcmp(e, "bf16"))
      return false;
  }
  bool causal = false;
  cubeGetBoolAttr(op, "causal", &causal);
  int64_t hq = kgDim(t[0], 1), hkv = kgDim(t[1], 1), s = kgDim(t[0], 2);
  return causal && kgDim(t[0], 3) == D && kgDim(t[1], 3) == D && kgDim(t[2], 3) == D && kgDim(t[1], 2) == s &&
         kgDim(t[2], 2) == s && kgDim(t[2], 1) == hkv && hkv > 0 && hq % hkv == 0 && s % BQ == 0 && s > 0;
}

/* An i32 holding the bf16 pair at arg[idx], arg[idx + 1]. */
static GV loadPair(GT *g, const char *arg, int64_t n, GV idx) {
  GV v = gtVal(g, "vector.load %s[%s] {alignment = 4 : i64} : memref<%" PRId64 "xbf16>, vector<2xbf16>", arg, idx.s,
               n);
  GV w = gtVal(g, "vector.bitcast %s : vector<2xbf16> to vector<1xi32>", v.s);
  return gtVal(g, "vector.extract %s[0] : i32 from vector<1xi32>", w.s);
}

/* The bf16 pair (lo, hi) as an i32 (lo in the low half): one mma fragment register. */
static GV packBf16(GT *g, GV lo, GV hi) {
  GV v = gtVal(g, "vector.from_elements %s, %s : vector<2xbf16>", lo.s, hi.s);
  return gtVal(g, "vector.extract %s[0] : i32 from vector<1xi32>",
               gtVal(g, "vector.bitcast %s : vector<2xbf16> to vector<1xi32>", v.s).s);
}

/* The f32 pair (lo, hi) rounded to bf16 and packed. */
static GV pack(GT *g, GV lo, GV hi) {
  GV a = gtVal(g, "arith.truncf %s : f32 to bf16", lo.s), b = gtVal(g, "arith.truncf %s : f32 to bf16", hi.s);
  return packBf16(g, a, b);
}

/* d = a b + c for one m16n8k16 tile (a: 4 i32, b: 2 i32, c and d: 4 f32). */
static void mma(GT *g, const GV *a, const GV *b, const GV *c, GV *d) {
  GV r = gtVal(g,
               "llvm.inline_asm asm_dialect = att \"mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
               "{$0,$1,$2,$3}, {$4,$5,$6,$7}, {$8,$9}, {$10,$11,$12,$13};\", \"=f,=f,=f,=f,r,r,r,r,r,r,f,f,f,f\" "
               "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s : (i32, i32, i32, i32, i32, i32, f32, f32, f32, f32) -> "
               "!llvm.struct<(f32, f32, f32, f32)>",
               a[0].s, a[1].s, a[2].s, a[3].s, b[0].s, b[1].s, c[0].s, c[1].s, c[2].s, c[3].s);
  for (int i = 0; i < 4; ++i) d[i] = gtVal(g, "llvm.extractvalue %s[%d] : !llvm.struct<(f32, f32, f32, f32)>", r.s, i);
}

/* The max (or sum) of x over the 4 lanes that hold one row (lanes 4g .. 4g + 3). */
static GV quadReduce(GT *g, GV x, bool isMax) {
  GV width = gtVal(g, "arith.constant 32 : i32");
  for (int off = 1; off <= 2; off *= 2) {
    GV o = gtVal(g, "arith.constant %d : i32", off);
    char got[40];
    snprintf(got, sizeof got, "%%sh%d", g->n++);
    gtLine(g, "%s:2 = gpu.shuffle xor %s, %s, %s : f32", got, x.s, o.s, width.s);
    GV y;
    snprintf(y.s, sizeof y.s, "%.36s#0", got);
    x = gtCombine(g, x, y, isMax);
  }
  return x;
}

/* K tile -> ksh[key * ROW + d / 2] (pairs along D); V tile -> vsh[d * ROW + key / 2] (pairs along the keys),
 * from global rows kRow0 .. kRow0 + 63 of (b, hk). Rows of ROW = 36 words, not 32: the fragment reads of a
 * warp (rows g = 0..7, words c = 0..3) then fall in 32 different banks; consecutive lanes store V pairs of
 * consecutive keys for the same reason. */
/* Rows kRow0 .. kRow0 + 63 of a [*, 64] bf16 argument -> ksh[row * ROW + d / 2] (pairs along D). */
static void loadRowsPairs(GT *g, const char *arg, int64_t nk, GV kvBase, GV kRow0, GV tx) {
  for (int i = 0; i < BK * D / 8 / NTHREADS; ++i) { /* 512 vectors of 8, 4 per thread */
    GV u = gtAddC(g, tx, (int64_t)i * NTHREADS);
    GV key = gtDivC(g, u, D / 8), d0 = gtMulC(g, gtRemC(g, u, D / 8), 8);
    GV at = gtAdd(g, kvBase, gtAdd(g, gtMulC(g, gtAdd(g, kRow0, key), D), d0));
    GV v = gtVal(g, "vector.load %s[%s] {alignment = 16 : i64} : memref<%" PRId64 "xbf16>, vector<8xbf16>", arg, at.s, nk);
    GV w = gtVal(g, "vector.bitcast %s : vector<8xbf16> to vector<4xi32>", v.s);
    gtLine(g, "vector.store %s, %%ksh[%s] : memref<2304xi32, " GT_WG ">, vector<4xi32>", w.s,
           gtAdd(g, gtMulC(g, key, ROW), gtDivC(g, d0, 2)).s);
  }
}

static void loadTile(GT *g, int64_t nk, GV kvBase, GV kRow0, GV tx) {
  loadRowsPairs(g, "%a1", nk, kvBase, kRow0, tx); /* K */
  for (int i = 0; i < BK / 2 * D / 8 / NTHREADS; ++i) { /* V: 32 key pairs x 8 vectors of 8, 2 per thread */
    GV u = gtAddC(g, tx, (int64_t)i * NTHREADS);
    GV kp = gtRemC(g, u, BK / 2), d0 = gtMulC(g, gtDivC(g, u, BK / 2), 8);
    GV row = gtAdd(g, kRow0, gtMulC(g, kp, 2));
    GV at0 = gtAdd(g, kvBase, gtAdd(g, gtMulC(g, row, D), d0)), at1 = gtAddC(g, at0, D);
    GV v0 = gtVal(g, "vector.load %%a2[%s] {alignment = 16 : i64} : memref<%" PRId64 "xbf16>, vector<8xbf16>", at0.s,
                  nk);
    GV v1 = gtVal(g, "vector.load %%a2[%s] {alignment = 16 : i64} : memref<%" PRId64 "xbf16>, vector<8xbf16>", at1.s,
                  nk);
    for (int k = 0; k < 8; ++k) {
      GV x0 = gtVal(g, "vector.extract %s[%d] : bf16 from vector<8xbf16>", v0.s, k);
      GV x1 = gtVal(g, "vector.extract %s[%d] : bf16 from vector<8xbf16>", v1.s, k);
      GV p = packBf16(g, x0, x1);
      gtLine(g, "memref.store %s, %%vsh[%s] : memref<2304xi32, " GT_WG ">", p.s,
             gtAdd(g, gtMulC(g, gtAddC(g, d0, k), ROW), kp).s);
    }
  }
}

/* The A fragments of rows lo and hi of a [*, 64] bf16 argument (k-step t covers d 16t .. 16t + 15). */
static void aFrags(GT *g, const char *arg, int64_t n, GV lo, GV hi, GV cq, GV qa[KSTEPS][4]) {
  for (int t = 0; t < KSTEPS; ++t) {
    GV col = gtAddC(g, gtMulC(g, cq, 2), 16 * t);
    qa[t][0] = loadPair(g, arg, n, gtAdd(g, lo, col));
    qa[t][1] = loadPair(g, arg, n, gtAdd(g, hi, col));
    qa[t][2] = loadPair(g, arg, n, gtAdd(g, lo, gtAddC(g, col, 8)));
    qa[t][3] = loadPair(g, arg, n, gtAdd(g, hi, gtAddC(g, col, 8)));
  }
}

/* Vector i (of 8 bf16, 4 per thread) of the 64 x 64 tile of rows 64 qt.., keys kRow.. of an [*, rows, s] score
 * tensor at pBase: its element in global memory and its word in a shared tile of ROW words per row. */
static void tileVec(GT *g, int i, GV qt, GV kRow, int64_t s, GV pBase, GV *at, GV *word) {
  GV u = gtAddC(g, (GV){"%tx"}, (int64_t)i * NTHREADS);
  GV row = gtDivC(g, u, BK / 8), c8 = gtMulC(g, gtRemC(g, u, BK / 8), 8);
  *at = gtAdd(g, pBase, gtAdd(g, gtMulC(g, gtAdd(g, gtMulC(g, qt, BQ), row), s), gtAdd(g, kRow, c8)));
  if (word) *word = gtAdd(g, gtMulC(g, row, ROW), gtDivC(g, c8, 2));
}

/* The tile of rows 64 qt.., keys kRow.. of `arg` (an [*, rows, s] score tensor) as zeros, 16-byte stores. */
static void zeroTile(GT *g, const char *arg, int64_t np, GV qt, GV kRow, int64_t s, GV pBase) {
  GV zv = gtVal(g, "arith.constant dense<0.0> : vector<8xbf16>"), at;
  for (int i = 0; i < BQ * BK / 8 / NTHREADS; ++i) {
    tileVec(g, i, qt, kRow, s, pBase, &at, NULL);
    gtLine(g, "vector.store %s, %s[%s] {alignment = 16 : i64} : memref<%" PRId64 "xbf16>, vector<8xbf16>", zv.s, arg,
           at.s, np);
  }
}

/* The shared tile `smem` (ROW words per row) to the tile of rows 64 qt.., keys kRow.. of `arg`, 16-byte stores. */
static void storeTile(GT *g, const char *smem, const char *arg, int64_t np, GV qt, GV kRow, int64_t s, GV pBase) {
  GV at, word;
  for (int i = 0; i < BQ * BK / 8 / NTHREADS; ++i) {
    tileVec(g, i, qt, kRow, s, pBase, &at, &word);
    GV w = gtVal(g, "vector.load %s[%s] : memref<2304xi32, " GT_WG ">, vector<4xi32>", smem, word.s);
    gtLine(g, "vector.store %s, %s[%s] {alignment = 16 : i64} : memref<%" PRId64 "xbf16>, vector<8xbf16>",
           gtVal(g, "vector.bitcast %s : vector<4xi32> to vector<8xbf16>", w.s).s, arg, at.s, np);
  }
}

/* C tile j (rows lo/hi of the warp, columns 8j + 2c (+1)) of A B^T with A the warp's fragments and B the 64
 * rows in ksh (pairs along D): S = Q K^T in the forward, dP = dO V^T in the dS kernel. */
static void kTileMma(GT *g, GV qa[KSTEPS][4], GV gq, GV cq, int j, GV c[4]) {
  GV zero = gtF32(g, "0.0");
  for (int i = 0; i < 4; ++i) c[i] = zero;
  GV kw = gtAdd(g, gtMulC(g, gtAddC(g, gq, 8 * j), ROW), cq); /* ksh word of (row 8j + g, d 2c) */
  for (int t = 0; t < KSTEPS; ++t) {
    GV kb[2] = {gtVal(g, "memref.load %%ksh[%s] : memref<2304xi32, " GT_WG ">", gtAddC(g, kw, 8 * t).s),
                gtVal(g, "memref.load %%ksh[%s] : memref<2304xi32, " GT_WG ">", gtAddC(g, kw, 8 * t + 4).s)};
    mma(g, qa[t], kb, c, c);
  }
}

/* The 8 C tiles of S = Q K^T (keys kRow0 + 8j + 2c (+1), rows lo/hi at positions posLo/posHi), scaled, masked
 * causally (key > position: -inf). */
static void scoreTile(GT *g, GV qa[KSTEPS][4], GV gq, GV cq, GV kRow0, GV posLo, GV posHi, GV sc, GV sacc[8][4]) {
  GV ninf = gtF32(g, "0xFF800000");
  for (int j = 0; j < 8; ++j) {
    GV c[4];
    kTileMma(g, qa, gq, cq, j, c);
    for (int i = 0; i < 4; ++i) {
      GV key = gtAdd(g, kRow0, gtAddC(g, gtMulC(g, cq, 2), 8 * j + (i & 1)));
      GV masked = gtVal(g, "arith.cmpi ugt, %s, %s : index", key.s, (i < 2 ? posLo : posHi).s);
      sacc[j][i] = gtVal(g, "arith.select %s, %s, %s : f32", masked.s, ninf.s, gtMulF(g, c[i], sc).s);
    }
  }
}

/* O += P V for one 64-key tile: pw[j][r] the bf16 pair of P at rows lo/hi, keys 8j + 2c (+1); P's tiles 2t,
 * 2t + 1 are the A fragment of k-step t (keys 16t .. 16t + 15); V transposed in vsh. */
static void pvMma(GT *g, GV pw[8][2], GV gq, GV cq, GV o[NT8][4]) {
  for (int t = 0; t < BK / 16; ++t) {
    GV pa[4] = {pw[2 * t][0], pw[2 * t][1], pw[2 * t + 1][0], pw[2 * t + 1][1]};
    for (int n = 0; n < NT8; ++n) {
      GV vw = gtAdd(g, gtMulC(g, gtAddC(g, gq, 8 * n), ROW), gtAddC(g, cq, 8 * t)); /* vsh word (d 8n+g, key 16t+2c) */
      GV vb[2] = {gtVal(g, "memref.load %%vsh[%s] : memref<2304xi32, " GT_WG ">", vw.s),
                  gtVal(g, "memref.load %%vsh[%s] : memref<2304xi32, " GT_WG ">", gtAddC(g, vw, 4).s)};
      mma(g, pa, vb, o[n], o[n]);
    }
  }
}

/* The output's C tiles acc[4 n + i] (times inv[r] of the row when inv is given) as bf16 pairs at rows lo/hi
 * (elements qLo/qHi of `arg`), columns 8n + 2c (+1). */
static void storeOut(GT *g, const char *arg, int64_t n, GV qLo, GV qHi, GV cq, const GV *acc, const GV *inv) {
  for (int t = 0; t < NT8; ++t)
    for (int r = 0; r < 2; ++r) {
      GV lo = acc[4 * t + 2 * r], hi = acc[4 * t + 2 * r + 1];
      if (inv) lo = gtMulF(g, lo, inv[r]), hi = gtMulF(g, hi, inv[r]);
      GV w = pack(g, lo, hi);
      GV at = gtAdd(g, r ? qHi : qLo, gtAddC(g, gtMulC(g, cq, 2), 8 * t));
      GV v = gtVal(g, "vector.bitcast %s : vector<1xi32> to vector<2xbf16>",
                   gtVal(g, "vector.broadcast %s : i32 to vector<1xi32>", w.s).s);
      gtLine(g, "vector.store %s, %s[%s] {alignment = 4 : i64} : memref<%" PRId64 "xbf16>, vector<2xbf16>", v.s, arg,
             at.s, n);
    }
}

void cubeGpuAttentionMmaForward(GT *g, int64_t b, int64_t hq, int64_t hkv, int64_t s, double scale) {
  int64_t nq = b * hq * s * D, nk = b * hkv * s * D;
  gtLaunchOpen(g, s / BQ, b * hq, NTHREADS, kSmem);
  GV tx = {"%tx"}, bx = {"%bx"}, by = {"%by"};
  GV warp = gtDivC(g, tx, 32), lane = gtRemC(g, tx, 32), gq = gtDivC(g, lane, 4), cq = gtRemC(g, lane, 4);
  GV h = gtRemC(g, by, hq), hk = gtDivC(g, h, hq / hkv), bb = gtDivC(g, by, hq);
  GV qBase = gtMulC(g, by, s * D);
  GV kvBase = gtMulC(g, gtAdd(g, gtMulC(g, bb, hkv), hk), s * D);
  GV qt = gtVal(g, "arith.subi %s, %s : index", gtIdx(g, s / BQ - 1).s, bx.s);
  GV r0 = gtAdd(g, gtMulC(g, qt, BQ), gtMulC(g, warp, 16));
  GV rowLo = gtAdd(g, r0, gq), rowHi = gtAddC(g, rowLo, 8);
  /* Q as A fragments: k-step t covers d 16t .. 16t + 15 */
  GV qa[KSTEPS][4];
  GV qLo = gtAdd(g, qBase, gtMulC(g, rowLo, D)), qHi = gtAdd(g, qBase, gtMulC(g, rowHi, D));
  aFrags(g, "%a0", nq, qLo, qHi, cq, qa);
  char st[40];
  snprintf(st, sizeof st, "%.9e", (double)(float)scale);
  GV sc = gtF32(g, st), ninf = gtF32(g, "0xFF800000"), zero = gtF32(g, "0.0");
  /* loop state: m (rows g, g+8), l partials (g, g+8), O: 8 tiles x 4 */
  enum { NSTATE = 4 + NT8 * 4 };
  GV init[NSTATE];
  init[0] = init[1] = ninf;
  for (int i = 2; i < NSTATE; ++i) init[i] = zero;
  GV res = gtForOpen(g, "%kt", gtIdx(g, 0), gtMulC(g, gtAddC(g, qt, 1), BQ / BK), "fa", 0, init, NSTATE);
  GV cur[NSTATE];
  gtIterVals("fa", 0, cur, NSTATE);
  GV kt = {"%kt"}, kRow0 = gtMulC(g, kt, BK);
  gtLine(g, "gpu.barrier");
  loadTile(g, nk, kvBase, kRow0, tx);
  gtLine(g, "gpu.barrier");
  /* S = Q K^T, 8 tiles of 8 keys */
  GV sacc[8][4], mt[2] = {ninf, ninf};
  scoreTile(g, qa, gq, cq, kRow0, rowLo, rowHi, sc, sacc); /* no stacked heads: a row's position is the row */
  for (int j = 0; j < 8; ++j)
    for (int i = 0; i < 4; ++i) mt[i / 2] = gtCombine(g, mt[i / 2], sacc[j][i], true);
  GV mNew[2], alpha[2], lsum[2];
  for (int r = 0; r < 2; ++r) {
    mNew[r] = gtCombine(g, cur[r], quadReduce(g, mt[r], true), true);
    alpha[r] = gtExp(g, gtSubF(g, cur[r], mNew[r]));
    lsum[r] = gtMulF(g, cur[2 + r], alpha[r]);
  }
  GV p[8][4], pw[8][2];
  for (int j = 0; j < 8; ++j) {
    for (int i = 0; i < 4; ++i) {
      p[j][i] = gtExp(g, gtSubF(g, sacc[j][i], mNew[i / 2]));
      lsum[i / 2] = gtVal(g, "arith.addf %s, %s : f32", lsum[i / 2].s, p[j][i].s);
    }
    for (int r = 0; r < 2; ++r) pw[j][r] = pack(g, p[j][2 * r], p[j][2 * r + 1]);
  }
  /* O = alpha O + P V */
  GV o[NT8][4];
  for (int n = 0; n < NT8; ++n)
    for (int i = 0; i < 4; ++i) o[n][i] = gtMulF(g, cur[4 + 4 * n + i], alpha[i / 2]);
  pvMma(g, pw, gq, cq, o);
  GV next[NSTATE] = {mNew[0], mNew[1], lsum[0], lsum[1]};
  for (int n = 0; n < NT8; ++n)
    for (int i = 0; i < 4; ++i) next[4 + 4 * n + i] = o[n][i];
  gtYield(g, next, NSTATE);
  gtLine(g, "}");
  GV fin[NSTATE];
  gtResults(res, fin, NSTATE);
  GV one = gtF32(g, "1.0"), inv[2];
  for (int r = 0; r < 2; ++r) inv[r] = gtVal(g, "arith.divf %s, %s : f32", one.s, quadReduce(g, fin[2 + r], false).s);
  storeOut(g, "%a3", nq, qLo, qHi, cq, fin + 4, inv);
  gtLine(g, "gpu.terminator");
  gtLine(g, "}");
}

/* ---- the attention gradient's dS on tensor cores ---------------------------------------------------------
 * dS = P * (dO V^T - delta), delta_i = sum_d dO_id O_id (= sum_j P_ij (dO V^T)_ij, FlashAttention-2's
 * identity), for a causal softmax over [BH, R, S] with head dim 64, bf16: it replaces the dP GEMM and the
 * softmax_grad that reads it (cube-group-kernels' row pattern cube.matmul+cube.softmax_grad), so dP never
 * reaches memory. Arguments: %a0 dO [BH, R, 64], %a1 V [BH, S, 64], %a2 P [BH, R, S], %a3 O [BH, R, 64], %a4 dS
 * [BH, R, S]. R = G S stacks the G query heads of a kv head (cube-attention-to-matmul's GQA form): row r sits at
 * position r mod S (the softmax's causal_period).
 * Grid (R / 64, BH), 128 threads: warp w owns rows r0 = 64 qt + 16 w .. r0 + 15 (qt = R / 64 - 1 - bx) with dO
 * as A fragments (as the forward's Q); for each key tile at or below the diagonal the V tile goes to shared
 * memory as the forward's K, dP = dO V^T is 8 C tiles, and each lane reads P and writes dS at its C
 * positions (pairs along the keys) through shared memory, where the tile of P arrives and the tile of dS leaves
 * with coalesced 16-byte accesses; the tiles above the diagonal are written as zeros (16-byte stores). */
void cubeGpuAttentionDsMma(GT *g, int64_t bh, int64_t rows, int64_t s) {
  int64_t nq = bh * rows * D, nv = bh * s * D, np = bh * rows * s;
  gtLaunchOpen(g, rows / BQ, bh, NTHREADS, kSmem);
  GV tx = {"%tx"}, bx = {"%bx"}, by = {"%by"};
  GV warp = gtDivC(g, tx, 32), lane = gtRemC(g, tx, 32), gq = gtDivC(g, lane, 4), cq = gtRemC(g, lane, 4);
  GV base = gtMulC(g, by, rows * D), vBase = gtMulC(g, by, s * D), pBase = gtMulC(g, by, rows * s);
  GV qt = gtVal(g, "arith.subi %s, %s : index", gtIdx(g, rows / BQ - 1).s, bx.s);
  GV diag = gtRemC(g, qt, s / BQ); /* the key tile of the rows' positions */
  GV r0 = gtAdd(g, gtMulC(g, qt, BQ), gtMulC(g, warp, 16));
  GV rowLo = gtAdd(g, r0, gq), rowHi = gtAddC(g, rowLo, 8);
  GV lo = gtAdd(g, base, gtMulC(g, rowLo, D)), hi = gtAdd(g, base, gtMulC(g, rowHi, D));
  GV qa[KSTEPS][4], zero = gtF32(g, "0.0"), dLo = zero, dHi = zero;
  aFrags(g, "%a0", nq, lo, hi, cq, qa);
  for (int t = 0; t < KSTEPS; ++t) { /* delta: dO . O over the row, the lane's columns, then its 4 lanes */
    GV col = gtAddC(g, gtMulC(g, cq, 2), 16 * t);
    GV at[4] = {gtAdd(g, lo, col), gtAdd(g, hi, col), gtAdd(g, lo, gtAddC(g, col, 8)), gtAdd(g, hi, gtAddC(g, col, 8))};
    for (int i = 0; i < 4; ++i) {
      GV o = gtVal(g, "vector.load %%a3[%s] {alignment = 4 : i64} : memref<%" PRId64 "xbf16>, vector<2xbf16>", at[i].s, nq);
      GV d = gtVal(g, "vector.load %%a0[%s] {alignment = 4 : i64} : memref<%" PRId64 "xbf16>, vector<2xbf16>", at[i].s, nq);
      for (int k = 0; k < 2; ++k) {
        GV ok = gtVal(g, "arith.extf %s : bf16 to f32", gtVal(g, "vector.extract %s[%d] : bf16 from vector<2xbf16>", o.s, k).s);
        GV dk = gtVal(g, "arith.extf %s : bf16 to f32", gtVal(g, "vector.extract %s[%d] : bf16 from vector<2xbf16>", d.s, k).s);
        if (i % 2)
          dHi = gtVal(g, "arith.addf %s, %s : f32", dHi.s, gtMulF(g, ok, dk).s);
        else
          dLo = gtVal(g, "arith.addf %s, %s : f32", dLo.s, gtMulF(g, ok, dk).s);
      }
    }
  }
  GV delta[2] = {quadReduce(g, dLo, false), quadReduce(g, dHi, false)};
  gtLine(g, "scf.for %%kt = %s to %s step %s {", gtIdx(g, 0).s, gtIdx(g, s / BK).s, gtIdx(g, 1).s);
  GV kt = {"%kt"}, kRow0 = gtMulC(g, kt, BK);
  GV below = gtVal(g, "arith.cmpi ule, %s, %s : index", kt.s, diag.s);
  gtLine(g, "scf.if %s {", below.s);
  gtLine(g, "gpu.barrier");
  loadRowsPairs(g, "%a1", nv, vBase, kRow0, tx); /* V, as the forward's K */
  /* the P tile -> vsh[row * ROW + key / 2] with coalesced 16-byte loads; dS goes back to the same words */
  for (int i = 0; i < BQ * BK / 8 / NTHREADS; ++i) {
    GV at, word;
    tileVec(g, i, qt, kRow0, s, pBase, &at, &word);
    GV v = gtVal(g, "vector.load %%a2[%s] {alignment = 16 : i64} : memref<%" PRId64 "xbf16>, vector<8xbf16>", at.s, np);
    gtLine(g, "vector.store %s, %%vsh[%s] : memref<2304xi32, " GT_WG ">, vector<4xi32>",
           gtVal(g, "vector.bitcast %s : vector<8xbf16> to vector<4xi32>", v.s).s, word.s);
  }
  gtLine(g, "gpu.barrier");
  GV lrow[2] = {gtAdd(g, gtMulC(g, warp, 16), gq), gtAddC(g, gtAdd(g, gtMulC(g, warp, 16), gq), 8)};
  for (int j = 0; j < 8; ++j) {
    GV c[4];
    kTileMma(g, qa, gq, cq, j, c);
    for (int r = 0; r < 2; ++r) {
      GV w0 = gtAdd(g, gtMulC(g, lrow[r], ROW), gtAddC(g, cq, 4 * j)); /* (row, keys 8j + 2c, + 1) */
      GV pw = gtVal(g, "memref.load %%vsh[%s] : memref<2304xi32, " GT_WG ">", w0.s);
      GV pv = gtVal(g, "vector.bitcast %s : vector<1xi32> to vector<2xbf16>",
                    gtVal(g, "vector.broadcast %s : i32 to vector<1xi32>", pw.s).s);
      GV ds[2];
      for (int k = 0; k < 2; ++k) {
        GV p = gtVal(g, "arith.extf %s : bf16 to f32", gtVal(g, "vector.extract %s[%d] : bf16 from vector<2xbf16>", pv.s, k).s);
        ds[k] = gtMulF(g, p, gtSubF(g, c[2 * r + k], delta[r]));
      }
      gtLine(g, "memref.store %s, %%vsh[%s] : memref<2304xi32, " GT_WG ">", pack(g, ds[0], ds[1]).s, w0.s);
    }
  }
  gtLine(g, "gpu.barrier");
  storeTile(g, "%vsh", "%a4", np, qt, kRow0, s, pBase);
  gtLine(g, "} else {");
  zeroTile(g, "%a4", np, qt, kRow0, s, pBase);
  gtLine(g, "}");
  gtLine(g, "}");
  gtLine(g, "gpu.terminator");
  gtLine(g, "}");
}

/* ---- the recomputed attention's probabilities and output on tensor cores --------------------------------
 * P = softmax(q k^T * scale, causal) and O = P v over [BH, R, S] (R = G S, GQA's stacked query heads, row r at
 * position r mod S), head dim 64, bf16: it replaces the q k^T GEMM, the softmax and the p v GEMM of a
 * recomputed attention (cube-group-kernels' row pattern cube.matmul+cube.softmax+cube.matmul), whose P the
 * backward reads (the dV GEMM, the dS kernel), so S never reaches memory and P is written once. Arguments:
 * %a0 q [BH, R, 64], %a1 k, %a2 v [BH, S, 64], %a3 P [BH, R, S], %a4 O [BH, R, 64].
 * Grid (R / 64, BH), 128 threads, warps as the forward. Pass 1 over the key tiles up to the diagonal: S = q k^T
 * on the tensor cores, the row max m and sum l (online, as the forward). Pass 2 over the same tiles: S again,
 * p = exp(S - m) / l rounded to bf16 (what the unfused softmax stores), written to P through shared memory
 * with 16-byte stores and accumulated into O = p v on the tensor cores; pass 3 writes the tiles above the
 * diagonal as zeros. */
static const char *kSmem3 = "%ksh : memref<2304xi32, " GT_WG ">, %vsh : memref<2304xi32, " GT_WG
                            ">, %psh : memref<2304xi32, " GT_WG ">";

void cubeGpuAttentionProbsMma(GT *g, int64_t bh, int64_t rows, int64_t s, double scale) {
  int64_t nq = bh * rows * D, nk = bh * s * D, np = bh * rows * s;
  gtLaunchOpen(g, rows / BQ, bh, NTHREADS, kSmem3);
  GV tx = {"%tx"}, bx = {"%bx"}, by = {"%by"};
  GV warp = gtDivC(g, tx, 32), lane = gtRemC(g, tx, 32), gq = gtDivC(g, lane, 4), cq = gtRemC(g, lane, 4);
  GV qBase = gtMulC(g, by, rows * D), kvBase = gtMulC(g, by, s * D), pBase = gtMulC(g, by, rows * s);
  GV qt = gtVal(g, "arith.subi %s, %s : index", gtIdx(g, rows / BQ - 1).s, bx.s);
  GV diag = gtRemC(g, qt, s / BQ);
  GV r0 = gtAdd(g, gtMulC(g, qt, BQ), gtMulC(g, warp, 16));
  GV rowLo = gtAdd(g, r0, gq), rowHi = gtAddC(g, rowLo, 8);
  GV posLo = gtRemC(g, rowLo, s), posHi = gtRemC(g, rowHi, s); /* positions (the causal mask) */
  GV qa[KSTEPS][4];
  GV qLo = gtAdd(g, qBase, gtMulC(g, rowLo, D)), qHi = gtAdd(g, qBase, gtMulC(g, rowHi, D));
  aFrags(g, "%a0", nq, qLo, qHi, cq, qa);
  char st[40];
  snprintf(st, sizeof st, "%.9e", (double)(float)scale);
  GV sc = gtF32(g, st), ninf = gtF32(g, "0xFF800000"), zero = gtF32(g, "0.0");
  GV nTiles = gtAddC(g, diag, 1);
  /* pass 1: m (rows lo, hi) and the lane's partial l */
  GV init1[4] = {ninf, ninf, zero, zero};
  GV res1 = gtForOpen(g, "%kt", gtIdx(g, 0), nTiles, "pa", 0, init1, 4);
  GV cur[4];
  gtIterVals("pa", 0, cur, 4);
  GV kRow0 = gtMulC(g, (GV){"%kt"}, BK);
  gtLine(g, "gpu.barrier");
  loadRowsPairs(g, "%a1", nk, kvBase, kRow0, tx);
  gtLine(g, "gpu.barrier");
  GV sacc[8][4], mt[2] = {ninf, ninf};
  scoreTile(g, qa, gq, cq, kRow0, posLo, posHi, sc, sacc);
  for (int j = 0; j < 8; ++j)
    for (int i = 0; i < 4; ++i) mt[i / 2] = gtCombine(g, mt[i / 2], sacc[j][i], true);
  GV next[4];
  for (int r = 0; r < 2; ++r) {
    next[r] = gtCombine(g, cur[r], quadReduce(g, mt[r], true), true);
    next[2 + r] = gtMulF(g, cur[2 + r], gtExp(g, gtSubF(g, cur[r], next[r])));
  }
  for (int j = 0; j < 8; ++j)
    for (int i = 0; i < 4; ++i)
      next[2 + i / 2] = gtVal(g, "arith.addf %s, %s : f32", next[2 + i / 2].s, gtExp(g, gtSubF(g, sacc[j][i], next[i / 2])).s);
  gtYield(g, next, 4);
  gtLine(g, "}");
  GV fin1[4];
  gtResults(res1, fin1, 4);
  GV one = gtF32(g, "1.0"), m[2] = {fin1[0], fin1[1]}, inv[2];
  for (int r = 0; r < 2; ++r) inv[r] = gtVal(g, "arith.divf %s, %s : f32", one.s, quadReduce(g, fin1[2 + r], false).s);
  /* pass 2: P written, O = P V accumulated */
  enum { NO = NT8 * 4 };
  GV init2[NO];
  for (int i = 0; i < NO; ++i) init2[i] = zero;
  GV res2 = gtForOpen(g, "%kt2", gtIdx(g, 0), nTiles, "po", 0, init2, NO);
  GV ocur[NO];
  gtIterVals("po", 0, ocur, NO);
  GV kRow2 = gtMulC(g, (GV){"%kt2"}, BK);
  gtLine(g, "gpu.barrier");
  loadTile(g, nk, kvBase, kRow2, tx);
  gtLine(g, "gpu.barrier");
  scoreTile(g, qa, gq, cq, kRow2, posLo, posHi, sc, sacc);
  GV pw[8][2]; /* the rounded p pairs of rows lo/hi, keys 8j + 2c (+1) */
  GV lrow[2] = {gtAdd(g, gtMulC(g, warp, 16), gq), gtAddC(g, gtAdd(g, gtMulC(g, warp, 16), gq), 8)};
  for (int j = 0; j < 8; ++j)
    for (int r = 0; r < 2; ++r) {
      GV p0 = gtMulF(g, gtExp(g, gtSubF(g, sacc[j][2 * r], m[r])), inv[r]);
      GV p1 = gtMulF(g, gtExp(g, gtSubF(g, sacc[j][2 * r + 1], m[r])), inv[r]);
      pw[j][r] = pack(g, p0, p1);
      gtLine(g, "memref.store %s, %%psh[%s] : memref<2304xi32, " GT_WG ">", pw[j][r].s,
             gtAdd(g, gtMulC(g, lrow[r], ROW), gtAddC(g, cq, 4 * j)).s);
    }
  GV o[NT8][4];
  for (int n = 0; n < NT8; ++n)
    for (int i = 0; i < 4; ++i) o[n][i] = ocur[4 * n + i];
  pvMma(g, pw, gq, cq, o);
  gtLine(g, "gpu.barrier");
  storeTile(g, "%psh", "%a3", np, qt, kRow2, s, pBase);
  GV onext[NO];
  for (int n = 0; n < NT8; ++n)
    for (int i = 0; i < 4; ++i) onext[4 * n + i] = o[n][i];
  gtYield(g, onext, NO);
  gtLine(g, "}");
  GV ofin[NO];
  gtResults(res2, ofin, NO);
  /* pass 3: the tiles above the diagonal are zeros */
  gtLine(g, "scf.for %%kt3 = %s to %s step %s {", nTiles.s, gtIdx(g, s / BK).s, gtIdx(g, 1).s);
  zeroTile(g, "%a3", np, qt, gtMulC(g, (GV){"%kt3"}, BK), s, pBase);
  gtLine(g, "}");
  storeOut(g, "%a4", nq, qLo, qHi, cq, ofin, NULL);
  gtLine(g, "gpu.terminator");
  gtLine(g, "}");
}
