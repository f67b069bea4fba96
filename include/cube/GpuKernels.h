/* Kernels written directly in the gpu dialect for target=cuda (docs/codegen.md, "GPU kernels"), used instead
 * of the linalg kernels of cube/KernelGen.h where they apply: cube-group-kernels{target=cuda} gives such a
 * kernel function the GPU kernel's scratch and the unit attribute cube.kernel_gpu; cube-lower-to-linalg
 * leaves its body (the cube op) alone; cube-emit writes it as a memref function of gpu.launch ops
 * (shared memory, barriers, one thread per row) next to the bufferized linalg kernels. */
#ifndef CUBE_GPUKERNELS_H
#define CUBE_GPUKERNELS_H

#include <stdbool.h>
#include <stddef.h>

#include "cube/KernelGen.h"
#include "cube/Rewrite.h"
#include "mlir-c/IR.h"

#define CUBE_ATTR_KERNEL_GPU "cube.kernel_gpu" /* unit, on a kernel func.func: written by cubeGpuKernelText */

/* True when op has a GPU kernel for its shapes and types. */
bool cubeGpuKernelApplies(MlirOperation op);
/* Its scratch tensor types (f32); returns the count. Only for ops where cubeGpuKernelApplies. */
int cubeGpuKernelScratch(MlirOperation op, MlirType *types);
/* The whole memref kernel function `name` (arguments: inputs, scratch, outs as flat memrefs, in the kernel
 * function's order) into out; false with a message when op has none. */
bool cubeGpuKernelText(MlirOperation op, const char *name, CubeBuf *out, char *err, size_t errSize);

/* Per-op generators (lib/Conversion/Gpu*.c). cubeGpuNoScratch: the scratch of a kernel that needs none. */
int cubeGpuNoScratch(MlirOperation op, MlirType *types);
bool cubeGpuAttentionApplies(MlirOperation op);
int cubeGpuAttentionScratch(MlirOperation op, MlirType *types);
bool cubeGpuAttentionText(MlirOperation op, const char *name, CubeBuf *out, char *err, size_t errSize);

/* cube.attention that the tensor-core forward takes: bf16 q/k/v/out, head dim 64, causal, S a multiple of 64
 * (GpuAttentionMma.c; cubeGpuAttentionText then writes it instead of the SIMT forward). */
bool cubeGpuAttentionMmaApplies(MlirOperation op);

/* Row patterns (GpuRows.c; cube-group-kernels{target=cuda} outlines them): a residual add whose sum an
 * rmsnorm reads, and an rmsnorm_grad whose dx only an add reads (dw unused), each one kernel function
 * {cube.kernel = the names below} whose body is the two ops. Arguments: add + rmsnorm (x, h, w, [sum,] y),
 * rmsnorm_grad + add (x, w, dy, other addend, sum). */
#define CUBE_ROW_PATTERN_ADD_RMSNORM "cube.add+cube.rmsnorm"
#define CUBE_ROW_PATTERN_RMSNORM_GRAD_ADD "cube.rmsnorm_grad+cube.add"
/* The attention gradient's dP GEMM and the softmax_grad reading it (causal, bf16, head dim 64): one tensor-core
 * kernel of (dO, V, P, O) -> dS (GpuAttentionMma.c cubeGpuAttentionDsMma); O, the forward's P V, is an extra input. */
#define CUBE_ROW_PATTERN_ATTENTION_DS "cube.matmul+cube.softmax_grad"
/* A recomputed attention in cube-attention-to-matmul's form, S = matmul(q, k^T), P = softmax(S) (causal) and
 * O = matmul(P, v) (bf16, head dim 64): one tensor-core kernel of (q, k, v) -> (P, O) (cubeGpuAttentionProbsMma). */
#define CUBE_ROW_PATTERN_ATTENTION_PROBS "cube.matmul+cube.softmax+cube.matmul"
#define CUBE_ATTR_DWEIGHT_UNUSED "cube.dweight_unused" /* unit, on an rmsnorm_grad whose dw nothing reads */
bool cubeGpuRowPatternApplies(MlirOperation a, MlirOperation b, bool storeSum);
/* Whether the dS kernel takes dP = matmul(dO, V^T) (a) and softmax_grad(P, dP) (b): bf16 [BH, S, 64] and
 * [BH, S, S], S a multiple of 64. */
bool cubeGpuAttentionDsApplies(MlirOperation a, MlirOperation b);
/* Whether the probabilities kernel takes S = matmul(q, k^T) (a) and P = softmax(S) (b): q [BH, R, 64], k
 * [BH, S, 64] bf16, P [BH, R, S] bf16 (the p v product's shapes follow). */
bool cubeGpuAttentionProbsApplies(MlirOperation a, MlirOperation b);
bool cubeGpuRowPatternIs(MlirOperation fn);
bool cubeGpuRowPatternText(MlirOperation fn, const char *name, CubeBuf *out, char *err, size_t errSize);

