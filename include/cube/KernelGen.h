/* Kernel bodies as MLIR text (docs/codegen.md): the helpers that cube-lower-to-linalg's per-op generators use
 * to write a kernel function in linalg on tensors, and the per-op table (scratch tensors and generator).
 *
 * Every kernel is written over 1-D ("flat") views of its operands: each tensor is collapsed to one dim
 * (tensor.collapse_shape; a view after bufferization), every linalg op has exactly one parallel loop first
 * (and reduction loops after it), and multi-dimensional indexing is an affine expression of the flat index
 * (floordiv/mod by constants). One parallel dim is what scf-parallel-loop-tiling + gpu-map-parallel-loops
 * map well onto many blocks of many threads. Temporaries are the kernel's scratch arguments, never
 * tensor.empty (which would bufferize into an allocation inside a GPU host function). Arithmetic is f32:
 * bf16/f16 operands are extended on load and rounded on store. The text is parsed and verified by MLIR. */
#ifndef CUBE_KERNELGEN_H
#define CUBE_KERNELGEN_H

#include <stdbool.h>
#include <stdint.h>

#include "cube/Rewrite.h"
#include "mlir-c/IR.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- a value name in the generated text ("%v12", "%bi0") --------------------------------------------- */
typedef struct {
  char s[32];
} KVal;

/* A tensor value of the function body: its name, element count, element type ("f32") and shape: 1-D [n]
 * (rank 0), or a view with `rank` dims (reductions need their reduced loop as a dim of some operand). */
typedef struct {
  KVal v;
  int64_t n;
  char elt[8];
  int rank;        /* 0 = flat [n] */
  int64_t dims[4];
} KFlat;

/* The text being written for one kernel function. */
typedef struct {
  CubeBuf *b;
  int next; /* SSA counter for function-level values %vN and body values %tN */
  char err[512];
  bool failed;
} KGen;

/* Element type text of a float/int type ("f32", "bf16", "f16", "i64", "i32"); false for another type. */
bool kgEltName(MlirType t, char *buf, size_t n);
/* "tensor<2x16x64xf32>" for a static ranked tensor type. */
void kgTypeText(MlirType t, CubeBuf *out);
/* f32 constant text (exact, hex): "0x3F800000". */
void kgF32Text(float v, char *buf, size_t n);

/* A 1-D view of the function argument `argName` of type `t` (rank 0 -> [1], rank 1 as it is). */
KFlat kgFlat(KGen *g, const char *argName, MlirType t);
/* A view of a flat value with the given dims (tensor.expand_shape; their product must be f.n). */
KFlat kgView(KGen *g, KFlat f, int rank, const int64_t *dims);
/* `linalg.fill` of a flat tensor with an f32/element constant (text, e.g. "0.0" or "0xFF800000"). */
KFlat kgFill(KGen *g, KFlat dst, const char *value);
/* Writes the final `return` of the out tensor: expands the flat result back to `outType` . */
void kgReturn(KGen *g, KFlat result, MlirType outType);
/* The same for n outs (several results, or the updated operands of an in-place kernel). */
void kgReturnN(KGen *g, int n, const KFlat *results, const MlirType *outTypes);

/* ---- linalg.generic ---------------------------------------------------------------------------------- */

/* One operand: the flat value and its indexing map's result expression in d0, d1, ... (e.g. "d0 mod 64"). */
typedef struct {
  KFlat t;
  const char *map;
} KOperand;

/* The body of a generic: block arguments are %bi0.. (inputs) and %bo0.. (outputs), in element types. */
typedef struct {
  CubeBuf b;
  KGen *g;
} KBody;

