/* Writing gpu-dialect kernels as MLIR text (lib/Conversion/GpuText.c), for the hand-scheduled kernels of
 * cube/GpuKernels.h. A kernel is a func.func on flat memrefs (%a0, %a1, ... in the kernel function's
 * argument order) holding gpu.launch ops; cube-emit outlines, lowers and assembles them with the rest.
 *
 * Values are GV names ("%t12"); every gt* function that computes something emits one op and returns its
 * result. Index arithmetic is unsigned (arith.*ui); f32 arithmetic uses math.fma where it accumulates.
 * Inside a launch the block and thread ids are %bx, %by, %tx (gtLaunchOpen names them). */
#ifndef CUBE_GPUTEXT_H
#define CUBE_GPUTEXT_H

#include <stdbool.h>
#include <stdint.h>

#include "cube/Rewrite.h"

#define GT_WG "#gpu.address_space<workgroup>"

typedef struct {
  CubeBuf *b;
  int n; /* SSA counter */
} GT;

typedef struct {
  char s[40];
} GV;

void gtLine(GT *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* `%tN = <text>`; returns %tN. */
GV gtVal(GT *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

GV gtIdx(GT *g, int64_t c);          /* index constant */
GV gtF32(GT *g, const char *text);   /* f32 constant: "0.0", "0xFF800000", "1.25e-01" */
GV gtAdd(GT *g, GV a, GV b);
GV gtMul(GT *g, GV a, GV b);
GV gtAddC(GT *g, GV a, int64_t c);
GV gtMulC(GT *g, GV a, int64_t c);
GV gtDivC(GT *g, GV a, int64_t c);
GV gtRemC(GT *g, GV a, int64_t c);
GV gtMin(GT *g, GV a, GV b);
GV gtMax(GT *g, GV a, GV b);
GV gtFma(GT *g, GV a, GV b, GV c);
GV gtMulF(GT *g, GV a, GV b);
GV gtSubF(GT *g, GV a, GV b);
GV gtExp(GT *g, GV a);
GV gtCombine(GT *g, GV a, GV b, bool isMax); /* a + b, or max(a, b) */

/* Element i of `arg` (memref<n x elt>) as f32 (extended from bf16/f16); a store rounds f32 to elt. */
GV gtLoadF32(GT *g, const char *arg, int64_t n, const char *elt, GV i);
void gtStoreF32(GT *g, GV x, const char *arg, int64_t n, const char *elt, GV i);
/* out[0..d) = arg[base + k] as f32. */
void gtLoadRow(GT *g, GV *out, const char *arg, int64_t n, const char *elt, GV base, int64_t d);

/* Cooperative copy of `rows` rows of width w (the global rows start at element `base`, consecutive; the
 * first `limit` rows are valid, the others become zeros) into the f32 shared buffer sh[rows * w], by the
 * block's `nthreads` threads (thread tx takes elements tx, tx + nthreads, ...). No barrier. */
void gtTileLoad(GT *g, const char *sh, int64_t rows, int64_t w, const char *arg, int64_t n, const char *elt, GV base,
                GV limit, GV tx, int64_t nthreads);
/* dot(r[0..d), sh[base .. base + d)) with 4-wide shared loads (d % 4 == 0), as an fma chain. */
GV gtDotShared(GT *g, const GV *r, const char *sh, int64_t shN, GV base, int64_t d);
/* out[0..d) = sh[base + k] (4-wide loads). */
void gtRowShared(GT *g, GV *out, const char *sh, int64_t shN, GV base, int64_t d);

/* scf.for with n f32 iteration values: gtForOpen writes `%rN:n = scf.for IV = lo to hi step 1
 * iter_args(%<prefix><first+i> = init[i]) -> (f32, ...) {` and returns %rN; the body ends with gtYield and
 * gtLine(g, "}"); gtResults gives %rN#i, gtIterVals the loop's %<prefix><first+i>. */
GV gtForOpen(GT *g, const char *iv, GV lo, GV hi, const char *prefix, int first, const GV *init, int n);
GV gtForOpenStep(GT *g, const char *iv, GV lo, GV hi, GV step, const char *prefix, int first, const GV *init, int n);
void gtYield(GT *g, const GV *v, int n);
void gtResults(GV res, GV *out, int n);
void gtIterVals(const char *prefix, int first, GV *out, int n);

/* `func.func @name(%a0: memref<sizes[0] x elts[0]>, ...) {`: a kernel function on flat memrefs. */
void gtFuncOpen(GT *g, const char *name, int n, const int64_t *sizes, const char (*elts)[8]);

/* `gpu.launch` over a (gx, gy) grid of 1-D blocks of nthreads with the given workgroup attributions
 * ("%sh : memref<64xf32, #gpu.address_space<workgroup>>, ..."); ids %bx, %by, %tx. Close with
 * gtLine(g, "gpu.terminator") and gtLine(g, "}"). */
void gtLaunchOpen(GT *g, int64_t gx, int64_t gy, int64_t nthreads, const char *workgroup);

/* Kernels of one thread per item (elementwise ops, transposes, rope): gtThreadsOpen writes a launch of
 * ceil(count / nthreads) blocks and `scf.if` item < count, and returns the item's index (block * nthreads +
 * thread); gtThreadsClose closes the if, the launch and the kernel function. */
GV gtThreadsOpen(GT *g, int64_t count, int64_t nthreads);
void gtThreadsClose(GT *g);

/* 16-byte vector access (bytes per element: 4 for f32, 2 for bf16/f16): a vector.load of `vec` elements of
 * arg (memref<n x elt>) at `at`, aligned to its size; element k of it as f32; a store of the f32 values
 * x[0..vec) rounded to elt. */
int gtEltBytes(const char *elt);
GV gtVecLoad(GT *g, const char *arg, int64_t n, const char *elt, GV at, int64_t vec);
GV gtVecElemF32(GT *g, GV v, int64_t k, const char *elt, int64_t vec);
void gtVecStoreF32(GT *g, const GV *x, const char *arg, int64_t n, const char *elt, GV at, int64_t vec);

/* The sum (or max) of x over the block (nthreads a multiple of 32, at most 1024): xor shuffles in each warp,
 * the warps' partials through the shared buffer sh (memref<32xf32, workgroup>), the result in every thread. Contains
 * barriers (every thread of the block must reach it) and ends with one so that sh can be reused. */
GV gtBlockReduce(GT *g, GV x, bool isMax, const char *sh, int64_t nthreads, GV tx);

/* The f32 result of an elementwise cube op (add sub mul div minimum neg exp rsqrt silu scale cast silu_grad)
 * from its f32 operands x (and y) (lib/Conversion/GpuElementwise.c; the fused kernels use the same). */
GV cubeGpuElementwiseFormula(GT *g, MlirOperation op, GV x, GV y);

/* The tensor-core causal attention forward (lib/Conversion/GpuAttentionMma.c) as one launch into the current
 * kernel function (args q, k, v, out: bf16, head dim 64), for an op where cubeGpuAttentionMmaApplies. */
void cubeGpuAttentionMmaForward(GT *g, int64_t b, int64_t hq, int64_t hkv, int64_t s, double scale);
/* dS = P * (dO V^T - rowsum(dO * O)) of a causal attention over [bh, rows, S] (rows = G S, GQA's stacked query
 * heads), head dim 64, bf16, on tensor cores: %a0 dO, %a1 V, %a2 P, %a3 O, %a4 dS (GpuAttentionMma.c). */
void cubeGpuAttentionDsMma(GT *g, int64_t bh, int64_t rows, int64_t s);
/* P = softmax(q k^T scale, causal) and O = P v over [bh, rows, S] (the recomputed attention), head dim 64, bf16,
 * on tensor cores: %a0 q, %a1 k, %a2 v, %a3 P, %a4 O (GpuAttentionMma.c). */
void cubeGpuAttentionProbsMma(GT *g, int64_t bh, int64_t rows, int64_t s, double scale);

#endif