bool cubeGpuRowsApplies(MlirOperation op);
int cubeGpuRowsScratch(MlirOperation op, MlirType *types);
bool cubeGpuRowsText(MlirOperation op, const char *name, CubeBuf *out, char *err, size_t errSize);

bool cubeGpuElementwiseApplies(MlirOperation op);
bool cubeGpuElementwiseText(MlirOperation op, const char *name, CubeBuf *out, char *err, size_t errSize);

bool cubeGpuRopeApplies(MlirOperation op);
bool cubeGpuRopeText(MlirOperation op, const char *name, CubeBuf *out, char *err, size_t errSize);

bool cubeGpuTransposeApplies(MlirOperation op);
bool cubeGpuTransposeText(MlirOperation op, const char *name, CubeBuf *out, char *err, size_t errSize);

/* User-registered kernels (lib/Conversion/KernelRegistry.c, docs/kernel-registry.md). */
#define CUBE_ATTR_KERNEL_FILE "cube.kernel_file"         /* string: the registered kernel's .mlir file */
#define CUBE_ATTR_KERNEL_FUNCTION "cube.kernel_function" /* string: its func.func name */
#define CUBE_ATTR_KERNEL_PTX "cube.kernel_ptx"           /* string: a registered PTX kernel's file */
#define CUBE_ATTR_KERNEL_ENTRY "cube.kernel_entry"       /* string: its .entry name */
#define CUBE_ATTR_KERNEL_LAUNCH "cube.kernel_launch"     /* i64 array: grid x y z, block x y z, shared bytes */
#define CUBE_REGISTRY_MAX_IN 8                           /* a pattern kernel's inputs and outputs at most */
#define CUBE_REGISTRY_MAX_OUT 4
/* The registry directory cube-group-kernels uses when its registry option is empty (cube-opt
 * --cube-kernel-registry=DIR sets it). */
void cubeKernelRegistrySetDefault(const char *dir);
const char *cubeKernelRegistryDefault(void);
typedef struct CubeKernelRegistry CubeKernelRegistry;
typedef struct CubeKernelEntry CubeKernelEntry; /* one entry of kernels.json */
/* Reads DIR/kernels.json and each entry's files (MLIR parsed in ctx; PTX checked for the entry and its
 * parameter count); no DIR: *out = NULL, true. A bad manifest, file or function is false with the message. */
bool cubeKernelRegistryLoad(MlirContext ctx, const char *dir, CubeKernelRegistry **out, char *err, size_t errSize);
void cubeKernelRegistryFree(CubeKernelRegistry *r);
/* The first one-op entry ("op") for op's name whose signature (op's inputs, then its results, flat) fits
 * into *found. Entries for the name of which none fits: false with the message in err. None: true, NULL. */
bool cubeKernelRegistryMatch(const CubeKernelRegistry *r, MlirOperation op, const CubeKernelEntry **found, char *err,
                             size_t errSize);
/* The first pattern entry (two or more ops) whose chain starts at `first` and whose signature fits: the
 * chain's ops into chain[0..*nChain). A chain that forms but fits no entry: false with the message. */
bool cubeKernelRegistryMatchPattern(const CubeKernelRegistry *r, MlirOperation first, MlirOperation *chain, int *nChain,
                                    const CubeKernelEntry **found, char *err, size_t errSize);
/* A pattern kernel's arguments: in[] the operands of the chain's ops not defined in it (op, then operand
 * order, repeats kept), out[] every result of every op (op order; a fixed signature per pattern, whether or
 * not a result is used later). False when there are more than CUBE_REGISTRY_MAX_IN/OUT. */
bool cubeKernelRegistryPatternIO(const MlirOperation *chain, int n, MlirValue *in, int *nIn, MlirValue *out, int *nOut);
/* Whether a one-op entry takes op, or rejects it (cube-group-kernels reports that). */
bool cubeKernelRegistryTakes(const CubeKernelRegistry *r, MlirOperation op);
/* Marks a kernel function as the entry's kernel (cube.kernel_gpu and the file, name and launch attributes). */
void cubeKernelRegistryMark(const CubeKernelEntry *e, MlirOperation kernelFn);
/* The registered MLIR function of a marked kernel function, cloned and renamed. */
bool cubeKernelRegistryText(MlirOperation kernelFn, const char *name, MlirOperation *out, char *err, size_t errSize);
/* A marked PTX kernel function: the PTX file, its .entry, launch (grid, block, shared bytes) and argument count. */
bool cubeKernelRegistryIsPtx(MlirOperation kernelFn);
bool cubeKernelRegistryPtxLaunch(MlirOperation kernelFn, char **ptxPath, char **entry, int64_t launch[7], int *nArgs,
                                 char *err, size_t errSize);

#endif