KVal kbArg(const char *name);
/* Emits `%tN = <text>` and returns %tN. */
KVal kbOp(KBody *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
KVal kbF32(KBody *k, float v);
KVal kbIndex(KBody *k, int64_t v);
/* Extends an element of type `elt` to f32 (the value itself for f32). */
KVal kbToF32(KBody *k, KVal v, const char *elt);
/* Rounds an f32 to `elt` (the value itself for f32). */
KVal kbFromF32(KBody *k, KVal v, const char *elt);
/* The f32 result of an elementwise op (add sub mul div minimum neg exp rsqrt silu scale cast silu_grad)
 * from its f32 operands x (and y), with the formulas of docs/codegen.md; false for another op. Shared by
 * the one-op kernels and the fused ones (KernelsFused.c), so that both compute exactly the same. */
bool kbElementwise(KBody *k, MlirOperation op, KVal x, KVal y, KVal *r);
/* An integer element (i32/i64) as an index, clamped to [0, hi). */
KVal kbIndexClamp(KBody *k, KVal v, const char *elt, int64_t hi);

/* Emits a linalg.generic with `nLoops` loops (d0 parallel, the others reductions), the given operands and
 * body, yielding `yields` (one per output, in the outputs' element types). Returns the results (up to 2). */
void kgGeneric(KGen *g, int nLoops, int nIn, const KOperand *ins, int nOut, const KOperand *outs, KBody *body,
               const KVal *yields, KFlat *results);

/* The tensor t seen as [outer, n, inner] around the op's `dim` attribute (softmax and its gradient; a missing
 * or out-of-range dim means the last one). */
void kgSplitAtDim(MlirOperation op, MlirType t, int64_t *outer, int64_t *n, int64_t *inner);

/* The row statistics of log-sum-exp over x viewed as [rows, classes] (operand `xv`, map "d0, d1"), fp32:
 * scratch0 <- max over the row (*m), scratch1 <- sum of exp(x - max) (*l). Shared by cross_entropy and its
 * gradient. */
void kgRowMaxSumExp(KGen *g, KOperand xv, const char *xElt, KFlat scratch0, KFlat scratch1, KFlat *m, KFlat *l);

/* ---- the per-op table ---------------------------------------------------------------------------------- */

/* What one kernel function receives: its inputs, scratch tensors and outs (argument names %in<i>, %s<i>,
 * %out, %out1, %out2). `out` is outs[0]. An op with several results has one out per result; an in-place op
 * (adamw_update, no results) has its updated operands as outs, in the spec's `inplace` order, and its other
 * operands as inputs, in operand order. */
typedef struct {
  int nIn, nScratch, nOut;
  MlirType in[8], scratch[6], out, outs[3];
} KArgs;

typedef struct {
  const char *mnemonic;                                     /* "rmsnorm" */
  int (*scratch)(MlirOperation op, MlirType *types);        /* scratch types (f32 tensors); returns count */
  bool (*gen)(KGen *g, MlirOperation op, const KArgs *a);   /* writes the body (ends with kgReturn/kgReturnN) */
  int nInplace;                                             /* > 0: operands updated in place, no results */
  int inplace[3];                                           /* their operand indices, in out order */
} KernelSpec;

/* Max kernel arguments (inputs + scratch + outs). */
#define CUBE_KERNEL_MAX_ARGS 16

/* The spec of a cube op that becomes a kernel, or NULL (param, reshape, dropout, unknown). */
const KernelSpec *cubeKernelSpecFor(MlirOperation op);
/* A rank-1 f32 tensor type of n elements (scratch). */
MlirType kgF32Tensor(MlirContext ctx, int64_t n);
/* Number of elements of a static tensor (1 for rank 0). */
int64_t kgNumElements(MlirType t);
/* Dim i of a ranked tensor. */
int64_t kgDim(MlirType t, intptr_t i);
intptr_t kgRank(MlirType t);

/* Writes the whole kernel function `name` for `op` into out: false with a message on an unsupported case. */
bool cubeKernelText(MlirOperation op, const char *name, const KArgs *a, CubeBuf *out, char *err, size_t errSize);

/* Per-family generators and scratch functions (lib/Conversion/Kernels*.c). */
bool kgenElementwise(KGen *g, MlirOperation op, const KArgs *a);
bool kgenFill(KGen *g, MlirOperation op, const KArgs *a);
bool kgenTranspose(KGen *g, MlirOperation op, const KArgs *a);
bool kgenSlice(KGen *g, MlirOperation op, const KArgs *a);
bool kgenConcat(KGen *g, MlirOperation op, const KArgs *a);
bool kgenEmbedding(KGen *g, MlirOperation op, const KArgs *a);
int kscrRmsnorm(MlirOperation op, MlirType *types);
bool kgenRmsnorm(KGen *g, MlirOperation op, const KArgs *a);
int kscrSoftmax(MlirOperation op, MlirType *types);
bool kgenSoftmax(KGen *g, MlirOperation op, const KArgs *a);
bool kgenRope(KGen *g, MlirOperation op, const KArgs *a);
int kscrAttention(MlirOperation op, MlirType *types);
bool kgenAttention(KGen *g, MlirOperation op, const KArgs *a);
int kscrCrossEntropy(MlirOperation op, MlirType *types);
bool kgenCrossEntropy(KGen *g, MlirOperation op, const KArgs *a);
int kscrLinear(MlirOperation op, MlirType *types);
bool kgenLinear(KGen *g, MlirOperation op, const KArgs *a);
int kscrMatmul(MlirOperation op, MlirType *types);
bool kgenMatmul(KGen *g, MlirOperation op, const KArgs *a);
/* Backward and optimizer ops (docs/dialect.md "Backward and optimizer ops"). */
bool kgenSiluGrad(KGen *g, MlirOperation op, const KArgs *a);
int kscrSoftmaxGrad(MlirOperation op, MlirType *types);
bool kgenSoftmaxGrad(KGen *g, MlirOperation op, const KArgs *a);
bool kgenRopeGrad(KGen *g, MlirOperation op, const KArgs *a);
int kscrReduceSum(MlirOperation op, MlirType *types);
bool kgenReduceSum(KGen *g, MlirOperation op, const KArgs *a);
bool kgenPad(KGen *g, MlirOperation op, const KArgs *a);
bool kgenSumsq(KGen *g, MlirOperation op, const KArgs *a);
bool kgenEmbeddingGrad(KGen *g, MlirOperation op, const KArgs *a);
int kscrRmsnormGrad(MlirOperation op, MlirType *types);
bool kgenRmsnormGrad(KGen *g, MlirOperation op, const KArgs *a);
int kscrCrossEntropyGrad(MlirOperation op, MlirType *types);
bool kgenCrossEntropyGrad(KGen *g, MlirOperation op, const KArgs *a);
int kscrAttentionGrad(MlirOperation op, MlirType *types);
bool kgenAttentionGrad(KGen *g, MlirOperation op, const KArgs *a);
bool kgenAdamwUpdate(KGen *g, MlirOperation op, const KArgs *a);

#ifdef __cplusplus
}
#endif
#endif
